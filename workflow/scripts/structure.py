"""Snakemake script of rule ``structure``: generate or import one sample, write its extxyz."""

import logging
import time

from iceafm.structures import generate_structure, read_user_structure, write_structure

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(message)s")  # noqa: F821
log = logging.getLogger("structure")
start = time.perf_counter()
family = snakemake.wildcards.family  # noqa: F821
index = int(snakemake.wildcards.index)  # noqa: F821
seed = int(snakemake.params.seed)  # noqa: F821
if family == "import":
    atoms = read_user_structure(snakemake.input.source)  # noqa: F821
    atoms.info.update(seed=seed, index=index)
else:
    atoms = generate_structure(family, index, dict(snakemake.params.family_params), seed)  # noqa: F821
write_structure(atoms, snakemake.output[0])  # noqa: F821
log.info("family %s index %d seed %d", family, index, seed)
log.info(
    "atoms %d, waters %d, formula %s",
    len(atoms),
    atoms.info["n_water"],
    atoms.get_chemical_formula(),
)
log.info("wall time %.2f s", time.perf_counter() - start)
