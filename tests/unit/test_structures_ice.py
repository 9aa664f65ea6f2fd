"""Ice Ih bulk and basal slab: ice rules, zero dipole, counts, distances, reproducibility."""

import numpy as np
import pytest

from iceafm.structures import StructureError, generate_structure
from iceafm.structures.checks import (
    closest_nonbonded_distance,
    hbond_counts,
    oh_bond_lengths,
    water_dipole_sum,
)
from iceafm.structures.ice_basal import basal_slab, ice_ih_bulk

ICE = {"count": 3, "bilayers": 3, "supercell": [1, 1], "vacuum_a": 10.0}
MOLECULES_PER_BILAYER_PER_CELL = 8


def hydrogen_positions(atoms):
    return np.delete(atoms.positions, np.s_[::3], axis=0)


@pytest.fixture(scope="module")
def bulk():
    return ice_ih_bulk((2, 1), 1, genice_seed=11)


def test_bulk_obeys_ice_rules(bulk):
    donated, accepted = hbond_counts(bulk)
    assert len(donated) == 32
    assert (donated == 2).all() and (accepted == 2).all()


def test_bulk_has_zero_net_dipole(bulk):
    one_molecule = np.linalg.norm(water_dipole_sum(bulk[:3]))
    assert np.linalg.norm(water_dipole_sum(bulk)) < 0.05 * one_molecule


def test_slab_counts_and_geometry():
    slab, bilayer = basal_slab((1, 2), 3, 10.0, genice_seed=5)
    assert len(slab) == 3 * 3 * 2 * MOLECULES_PER_BILAYER_PER_CELL
    assert np.bincount(bilayer).tolist() == [2 * MOLECULES_PER_BILAYER_PER_CELL] * 3
    assert tuple(slab.pbc) == (True, True, False)
    z = slab.positions[:, 2]
    assert z.min() == pytest.approx(5.0) and slab.cell[2, 2] - z.max() == pytest.approx(5.0)
    np.testing.assert_allclose(oh_bond_lengths(slab), 0.9572, atol=1e-6)
    assert closest_nonbonded_distance(slab) > 1.6


def test_slab_surface_breaks_bonds_only_at_the_surfaces():
    slab, bilayer = basal_slab((1, 1), 3, 10.0, genice_seed=5)
    donated, accepted = hbond_counts(slab)
    assert (donated <= 2).all() and (accepted <= 2).all()
    interior = bilayer == 1
    assert (donated[interior] == 2).all() and (accepted[interior] == 2).all()
    # the top bilayer's upper molecules each have a dangling OH or a dangling lone pair
    top = bilayer == 2
    assert (donated[top] + accepted[top]).min() == 3
    assert (donated[top] + accepted[top]).sum() == 4 * top.sum() - top.sum() // 2


def test_generate_ice_basal_is_reproducible_and_seeded():
    first = generate_structure("ice_basal", 0, ICE, seed=7)
    again = generate_structure("ice_basal", 0, ICE, seed=7)
    other = generate_structure("ice_basal", 1, ICE, seed=7)
    np.testing.assert_array_equal(first.positions, again.positions)
    np.testing.assert_array_equal(first.positions[::3], other.positions[::3])  # same O lattice
    assert not np.allclose(hydrogen_positions(first), hydrogen_positions(other))
    assert first.info["n_water"] == 3 * MOLECULES_PER_BILAYER_PER_CELL
    assert first.info["family"] == "ice_basal" and first.info["index"] == 0


def test_generation_leaves_global_numpy_rng_alone():
    np.random.seed(123)  # noqa: NPY002
    expected = np.random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    generate_structure("ice_basal", 0, ICE, seed=1)
    assert np.random.random() == expected  # noqa: NPY002


@pytest.mark.parametrize(("key", "value"), [("bilayers", 0), ("supercell", [0, 1])])
def test_bad_slab_parameters_are_rejected(key, value):
    with pytest.raises(StructureError, match=f"{key} = "):
        generate_structure("ice_basal", 0, {**ICE, key: value}, seed=1)
