"""The DFT stage's Hartree-potential cube, as ppafm's force-field code wants it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from iceafm.afm.errors import CubeError
from iceafm.dft.cube import load_potential_cube
from iceafm.dft.errors import CubeFormatError, DftFailedError


def read_hartree_cube(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Return (potential_v, lvec) from ``hartree.cube`` (read by :mod:`iceafm.dft.cube`).

    ``potential_v``: electrostatic potential in V, positive near nuclei, shape [nx, ny, nz];
    ``lvec`` (A), shape [4, 3]: grid origin, then the three vectors the whole grid spans.
    Raises :class:`CubeError` (one line, naming the file) if the cube is missing, marked
    ``FAILED`` by the DFT stage, or malformed.
    """
    cube = Path(path)
    if not cube.is_file():
        raise CubeError(f"{cube}: Hartree cube not found (expected the DFT stage's hartree.cube)")
    try:
        grid = load_potential_cube(cube)
    except (DftFailedError, CubeFormatError) as err:
        raise CubeError(" ".join(str(err).split())) from None
    return grid.data, np.vstack([grid.origin_a, grid.cell_a])
