"""Force fields on a periodic grid, computed once per structure and reused for every scan.

The total force on the probe particle (PP) is ``lj + charge_e * electrostatic``: the
Lennard-Jones part does not depend on the tip at all and the electrostatic part depends only on
the tip multipole (and, for Hartree, its width), so both are kept separately and combined per
tip charge at scan time. Grids are stored [na, nb, nc, 3] (c fastest, as ppafm's C++ core
expects), forces in eV/A, and ``lvec`` [4, 3] (A) holds the grid origin and the three vectors it
spans (periodic along all three).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ppafm import HighLevel, core, fieldFFT, io
from ppafm import common as ppu

from iceafm.afm.errors import AfmStructureError
from iceafm.cell import CellError, check_slab_cell

#: Fixed-charge water model used in ``point_charges`` mode (SPC/E, e); other atoms are neutral.
SPCE_CHARGES_E = {"O": -0.8476, "H": 0.4238}
#: Force magnitude cap (eV/A) applied to each component, as ppafm does, so the relaxation never
#: sees the singular core of an atom.
FMAX_EV_A = 10.0
#: Extra grid depth (A) below the lowest PP height (the PP dips as it tilts) and above the top.
SLAB_MARGIN_BELOW_A = 1.5
SLAB_MARGIN_ABOVE_A = 1.0
_TIP_KINDS = {"s": 0, "pz": 1, "dz2": 2}


@dataclass
class ForceField:
    """Force-field components on one grid: ``lj`` and (optional) unit-charge ``electrostatic``,
    each [na, nb, nc, 3] float64 (eV/A); ``lvec`` [4, 3] (A); ``multipole`` of the
    electrostatic part (None when there is none)."""

    lj: np.ndarray
    electrostatic: np.ndarray | None
    lvec: np.ndarray
    multipole: str | None

    def total(self, charge_e: float) -> np.ndarray:
        """Total PP force field (eV/A) for a tip of charge ``charge_e`` (e), C-contiguous."""
        if self.electrostatic is None:
            return np.ascontiguousarray(self.lj)
        return self.lj + charge_e * self.electrostatic


def slab_cell(atoms: Atoms) -> np.ndarray:
    """Return the cell (A, [3, 3]) of a laterally periodic slab (:mod:`iceafm.cell`)."""
    try:
        return check_slab_cell(atoms, f"structure {atoms.get_chemical_formula()}")
    except CellError as err:
        raise AfmStructureError(str(err)) from None


def slab_z_range(z_top_a: float, heights_a: np.ndarray, amplitude_a: float) -> tuple[float, float]:
    """Absolute z range (A) the PP can visit for these heights above ``z_top_a``."""
    return (
        z_top_a + float(heights_a[0]) - SLAB_MARGIN_BELOW_A,
        z_top_a + float(heights_a[-1]) + amplitude_a + SLAB_MARGIN_ABOVE_A,
    )


def slab_grid(cell: np.ndarray, z_range_a: tuple[float, float], step_a: float):
    """Grid shape (na, nb, nc) and lvec [4, 3] (A) of a slab spanning the cell laterally."""
    na = max(1, int(np.ceil(np.linalg.norm(cell[0]) / step_a)))
    nb = max(1, int(np.ceil(np.linalg.norm(cell[1]) / step_a)))
    nc = max(2, int(np.ceil((z_range_a[1] - z_range_a[0]) / step_a)))
    lvec = np.array([[0.0, 0.0, z_range_a[0]], cell[0], cell[1], [0.0, 0.0, nc * step_a]])
    return (na, nb, nc), lvec


def bind_grid(ff: np.ndarray, lvec: np.ndarray) -> None:
    """Point ppafm's C++ core at ``ff`` [na, nb, nc, 3] on the grid ``lvec`` [4, 3] (A).

    Calls the library directly: ppafm's wrapper registers a finalizer that nulls the global
    pointer whenever *any* earlier bound array is collected, which can happen mid-scan.
    The caller keeps ``ff`` alive until it calls ``core.lib.deleteFF_Fpointer()``.
    """
    core.lib.setGridN(np.array(ff.shape[:3], dtype=np.int32))
    core.lib.setGridCell(np.ascontiguousarray(lvec[1:], dtype=np.float64))
    core.lib.setFF_Fpointer(ff)


def _periodic_images(atoms: Atoms, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (A, [9 n, 3]) and per-atom values of the 3x3 lateral supercell (ppafm's nPBC 1).

    Atoms are wrapped into the cell first, so the truncated image sum (which matters for the
    long-range Coulomb part) does not depend on which lattice translate the file stores.
    """
    cell = np.asarray(atoms.cell)
    atoms = atoms.copy()
    atoms.wrap(pbc=[True, True, False])
    shifts = [i * cell[0] + j * cell[1] for i in (-1, 0, 1) for j in (-1, 0, 1)]
    positions = np.concatenate([atoms.positions + s for s in shifts])
    return positions, np.concatenate([values] * len(shifts))


def _species_lj(atoms: Atoms, probe: str = "O") -> np.ndarray:
    """LJ C6/C12 coefficients [n, 2] between each atom and the PP (ppafm's default atomtypes)."""
    ff_params = ppu.loadSpecies()
    elem_dict = ppu.getFFdict(ff_params)
    iz = ppu.atoms2iZs(atoms.get_chemical_symbols(), elem_dict)
    return ppu.getAtomsLJ(ppu.atom2iZ(probe, elem_dict), iz, ff_params)


