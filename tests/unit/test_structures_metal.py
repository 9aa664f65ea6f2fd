"""Ice bilayer on Cu(111) / Au(111): counts, registry strain, in-layer ice rules, geometry."""

import numpy as np
import pytest

from iceafm.structures import StructureError, generate_structure
from iceafm.structures.checks import closest_nonbonded_distance, count_waters, hbond_counts

CU = {"count": 2, "metal": "Cu", "surface_size": [3, 4, 3], "height_a": 2.6, "vacuum_a": 10.0}
AU = {**CU, "metal": "Au", "surface_size": [3, 6, 2]}


@pytest.mark.parametrize(
    ("params", "n_water", "n_metal", "strain"),
    [
        (CU, 8, 36, -0.021),
        ({**CU, "surface_size": [6, 6, 3]}, 24, 108, -0.021),
        (AU, 16, 36, -0.042),
    ],
)
def test_counts_strain_and_order(params, n_water, n_metal, strain):
    atoms = generate_structure("bilayer_metal", 0, params, seed=3)
    assert count_waters(atoms) == n_water == atoms.info["n_water"]
    assert atoms.get_chemical_symbols()[3 * n_water :] == [params["metal"]] * n_metal
    assert atoms.info["ice_strain"] == pytest.approx(strain, abs=1e-3)
    assert atoms.info["substrate"] == f"{params['metal']}(111)"


def test_water_sits_above_metal_at_the_requested_height():
    atoms = generate_structure("bilayer_metal", 0, CU, seed=3)
    n = count_waters(atoms)
    top_metal = atoms.positions[3 * n :, 2].max()
    o_z = atoms.positions[: 3 * n : 3, 2]
    assert o_z.min() - top_metal == pytest.approx(CU["height_a"])
    assert atoms.positions[: 3 * n, 2].min() > top_metal + 1.5
    assert closest_nonbonded_distance(atoms) > 1.6


def test_layer_obeys_in_layer_ice_rules():
    atoms = generate_structure("bilayer_metal", 1, {**CU, "surface_size": [6, 6, 1]}, seed=3)
    donated, accepted = hbond_counts(atoms)
    assert (donated + accepted == 3).all()  # 3 in-layer bonds; 4th slot: lone pair or free OH
    n = len(donated)
    lower = atoms.positions[: 3 * n : 3, 2] < atoms.positions[: 3 * n : 3, 2].mean()
    assert (donated[lower] == 2).all() and (donated[~lower] == 1).all()
    h_up = atoms.positions[1 : 3 * n : 3, 2] - atoms.positions[: 3 * n : 3, 2]
    h_up = np.maximum(h_up, atoms.positions[2 : 3 * n : 3, 2] - atoms.positions[: 3 * n : 3, 2])
    # dangling OH points up (tilted ~4 deg: the 112 deg bond pair closes to 104.52 deg)
    assert (h_up[~lower] > 0.95).all()
    assert (h_up[lower] < 0.6).all()


def test_proton_arrangement_depends_on_index_only_through_the_seed():
    params = {**CU, "surface_size": [6, 6, 1]}
    a = generate_structure("bilayer_metal", 0, params, seed=3)
    b = generate_structure("bilayer_metal", 0, params, seed=3)
    c = generate_structure("bilayer_metal", 1, params, seed=3)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)


def test_incommensurate_size_is_rejected():
    with pytest.raises(StructureError, match=r"surface_size = \[4, 4, 3\] for Cu"):
        generate_structure("bilayer_metal", 0, {**CU, "surface_size": [4, 4, 3]}, seed=3)
