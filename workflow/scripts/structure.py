"""Snakemake script of rule ``structure``: generate or import one sample, write its extxyz."""

import logging
import time

from iceafm.structures import generate_structure, read_user_structure, write_structure

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(message)s")
log = logging.getLogger("structure")
start = time.perf_counter()
family = snakemake.wildcards.family
index = int(snakemake.wildcards.index)
seed = int(snakemake.params.seed)
if family == "import":
    atoms = read_user_structure(snakemake.input.source)
    atoms.info.update(seed=seed, index=index)
else:
    atoms = generate_structure(family, index, dict(snakemake.params.family_params), seed)
write_structure(atoms, snakemake.output[0])
log.info("family %s index %d seed %d", family, index, seed)
log.info(
    "atoms %d, waters %d, formula %s",
    len(atoms),
    atoms.info["n_water"],
    atoms.get_chemical_formula(),
)
log.info("wall time %.2f s", time.perf_counter() - start)
