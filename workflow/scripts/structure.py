"""Snakemake script of the structure batch rules: generate or import each pending sample of the
batch (iceafm.batches.run_batch), write its extxyz."""

import logging
import time
from pathlib import Path

from iceafm.batches import Member, run_batch
from iceafm.io.logs import one_line_errors
from iceafm.structures import generate_structure, read_user_structure, write_structure
from iceafm.structures.errors import StructureError

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(message)s")
log = logging.getLogger("structure")
seed = int(snakemake.params.seed)
family_params = dict(snakemake.params.family_params)


def compute(member: Member) -> None:
    start = time.perf_counter()
    family, index = member.sample.rsplit("-", 1)
    index = int(index)
    if family == "import":
        atoms = read_user_structure(member.inputs[0])
        atoms.info.update(seed=seed, index=index)
    else:
        atoms = generate_structure(family, index, family_params, seed, md_frames=member.inputs)
    write_structure(atoms, member.outputs[0], only_if_changed=True)
    log.info(
        "%s: seed %d, atoms %d, waters %d, formula %s, wall time %.2f s",
        member.sample,
        seed,
        len(atoms),
        atoms.info["n_water"],
        atoms.get_chemical_formula(),
        time.perf_counter() - start,
    )


# Sample ids from the output names (the rule's params carry no member list: iceafm.batches).
source = snakemake.input.get("source")  # import batches: one sample, one file
# premelt batches: every trajectory's frames file (each member reads one frame of one of them)
inputs = (source,) if source else tuple(snakemake.input.get("md_frames", ()))
members = [Member(Path(out).stem, (out,), inputs) for out in snakemake.output]
with one_line_errors(snakemake.log[0], StructureError, what="rule structure"):
    report = run_batch(
        members,
        {"family_params": family_params, "seed": seed},
        snakemake.log[0],
        compute,
    )
log.info("batch: %d computed, %d kept (up to date)", len(report.computed), len(report.kept))
