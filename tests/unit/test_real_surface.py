"""Closing the loop on a real surface (iceafm.diffusion.real_surface): a predicted top layer
(O and H, scan frame, not grouped into molecules) made into whole waters, the subsurface sized
by ice Ih's density, the completion by a (small, untrained) diffusion model, and its figure."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest
import torch
from ase import Atoms

from iceafm.diffusion.config import diffusion_section
from iceafm.diffusion.real_surface import (
    ICE_IH_WATERS_PER_A3,
    VACUUM_A,
    RealSurfaceError,
    complete_hydrogens,
    complete_prediction,
    completion_problem_from_prediction,
    pair_hydrogens,
    subsurface_waters,
)
from iceafm.diffusion.score_net import build_model
from iceafm.diffusion.sde import NoiseSchedule
from iceafm.figures.real_surface import plot_completed_surface
from iceafm.structures.water import ANGLE_HOH_DEG as HOH_ANGLE_DEG
from iceafm.structures.water import R_OH_A as OH_BOND_A


def test_ice_density_is_ice_ih_at_0_92_g_per_cm3():
    grams_per_cm3 = ICE_IH_WATERS_PER_A3 * 18.015 / 6.02214076e23 * 1e24
    assert grams_per_cm3 == pytest.approx(0.92, abs=0.005)
    assert subsurface_waters(100.0, 3.0, 8.0) == round(ICE_IH_WATERS_PER_A3 * 500)
    assert subsurface_waters(100.0, 8.0, 3.0) == 0


def test_hydrogens_go_to_their_nearest_oxygen_two_at_most():
    o = np.array([[0.0, 0, 0], [5.0, 0, 0]])
    h = np.array(
        [
            [0.96, 0, 0],  # O0, closest
            [-0.3, 0.92, 0],  # O0 (0.97 A)
            [0.0, -1.1, 0],  # O0 is full: dropped (O1 is 5 A away)
            [5.0, 1.0, 0],  # O1
            [2.5, 0, 0],  # no O within 1.2 A
        ]
    )
    assert pair_hydrogens(o, h) == [[0, 1], [3]]
    assert pair_hydrogens(o, np.zeros((0, 3))) == [[], []]


def test_missing_hydrogens_complete_a_rigid_water_pointing_down():
    o = np.array([1.0, 2.0, 3.0])
    for known in (np.zeros((0, 3)), np.array([[1.9, 2.3, 3.1]])):
        h = complete_hydrogens(o, known)
        assert h.shape == (2, 3)
        if len(known):
            assert np.allclose(h[0], known[0])
        else:
            assert np.allclose(np.linalg.norm(h - o, axis=1), OH_BOND_A)
        u, v = h[0] - o, h[1] - o
        if not len(known):
            cos = u.dot(v) / np.linalg.norm(u) / np.linalg.norm(v)
            assert np.degrees(np.arccos(cos)) == pytest.approx(HOH_ANGLE_DEG)
        assert np.linalg.norm(v) == pytest.approx(OH_BOND_A) and v[2] < 0
    one = complete_hydrogens(o, np.array([[1.0, 2.0, 3.9572]]))  # known O-H straight up
    cos = (one[0] - o).dot(one[1] - o) / OH_BOND_A**2
    assert np.degrees(np.arccos(cos)) == pytest.approx(HOH_ANGLE_DEG)


def _prediction() -> Atoms:
    """A 12 x 10 A scan: three O, four H near them and one stray H; z relative to the top O."""
    return Atoms(
        "OOOHHHHH",
        positions=[
            [2, 2, 0.0], [8, 3, -0.5], [5, 8, -0.2],
            [2.9, 2.3, 0.2], [1.4, 2.7, 0.3], [8.5, 3.8, -0.2], [5, 8.96, 0.1], [10, 9, 0],
        ],
        cell=[12.0, 10.0, 0.0],
    )  # fmt: skip


def test_problem_from_a_prediction_holds_the_predicted_atoms_and_sizes_the_subsurface():
    pred = _prediction()
    slab, fixed, counts = completion_problem_from_prediction(pred, top_a=3.0, depth_a=8.0)
    n_sub = subsurface_waters(120.0, 3.0, 8.0)
    assert counts == {
        "network_o": 3,
        "network_h": 4,
        "network_h_dropped": 1,
        "placed_top_h": 2,
        "subsurface_waters": n_sub,
    }
    assert slab.get_chemical_symbols() == ["O", "H", "H"] * (len(slab) // 3)
    assert len(slab) == 3 * (3 + n_sub) and fixed.sum() == 9 and fixed[:9].all()
    assert slab.pbc.tolist() == [True, True, False]
    assert np.allclose(slab.cell.lengths(), [12.0, 10.0, 8.0 + 2 * VACUUM_A])
    # the predicted atoms keep x, y; z shifted so that the top O sits depth_a + vacuum up
    kept = slab.positions[fixed]
    for x in (2, 8, 5, 2.9, 1.4, 8.5, 5):  # every predicted atom but the stray H
        assert np.isclose(kept[:, 0], x).any(), x
    assert not np.isclose(kept[:, 0], 10).any()
    top_o = slab.positions[fixed & (slab.numbers == 8), 2].max()
    assert top_o == pytest.approx(8.0 + VACUUM_A)
    # each water is O, H, H; the first O's two H are its predicted ones
    assert slab.get_chemical_symbols()[:3] == ["O", "H", "H"] and fixed[:3].all()
    with pytest.raises(RealSurfaceError, match="no predicted O"):
        completion_problem_from_prediction(Atoms("HH", cell=[5, 5, 0]), 3.0, 8.0)


def test_completion_moves_only_the_free_atoms_and_stays_in_the_cell(tmp_path):
    torch.manual_seed(0)
    section = diffusion_section(
        {"model": {"scalars": 4, "vectors": 1, "tensors": 1, "radial_hidden": 4, "layers": 1}}
    )
    model = build_model({**section["model"], "kind": "equivariant"})
    schedule = NoiseSchedule.from_config(section["noise"])
    pred = _prediction()
    slab, fixed, _ = completion_problem_from_prediction(pred, 3.0, 8.0)
    atoms, summary = complete_prediction(
        pred, model, schedule, {"top_a": 3.0, "depth_a": 8.0},
        {"method": "heun", "steps": 2, "seed": 0},
    )  # fmt: skip
    assert len(atoms) == len(slab)
    assert np.allclose(atoms.positions[fixed], slab.positions[fixed], atol=1e-4)
    assert (atoms.arrays["fixed"].astype(bool) == fixed).all()
    assert np.isfinite(atoms.positions).all()
    frac = atoms.cell.scaled_positions(atoms.positions)
    assert (frac >= -1e-6).all() and (frac <= 1 + 1e-6).all()
    assert summary["nfe"] == 3 and summary["network_o"] == 3
    n_o = int((atoms.numbers == 8).sum())
    binned = sum(summary["o_per_depth_bin"]["network"]) + sum(
        summary["o_per_depth_bin"]["diffusion"]
    )
    assert sum(summary["o_per_depth_bin"]["network"]) == 3 and binned <= n_o
    png = tmp_path / "completed.png"
    plot_completed_surface(atoms, summary, png)
    image = matplotlib.image.imread(png)
    assert image[..., :3].std() > 0.05
