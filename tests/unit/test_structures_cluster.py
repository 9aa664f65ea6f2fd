"""H-down bilayers and finite clusters (rings, chains, patches) on Cu(111) / Au(111)."""

import ase.io
import numpy as np
import pytest

from iceafm.structures import (
    StructureError,
    generate_structure,
    read_user_structure,
    write_structure,
)
from iceafm.structures.checks import closest_nonbonded_distance, count_waters, hbond_counts
from iceafm.structures.cluster_metal import LITERATURE_HEIGHT_A

CU = {"count": 1, "metal": "Cu", "surface_size": [6, 6, 1], "height_a": 2.4, "vacuum_a": 10.0}
CLUSTER = {
    "count": 1,
    "metal": "Cu",
    "surface_size": [12, 12, 1],
    "height_a": None,
    "vacuum_a": 10.0,
    "orientation": "random",
    "shapes": ["ring", "chain", "patch"],
    "molecules": [4, 40],
    "min_image_gap_a": 4.0,
}


@pytest.mark.parametrize("metal", ["Cu", "Au"])
def test_h_down_bilayer_points_one_lower_h_to_the_metal_and_keeps_the_layer_rules(metal):
    size = [6, 6, 1] if metal == "Cu" else [3, 6, 1]
    up = generate_structure("bilayer_metal", 0, {**CU, "metal": metal, "surface_size": size}, 3)
    down = generate_structure(
        "bilayer_metal", 0, {**CU, "metal": metal, "surface_size": size, "orientation": "down"}, 3
    )
    assert up.info["orientation"] == "up" and down.info["orientation"] == "down"
    n = count_waters(down)
    water = down.positions[: 3 * n].reshape(n, 3, 3)
    o_z = water[:, 0, 2]
    lower = o_z < o_z.mean()
    h_below = (water[:, 1:, 2] < o_z[:, None] - 0.5).sum(1)  # in-layer bonds dip 0.35 A
    assert (h_below[lower] == 1).all() and (h_below[~lower] == 0).all()
    assert not (water[:, 1:, 2] > o_z[:, None] + 0.5).any()  # no dangling OH up
    donated, accepted = hbond_counts(down)
    assert (donated[~lower] == 2).all() and (donated[lower] == 1).all()
    assert (donated + accepted == 3).all()  # the honeycomb's three in-layer bonds each
    top_metal = down.positions[3 * n :, 2].max()
    assert water[:, 1:, 2].min() > top_metal + 1.2
    assert closest_nonbonded_distance(down) > 1.7


def test_clusters_of_every_shape_are_valid_connected_and_clear_of_their_images(tmp_path):
    seen = set()
    for index in range(8):
        atoms = generate_structure("cluster_metal", index, CLUSTER, seed=5)
        seen.add((atoms.info["shape"], atoms.info["orientation"]))
        n = count_waters(atoms)
        assert n == atoms.info["n_cluster"]
        assert n == 6 if atoms.info["shape"] == "ring" else 4 <= n <= 40
        path = tmp_path / f"cluster_metal-{index:05d}.extxyz"
        write_structure(atoms, path)
        back = read_user_structure(path)  # every O has two H at 0.9-1.1 A, cell checks
        np.testing.assert_allclose(back.positions, atoms.positions, atol=1e-6)
        assert closest_nonbonded_distance(atoms) > 1.7
        oxygens = atoms.positions[: 3 * n : 3]
        top_metal = atoms.positions[3 * n :, 2].max()
        height = LITERATURE_HEIGHT_A[atoms.info["metal"]]
        assert oxygens[:, 2].min() - top_metal == pytest.approx(height)
        # connected through O-O <= 2.86 A, with plain (not periodic) distances: no wrapping
        dist = np.linalg.norm(oxygens[:, None] - oxygens[None], axis=-1)
        reached, frontier = {0}, [0]
        while frontier:
            i = frontier.pop()
            new = set(np.flatnonzero(dist[i] < 2.86).tolist()) - reached
            reached |= new
            frontier += list(new)
        assert len(reached) == n
        cell = atoms.cell.lengths()[:2]
        extent = oxygens[:, :2].max(0) - oxygens[:, :2].min(0)
        assert (extent <= cell - CLUSTER["min_image_gap_a"] + 1e-6).all()
        assert ase.io.read(path).info["family"] == "cluster_metal"
    assert {shape for shape, _ in seen} == {"ring", "chain", "patch"}
    assert {orientation for _, orientation in seen} == {"up", "down"}


def test_au_clusters_sit_higher_than_cu_ones():
    au = generate_structure("cluster_metal", 0, {**CLUSTER, "metal": "Au",
                                                 "surface_size": [9, 12, 1]}, seed=5)  # fmt: skip
    n = count_waters(au)
    gap = au.positions[: 3 * n : 3, 2].min() - au.positions[3 * n :, 2].max()
    assert gap == pytest.approx(3.0) and au.info["substrate"] == "Au(111)"


def test_a_cell_too_small_for_a_ring_is_one_line():
    with pytest.raises(StructureError, match="enlarge surface_size"):
        generate_structure("cluster_metal", 0, {**CLUSTER, "surface_size": [3, 4, 1],
                                                "shapes": ["ring"]}, seed=5)  # fmt: skip
