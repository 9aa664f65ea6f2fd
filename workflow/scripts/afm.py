"""Rule afm: one structure -> results/afm/{sample}.npz (see iceafm.afm.stack)."""

import logging
import os

from ase.io import read

from iceafm.afm.params import settings_from_config
from iceafm.afm.stack import (
    dft_failure,
    simulate_structure,
    view_seed,
    write_failed_npz,
    write_stack_npz,
)
from iceafm.io.logs import redirect_output

# ppafm's C++ core prints to the process's stdout: send both streams to the job's log.
redirect_output(snakemake.log[0])
logging.basicConfig(stream=os.fdopen(2, "w", buffering=1), level=logging.INFO)

sample = snakemake.wildcards.sample
settings = settings_from_config(snakemake.params.afm)
failure = None
if settings.electrostatics == "hartree":
    failure = dft_failure(snakemake.input.dft_json)
if failure is not None:
    logging.warning("%s: DFT failed, writing a failed AFM record: %s", sample, failure)
    write_failed_npz(snakemake.output[0], sample, settings, f"DFT failed: {failure}")
else:
    atoms = read(snakemake.input.structure)
    hartree = snakemake.input.get("hartree")
    stack = simulate_structure(atoms, settings, view_seed(sample), hartree)
    write_stack_npz(snakemake.output[0], sample, settings, stack)
    logging.info(
        "%s: df %s, range %.2f..%.2f Hz",
        sample,
        stack.df_hz.shape,
        stack.df_hz.min(),
        stack.df_hz.max(),
    )
