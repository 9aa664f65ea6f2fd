"""Premelted basal surface: rigid intact molecules, fixed base, moving top, no overlaps."""

import numpy as np
import pytest

from iceafm.structures import StructureError, generate_structure
from iceafm.structures.checks import closest_nonbonded_distance, hbond_counts, oh_bond_lengths
from iceafm.structures.ice_basal import basal_slab, genice_seed_from

PREMELT = {
    "count": 1,
    "bilayers": 3,
    "supercell": [1, 1],
    "vacuum_a": 10.0,
    "melt_bilayers": 1,
    "temperature_k": 260.0,
    "md_steps": 150,
    "timestep_fs": 1.0,
    "friction_per_fs": 0.01,
}


@pytest.fixture(scope="module")
def premelt_and_start():
    atoms = generate_structure("premelt", 0, PREMELT, seed=2)
    # the same draw order as generate_premelt: the slab before the MD
    rng = np.random.default_rng(np.random.SeedSequence([2, 2, 0]))
    start, bilayer = basal_slab((1, 1), 3, 10.0, genice_seed_from(rng))
    return atoms, start, bilayer


def test_molecules_stay_intact_and_rigid(premelt_and_start):
    atoms, _, _ = premelt_and_start
    np.testing.assert_allclose(oh_bond_lengths(atoms), 0.9572, atol=1e-5)
    assert closest_nonbonded_distance(atoms) > 1.4


def test_fixed_bilayers_did_not_move_and_top_did(premelt_and_start):
    atoms, start, bilayer = premelt_and_start
    shift = np.linalg.norm(atoms.positions - start.positions, axis=1).reshape(-1, 3).max(1)
    assert atoms.info["n_fixed_water"] == (bilayer < 2).sum() == 16
    assert (shift[bilayer < 2] == 0).all()
    assert (shift[bilayer == 2] > 0.05).all()


def test_top_layer_is_disordered_but_still_bonded(premelt_and_start):
    atoms, start, bilayer = premelt_and_start
    donated, _ = hbond_counts(atoms)
    assert donated[bilayer == 2].sum() > 0
    o_shift = np.linalg.norm(atoms.positions[::3] - start.positions[::3], axis=1)
    assert o_shift[bilayer == 2].mean() > 0.1


def test_melting_everything_is_rejected():
    with pytest.raises(StructureError, match="melt_bilayers = 3"):
        generate_structure("premelt", 0, {**PREMELT, "melt_bilayers": 3}, seed=2)
