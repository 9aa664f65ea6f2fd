"""The ``import`` family: a user's own structure (e.g. an MD snapshot) read and validated."""

from __future__ import annotations

import json
import os
from pathlib import Path

import ase.io
from ase import Atoms

from iceafm.structures.checks import canonical_order, check_cell, water_topology
from iceafm.structures.errors import StructureError

READABLE_SUFFIXES = (".xyz", ".extxyz")


def read_user_structure(path: str | os.PathLike) -> Atoms:
    """Read a user's .xyz/.extxyz file and return it in the project's water contract.

    Checks: a cell with non-zero volume; every H within 1.1 A of exactly one O, at 0.9-1.1 A;
    every O with exactly two H. Waters are reordered O,H,H (by O index) and placed first; other
    species (substrate atoms) follow in file order. Periodicity is taken from the file. info is
    replaced by family, source, params (JSON) and n_water; the caller adds seed and index.

    Raises:
        StructureError: one line, e.g. ``snap.xyz: atom 7 (H): no O within 1.1 A``.
    """
    path = Path(path)
    source = path.name
    if path.suffix.lower() not in READABLE_SUFFIXES:
        raise StructureError(f"{path}: suffix {path.suffix!r}, expected one of {READABLE_SUFFIXES}")
    try:
        atoms = ase.io.read(path, index=-1, format="extxyz")
    except (OSError, ValueError, IndexError) as err:
        raise StructureError(f"{path}: not a readable (ext)xyz file ({err})") from err
    check_cell(atoms, source)
    waters = water_topology(atoms, source)
    if len(waters) == 0:
        raise StructureError(f"{source}: no water molecules (O with two H), expected at least one")
    ordered = canonical_order(atoms, waters)
    ordered.info = {
        "family": "import",
        "source": source,
        "params": json.dumps({"source": source}),
        "n_water": len(waters),
    }
    return ordered
