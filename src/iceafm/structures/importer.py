"""The ``import`` family: a user's own structure (e.g. an MD snapshot) read and validated."""

from __future__ import annotations

import json
import os
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from ase.neighborlist import neighbor_list

from iceafm.structures.checks import (
    DETACHED_WATER_A,
    canonical_order,
    check_cell,
    gas_phase_atoms,
    water_topology,
)
from iceafm.structures.errors import StructureError

READABLE_SUFFIXES = (".xyz", ".extxyz")
MIN_PAIR_DISTANCE_A = 0.7
"""No two atoms of an import may be closer than this, A (the shortest real bond, H-H in H2,
is 0.74 A; water's O-H is 0.96 A)."""
BOX_MARGIN_A = 10.0
"""Every atom must lie within the cell grown by this margin on every side, A."""


def check_atoms(atoms: Atoms, source: str) -> None:
    """Validate every atom of a user's structure: at least one atom, a finite cell, each atom a
    known element at a finite position inside the cell grown by :data:`BOX_MARGIN_A`, and no
    pair (minimum image) closer than :data:`MIN_PAIR_DISTANCE_A`.

    Raises:
        StructureError: one line naming ``source`` and the atom (index from 0, element).
    """
    if len(atoms) == 0:
        raise StructureError(f"{source}: no atoms, expected a structure")
    for index, number in enumerate(atoms.numbers):
        if not 1 <= number < len(chemical_symbols):
            raise StructureError(
                f"{source}: atom {index}: element number {number} ({chemical_symbols[0]!r} "
                "placeholder?), expected a known element"
            )
    cell = np.asarray(atoms.cell, dtype=float)
    if not np.isfinite(cell).all():
        raise StructureError(f"{source}: cell {cell.tolist()} is not finite")
    positions = atoms.positions
    symbols = atoms.get_chemical_symbols()
    for index in np.flatnonzero(~np.isfinite(positions).all(axis=1)):
        raise StructureError(
            f"{source}: atom {index} ({symbols[index]}): position {positions[index].tolist()} "
            "is not finite"
        )
    if atoms.cell.rank == 3:
        lengths = atoms.cell.lengths()
        fractional = np.linalg.solve(cell.T, positions.T).T
        outside_a = np.maximum(-fractional, fractional - 1.0).clip(min=0.0) * lengths
        far = np.flatnonzero((outside_a > BOX_MARGIN_A).any(axis=1))
        if far.size:
            index = int(far[0])
            raise StructureError(
                f"{source}: atom {index} ({symbols[index]}) at "
                f"{np.round(positions[index], 3).tolist()} A lies {outside_a[index].max():.3g} A "
                f"outside the cell; expected within {BOX_MARGIN_A:g} A of it"
            )
    i, j, d = neighbor_list("ijd", atoms, MIN_PAIR_DISTANCE_A)
    pairs = i < j
    if pairs.any():
        k = int(np.argmin(np.where(pairs, d, np.inf)))
        raise StructureError(
            f"{source}: atoms {i[k]} ({symbols[i[k]]}) and {j[k]} ({symbols[j[k]]}) are "
            f"{d[k]:.3f} A apart, expected at least {MIN_PAIR_DISTANCE_A} A"
        )


def check_no_water_above_in_gas_phase(ordered: Atoms, waters: np.ndarray, source: str) -> None:
    """Refuse a gas-phase water (:func:`gas_phase_atoms`) above every other atom of a structure
    in canonical order (``waters`` [n_water, 3]: the file's atom indices of each water): the AFM
    scan heights count from the topmost atom, so such a molecule (evaporated from an MD slab)
    would lift the tip off the surface. A structure of gas-phase waters only is kept.

    Raises:
        StructureError: one line naming ``source``, the molecule's O (file index) and heights.
    """
    in_gas = gas_phase_atoms(ordered)
    if not in_gas.any() or in_gas.all():
        return
    z = ordered.positions[:, 2]
    top = float(z[~in_gas].max())
    for o in np.flatnonzero(in_gas)[::3]:  # each gas-phase water's O
        if z[o] > top:
            raise StructureError(
                f"{source}: the water of atom {waters[o // 3, 0]} (O) at z {z[o]:.2f} A has no "
                f"other atom within {DETACHED_WATER_A:g} A and lies above the rest of the "
                f"structure (top {top:.2f} A): a gas-phase molecule would set the AFM scan "
                "heights; expected it removed"
            )


def read_user_structure(path: str | os.PathLike) -> Atoms:
    """Read a user's .xyz/.extxyz file and return it in the project's water contract.

    Checks: a non-empty file; a slab cell with non-zero volume; every atom
    (:func:`check_atoms`); every H within 1.1 A of exactly one O, at 0.9-1.1 A; every O with
    exactly two H; no gas-phase water above the rest (:func:`check_no_water_above_in_gas_phase`).
    Waters are reordered O,H,H (by O index) and placed first; other species
    (substrate atoms) follow in file order. Periodicity is taken from the file. info is
    replaced by family, source, params (JSON) and n_water; the caller adds seed and index.

    Raises:
        StructureError: one line, e.g. ``snap.xyz: atom 7 (H): no O within 1.1 A``.
    """
    path = Path(path)
    source = path.name
    if path.suffix.lower() not in READABLE_SUFFIXES:
        raise StructureError(f"{path}: suffix {path.suffix!r}, expected one of {READABLE_SUFFIXES}")
    if not path.is_file() or path.stat().st_size == 0:
        raise StructureError(f"{path}: empty or missing file, expected an (ext)xyz structure")
    try:
        atoms = ase.io.read(path, index=-1, format="extxyz")
    except KeyError as err:
        raise StructureError(f"{path}: unknown element {err}, expected a known one") from None
    except (OSError, ValueError, IndexError, StopIteration) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise StructureError(f"{path}: not a readable (ext)xyz file ({reason})") from None
    check_cell(atoms, source)
    check_atoms(atoms, str(path))
    waters = water_topology(atoms, source)
    if len(waters) == 0:
        raise StructureError(f"{source}: no water molecules (O with two H), expected at least one")
    ordered = canonical_order(atoms, waters)
    check_no_water_above_in_gas_phase(ordered, waters, source)
    ordered.info = {
        "family": "import",
        "source": source,
        "params": json.dumps({"source": source}),
        "n_water": len(waters),
    }
    return ordered
