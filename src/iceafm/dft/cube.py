"""Gaussian cube files of the DFT stage: atomic writing, failure markers, checked reading.

Conventions of ``results/dft/{sample}/``: ``hartree.cube`` holds the electrostatic potential
phi in Hartree atomic units (1 Ha/e = 27.211 V), positive near nuclei (ppafm's
``io.loadCUBE`` multiplies it by 27.211 to get V); ``density.cube`` holds the all-electron
density in electrons/Bohr^3. Both share one grid; the origin puts the data in the structure's
own frame. A failed calculation leaves one line ``FAILED: <reason>`` in each cube instead, which
every reader here rejects with :class:`DftFailedError`. Needs no GPAW.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io.cube import read_cube, write_cube
from ase.units import Bohr, Hartree

from iceafm.dft.errors import CubeFormatError, DftFailedError
from iceafm.io.atomic import atomic_path, write_text_atomic

FAILED_PREFIX = "FAILED:"


@dataclass(frozen=True)
class CubeGrid:
    """A scalar field on a periodic-style grid.

    ``data`` has shape (nx, ny, nz); point (i, j, k) sits at
    ``origin_a + i*spacing_a[0] + j*spacing_a[1] + k*spacing_a[2]`` (A). ``cell_a`` (3, 3) is the
    grid's span, ``spacing_a * shape``. ``atoms`` are in the same frame as the grid.
    """

    data: np.ndarray
    origin_a: np.ndarray
    spacing_a: np.ndarray
    atoms: Atoms

    @property
    def cell_a(self) -> np.ndarray:
        return self.spacing_a * np.asarray(self.data.shape)[:, None]

    def same_grid(self, other: CubeGrid, tol_a: float = 1e-5) -> bool:
        """True when both fields share shape, origin and spacing (within ``tol_a`` A)."""
        return (
            self.data.shape == other.data.shape
            and np.allclose(self.origin_a, other.origin_a, atol=tol_a)
            and np.allclose(self.spacing_a, other.spacing_a, atol=tol_a)
        )


def write_cube_atomic(
    path: str | os.PathLike, atoms: Atoms, data: np.ndarray, origin_a: np.ndarray, comment: str
) -> None:
    """Write ``data`` (shape (nx, ny, nz), spanning ``atoms.cell``) as a cube, atomically.

    ``origin_a`` (A, shape (3,)) is the position of grid point (0, 0, 0).
    """
    with atomic_path(path) as tmp, open(tmp, "w") as handle:
        write_cube(handle, atoms, data=np.ascontiguousarray(data), origin=origin_a, comment=comment)


def write_failed_marker(path: str | os.PathLike, reason: str) -> None:
    """Replace a cube output with the one-line marker of a failed calculation."""
    write_text_atomic(path, f"{FAILED_PREFIX} {' '.join(reason.split())}\n")


def read_cube_grid(path: str | os.PathLike) -> CubeGrid:
    """Read a cube written by this stage; raise :class:`DftFailedError` for a failure marker
    and :class:`CubeFormatError` for anything else that is not a complete cube."""
    path = Path(path)
    try:
        with open(path) as handle:
            first = handle.readline()
            if first.startswith(FAILED_PREFIX):
                reason = first[len(FAILED_PREFIX) :].strip()
                raise DftFailedError(f"{path}: DFT failed for this structure: {reason}")
            handle.seek(0)
            content = read_cube(handle)
    except (ValueError, IndexError) as err:
        raise CubeFormatError(f"{path}: not a complete cube file ({err})") from err
    data = np.asarray(content["data"], dtype=float)
    if data.ndim != 3 or not np.all(np.isfinite(data)):
        raise CubeFormatError(f"{path}: cube data has shape {data.shape} or non-finite values")
    return CubeGrid(
        data=data,
        origin_a=np.asarray(content["origin"], dtype=float),
        spacing_a=np.asarray(content["spacing"], dtype=float),
        atoms=content["atoms"],
    )


def load_potential_cube(path: str | os.PathLike) -> CubeGrid:
    """Electrostatic potential of ``hartree.cube``; ``data`` in V (phi, positive near nuclei).

    Raises :class:`DftFailedError` when the calculation was recorded as failed.
    """
    grid = read_cube_grid(path)
    return CubeGrid(grid.data * Hartree, grid.origin_a, grid.spacing_a, grid.atoms)


def load_density_cube(path: str | os.PathLike) -> CubeGrid:
    """All-electron density of ``density.cube``; ``data`` in electrons/A^3.

    Raises :class:`DftFailedError` when the calculation was recorded as failed.
    """
    grid = read_cube_grid(path)
    return CubeGrid(grid.data / Bohr**3, grid.origin_a, grid.spacing_a, grid.atoms)
