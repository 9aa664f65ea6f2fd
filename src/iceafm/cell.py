"""The cell every stage works in: a laterally periodic slab (periodic x, y; c along z)."""

from __future__ import annotations

import numpy as np
from ase import Atoms


class CellError(ValueError):
    """A cell the campaign cannot use; the message is one line naming the source."""


def check_slab_cell(atoms: Atoms, source: str) -> np.ndarray:
    """Return the cell (A, [3, 3]) if it suits the DFT dipole correction and the AFM scan:
    non-zero volume (A^3), periodic along x and y, a and b in the xy plane, c along z.

    Raises:
        CellError: one line starting with ``source`` (a file name or sample id).
    """
    if atoms.cell.rank < 3 or abs(atoms.cell.volume) < 1e-6:
        raise CellError(f"{source}: cell has zero volume; expected a 3D cell (extxyz Lattice=...)")
    if not atoms.pbc[:2].all():
        raise CellError(
            f"{source}: pbc={atoms.pbc.tolist()}; expected periodic x and y (a surface slab)"
        )
    cell = np.asarray(atoms.cell, dtype=float)
    if np.abs(cell[:2, 2]).max() > 1e-6 or np.abs(cell[2, :2]).max() > 1e-6:
        raise CellError(
            f"{source}: cell {cell.round(3).tolist()}; expected a, b in the xy plane, c along z"
        )
    return cell
