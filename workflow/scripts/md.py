"""Snakemake script of rule md: one premelt trajectory (iceafm.structures.premelt), resumed from
its checkpoint when a killed attempt left one."""

import json
import os
import time

from iceafm.io.logs import one_line_errors
from iceafm.md.simulate import MDError
from iceafm.structures.errors import StructureError
from iceafm.structures.premelt import run_premelt_trajectory

start = time.perf_counter()
os.makedirs(os.path.dirname(snakemake.log[0]), exist_ok=True)
with open(snakemake.log[0], "a", encoding="utf-8") as log_file:

    def log(line: str) -> None:
        log_file.write(f"[{time.perf_counter() - start:8.1f} s] {line}\n")
        log_file.flush()

    with one_line_errors(snakemake.log[0], StructureError, MDError, what="md"):
        run_premelt_trajectory(
            json.loads(snakemake.params.settings),
            int(snakemake.params.seed),
            int(snakemake.params.trajectory),
            snakemake.output[0],
            snakemake.params.checkpoint,
            float(snakemake.resources.checkpoint_every_ps),
            snakemake.resources.platform,
            snakemake.threads,
            log,
        )
    log(f"wrote {snakemake.output[0]}")
