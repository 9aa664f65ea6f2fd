"""The ASE TIP4P baseline (iceafm.md.ase_tip4p): fixed waters stay, free waters stay rigid."""

import numpy as np

from iceafm.md.ase_tip4p import melt_top, tip4p_dynamics
from iceafm.structures.ice_basal import basal_slab


def _geometry(atoms):
    """O-H1, O-H2, H1-H2 distances of every water, [n_water, 3] (A)."""
    p = atoms.positions.reshape(-1, 3, 3)
    return np.linalg.norm(p[:, [0, 0, 1]] - p[:, [1, 2, 2]], axis=2)


def test_fixed_waters_stay_and_free_ones_move_as_rigid_molecules():
    slab, bilayer = basal_slab((1, 1), 3, 10.0, genice_seed=2)
    free = bilayer == 2
    final = melt_top(slab, free, 260.0, 10, 2.0, 0.001, np.random.default_rng(0))
    moved = np.linalg.norm(final.positions - slab.positions, axis=1).reshape(-1, 3).max(axis=1)
    assert np.all(moved[~free] == 0.0)
    assert np.all(moved[free] > 1e-3)
    np.testing.assert_allclose(_geometry(final), _geometry(slab), atol=1e-6)
    assert final.calc is None and not final.constraints


def test_dynamics_continue_one_trajectory():
    slab, bilayer = basal_slab((1, 1), 3, 10.0, genice_seed=2)
    atoms, dynamics = tip4p_dynamics(slab, bilayer == 2, 260.0, 2.0, 0.001,
                                     np.random.default_rng(0))  # fmt: skip
    dynamics.run(3)
    after_3 = atoms.positions.copy()
    dynamics.run(3)
    assert dynamics.nsteps == 6
    assert not np.allclose(atoms.positions, after_3)
    np.testing.assert_allclose(_geometry(atoms), _geometry(slab), atol=1e-6)