def lennard_jones_ff(atoms: Atoms, shape: tuple[int, int, int], lvec: np.ndarray) -> np.ndarray:
    """LJ force field (eV/A), [na, nb, nc, 3], of ``atoms`` (and lateral images) on the grid."""
    ff = np.zeros((*shape, 3))
    positions, clj = _periodic_images(atoms, _species_lj(atoms))
    bind_grid(ff, lvec)
    core.getLennardJonesFF(np.ascontiguousarray(positions - lvec[0]), np.ascontiguousarray(clj))
    core.lib.deleteFF_Fpointer()
    io.limit_vec_field(ff, Fmax=FMAX_EV_A)
    return ff


def water_point_charges(atoms: Atoms) -> np.ndarray:
    """Per-atom charges (e), [n]: SPC/E on O and H, zero on every other element."""
    return np.array([SPCE_CHARGES_E.get(s, 0.0) for s in atoms.get_chemical_symbols()])


def point_charge_ff(
    atoms: Atoms, shape: tuple[int, int, int], lvec: np.ndarray, multipole: str
) -> np.ndarray:
    """Electrostatic force (eV/A per e of PP charge), [na, nb, nc, 3], of SPC/E point charges."""
    ff = np.zeros((*shape, 3))
    positions, charges = _periodic_images(atoms, water_point_charges(atoms))
    bind_grid(ff, lvec)
    core.getCoulombFF(
        np.ascontiguousarray(positions - lvec[0]),
        np.ascontiguousarray(charges * ppu.CoulombConst),
        kind=_TIP_KINDS[multipole],
    )
    core.lib.deleteFF_Fpointer()
    io.limit_vec_field(ff, Fmax=FMAX_EV_A)
    return ff


def hartree_ff(
    potential_v: np.ndarray,
    lvec: np.ndarray,
    multipole: str,
    sigma_a: float,
    z_range_a: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Electrostatic force (eV/A per e) of a Hartree potential convolved with the PP charge.

    ``potential_v`` [nx, ny, nz] (V) on the periodic grid ``lvec`` (c along z). The convolution
    runs on the whole cube (FFT, periodic); the result is cropped to the z planes covering
    ``z_range_a`` (A). Returns (ff [nx, ny, nz_crop, 3], lvec_crop [4, 3]).
    """
    dims = np.array(potential_v.shape)
    sample_size = fieldFFT.getSampleDimensions(lvec)
    dd = tuple(fieldFFT.getSize(axis, dims, sample_size)[1] for axis in "xyz")
    grid_x, grid_y, grid_z = fieldFFT.getMGrid(dims, dd)
    # Built here (not inside potential2forces_mem) because ppafm would write rhoTip.xsf to cwd.
    rho = fieldFFT.getProbeDensity(
        sample_size, grid_x, grid_y, grid_z, dd, sigma=sigma_a, multipole_dict={multipole: 1.0}
    )
    del grid_x, grid_y, grid_z
    ff_full, _ = HighLevel.computeElFF(potential_v, lvec, dims, rho, sigma=sigma_a)
    dz = lvec[3, 2] / dims[2]
    lo = int(np.floor((z_range_a[0] - lvec[0, 2]) / dz))
    hi = int(np.ceil((z_range_a[1] - lvec[0, 2]) / dz)) + 1
    if lo < 0 or hi > dims[2]:
        raise AfmStructureError(
            f"Hartree grid z [{lvec[0, 2]:.2f}, {lvec[0, 2] + lvec[3, 2]:.2f}] A does not cover the"
            f" scan z range [{z_range_a[0]:.2f}, {z_range_a[1]:.2f}] A: add vacuum above the slab"
        )
    ff = np.ascontiguousarray(ff_full[:, :, lo:hi, :])
    io.limit_vec_field(ff, Fmax=FMAX_EV_A)
    lvec_crop = np.array(
        [lvec[0] + [0.0, 0.0, lo * dz], lvec[1], lvec[2], [0.0, 0.0, (hi - lo) * dz]]
    )
    return ff, lvec_crop


def build_force_field(
    atoms: Atoms,
    electrostatics: str,
    multipole: str,
    sigma_a: float,
    z_range_a: tuple[float, float],
    step_a: float,
    hartree: tuple[np.ndarray, np.ndarray] | None = None,
) -> ForceField:
    """All force-field components of one structure for one tip multipole.

    ``electrostatics`` is ``hartree`` (needs ``hartree=(potential_v, lvec)`` from
    :func:`iceafm.afm.cube.read_hartree_cube`, and the LJ grid follows the cube's),
    ``point_charges`` (SPC/E), or ``none`` (LJ only). ``z_range_a`` (A, absolute) is the slab
    the PP visits; ``step_a`` (A) the grid spacing when no cube fixes it.
    """
    cell = slab_cell(atoms)
    if electrostatics == "hartree":
        if hartree is None:
            raise ValueError("electrostatics 'hartree' needs the Hartree potential")
        potential_v, cube_lvec = hartree
        if not np.allclose(cube_lvec[1:3], cell[:2], atol=1e-3):
            raise AfmStructureError(
                f"Hartree cube lateral cell {cube_lvec[1:3].round(3).tolist()} A differs from the "
                f"structure's {cell[:2].round(3).tolist()} A"
            )
        el, lvec = hartree_ff(potential_v, cube_lvec, multipole, sigma_a, z_range_a)
        return ForceField(lennard_jones_ff(atoms, el.shape[:3], lvec), el, lvec, multipole)
    shape, lvec = slab_grid(cell, z_range_a, step_a)
    lj = lennard_jones_ff(atoms, shape, lvec)
    if electrostatics == "point_charges":
        return ForceField(lj, point_charge_ff(atoms, shape, lvec, multipole), lvec, multipole)
    return ForceField(lj, None, lvec, None)
