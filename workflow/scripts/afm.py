"""AFM batch rules: each pending sample's structure -> results/afm/{sample}.npz (see
iceafm.afm.stack; batch semantics in iceafm.batches)."""

import logging
import os

from ase.io import read

from iceafm.afm.errors import AfmError
from iceafm.afm.params import settings_from_config
from iceafm.afm.stack import (
    dft_failure,
    simulate_structure,
    view_seed,
    write_failed_npz,
    write_stack_npz,
)
from iceafm.batches import Member, run_batch
from iceafm.dft.errors import DftFailedError
from iceafm.io.logs import one_line_errors, redirect_output

# ppafm's C++ core prints to the process's stdout: send both streams to the job's log.
redirect_output(snakemake.log[0])
logging.basicConfig(stream=os.fdopen(2, "w", buffering=1), level=logging.INFO)

settings = settings_from_config(snakemake.params.afm)
hartree_mode = settings.electrostatics == "hartree"


def compute(member: Member) -> None:
    sample, output = member.sample, member.outputs[0]
    structure, hartree, dft_json = (*member.inputs, None, None)[:3]
    failure = dft_failure(dft_json) if hartree_mode else None
    if failure is not None:
        logging.warning("%s: DFT failed, writing a failed AFM record: %s", sample, failure)
        write_failed_npz(output, sample, settings, f"DFT failed: {failure}")
        return
    stack = simulate_structure(read(structure), settings, view_seed(sample), hartree)
    write_stack_npz(output, sample, settings, stack)
    logging.info(
        "%s: df %s, range %.2f..%.2f Hz",
        sample,
        stack.df_hz.shape,
        stack.df_hz.min(),
        stack.df_hz.max(),
    )


columns = [snakemake.input.structure]
if hartree_mode:
    columns += [snakemake.input.hartree, snakemake.input.dft_json]
members = [
    Member(sample, (output,), tuple(column[i] for column in columns))
    for i, (sample, output) in enumerate(
        zip(snakemake.params.members, snakemake.output, strict=True)
    )
]
# A known failure (truncated cube, unusable structure) is one line naming the file; the
# traceback goes to the job log.
with one_line_errors(snakemake.log[0], AfmError, DftFailedError, what="rule afm"):
    report = run_batch(members, dict(snakemake.params.afm), snakemake.log[0], compute)
logging.info("batch: %d computed, %d kept (up to date)", len(report.computed), len(report.kept))
