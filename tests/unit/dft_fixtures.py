"""Shared pieces of the DFT tests: the schema's default ``dft`` section and tiny structures."""

from __future__ import annotations

from pathlib import Path

import ase.io
from ase.build import molecule
from snakemake.utils import validate

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def default_dft_config() -> dict:
    """The ``dft`` section with every default of the config schema filled in."""
    config: dict = {}
    validate(config, str(SCHEMA))
    return config["dft"]


def tiny_dft_config(**changes) -> dict:
    """Schema defaults made cheap for tests: LCAO sz(dzp), h = 0.3 A; ``changes`` override keys."""
    config = default_dft_config()
    config.update(basis="sz(dzp)", h=0.3)
    config.update(changes)
    return config


def write_water(path: Path, vacuum_a: float) -> Path:
    """One isolated water molecule (pbc False, ``vacuum_a`` A around it) as extxyz."""
    water = molecule("H2O", vacuum=vacuum_a)
    water.pbc = False
    water.info["family"] = "test"
    ase.io.write(path, water, format="extxyz")
    return path
