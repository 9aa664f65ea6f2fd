"""Proton-disordered ice Ih (GenIce3) and its basal (0001) slab.

The periodic building block is GenIce3's ``ice1h_unit`` cell: orthorhombic ice Ih with the c axis
along z, a = 9.037 A (x), b = 7.823 A (y), c = 7.354 A (z) at 0.92 g/cm^3, 16 molecules in two
basal bilayers, so 8 molecules per bilayer per cell. ``supercell = [nx, ny]`` repeats it in x, y.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from importlib.metadata import version

import numpy as np
from ase import Atoms

from iceafm.structures.errors import StructureError

BILAYERS_PER_CELL = 2
"""Basal bilayers in one ice1h_unit cell along z."""
NM_TO_A = 10.0


@contextlib.contextmanager
def _quiet_genice() -> Iterator[None]:
    """Silence GenIce3's INFO logging and keep NumPy's global RNG untouched (GenIce3 reseeds it)."""
    previous_disable = logging.root.manager.disable
    # GenIce3 seeds NumPy's legacy global RNG; restore it so callers see no side effect.
    global_rng_state = np.random.get_state()  # noqa: NPY002
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous_disable)
        np.random.set_state(global_rng_state)  # noqa: NPY002


def ice_ih_bulk(supercell: tuple[int, int], n_cells_z: int, genice_seed: int) -> Atoms:
    """Periodic, proton-disordered ice Ih obeying the ice rules with zero net polarisation.

    GenIce3 orients the H-bond graph (each molecule donates 2 and accepts 2) and optimises the
    net dipole to zero; molecules are rigid TIP4P-geometry waters (O-H 0.9572 A, 104.52 deg).

    Args:
        supercell: repetitions (nx, ny) of the ice1h_unit cell in x and y.
        n_cells_z: repetitions along z (c axis), each adding two bilayers.
        genice_seed: seed of GenIce3's proton-disorder search.

    Returns:
        Atoms ordered O,H,H per molecule, orthorhombic cell in A, pbc all True, each molecule
        whole (H = O + bond vector, so an H may lie just outside the cell).
    """
    from genice3.genice import GenIce3
    from genice3.plugin import safe_import

    with _quiet_genice():
        unitcell = safe_import("unitcell", "ice1h_unit").UnitCell()
        water_model = safe_import("molecule", "physical_water").Molecule()
        genice = GenIce3(
            unitcell=unitcell,
            replication_matrix=np.diag([supercell[0], supercell[1], n_cells_z]),
            seed=genice_seed,
        )
        molecules = genice.water_molecules(water_model)
        cell_a = np.asarray(genice.cell).T * NM_TO_A
        # GenIce3 leaves 1e-17 rounding off the diagonal; ASE's TIP4P demands exact zeros.
        cell_a[np.abs(cell_a) < 1e-9] = 0.0
        sites_frac = np.asarray(genice.lattice_sites) % 1.0
    positions = []
    for site in range(len(sites_frac)):
        mol_sites_a = np.asarray(molecules[site].sites) * NM_TO_A
        o_pos = sites_frac[site] @ cell_a
        positions.extend(o_pos + (mol_sites_a - mol_sites_a[0]))
    n_water = len(sites_frac)
    return Atoms("OH2" * n_water, positions=positions, cell=cell_a, pbc=True)


def basal_slab(
    supercell: tuple[int, int], bilayers: int, vacuum_a: float, genice_seed: int
) -> tuple[Atoms, np.ndarray]:
    """Cut a proton-disordered ice Ih bulk into a basal slab of whole bilayers.

    The bulk has ceil(bilayers / 2) cells along z; the lowest ``bilayers`` bilayers are kept, so
    the cut leaves the surface molecules with dangling OH bonds or lone pairs along the bonds the
    bulk had across the cut, and every molecule keeps the ice rules inside the slab.

    Args:
        supercell: (nx, ny) repetitions of the ice1h_unit cell.
        bilayers: number of basal bilayers (>= 1).
        vacuum_a: total vacuum between the slab and its periodic image along z, A.
        genice_seed: seed of GenIce3's proton-disorder search.

    Returns:
        (atoms, bilayer_of_water): atoms ordered O,H,H, pbc (True, True, False), slab centred in
        z; bilayer index per water (0 = bottom), shape [n_water].
    """
    if bilayers < 1:
        raise StructureError(f"ice slab: bilayers = {bilayers}, expected an integer >= 1")
    if min(supercell) < 1:
        raise StructureError(f"ice slab: supercell = {list(supercell)}, expected [nx, ny] >= 1")
    n_cells_z = -(-bilayers // BILAYERS_PER_CELL)
    bulk = ice_ih_bulk(supercell, n_cells_z, genice_seed)
    o_frac_z = bulk.get_scaled_positions(wrap=False)[::3, 2]
    bilayer_of_water = np.floor(o_frac_z * n_cells_z * BILAYERS_PER_CELL).astype(int)
    keep = np.flatnonzero(bilayer_of_water < bilayers)
    atom_idx = (3 * keep[:, None] + np.arange(3)).ravel()
    slab = bulk[atom_idx]
    slab.pbc = (True, True, False)
    slab.center(vacuum=vacuum_a / 2, axis=2)
    return slab, bilayer_of_water[keep]


def generate_ice_basal(params: dict, rng: np.random.Generator) -> Atoms:
    """Ice Ih basal slab for the ``ice_basal`` family.

    Args:
        params: ``bilayers`` (int), ``supercell`` ([nx, ny]), ``vacuum_a`` (A).
        rng: the sample's generator; it seeds GenIce3.
    """
    supercell = (int(params["supercell"][0]), int(params["supercell"][1]))
    atoms, _ = basal_slab(
        supercell, int(params["bilayers"]), float(params["vacuum_a"]), genice_seed_from(rng)
    )
    atoms.info["generator"] = f"genice3 {version('genice3')} ice1h_unit"
    return atoms


def genice_seed_from(rng: np.random.Generator) -> int:
    """Draw a GenIce3 seed (NumPy legacy seeds are 32-bit) from the sample's generator."""
    return int(rng.integers(2**32 - 1))
