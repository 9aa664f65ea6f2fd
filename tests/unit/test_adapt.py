"""Domain adaptation: translator, label-free metrics, experimental-like augmentations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

from iceafm.adapt.cyclegan import (
    CycleGan,
    TranslatorConfig,
    cycle_loss,
    generator_losses,
    train_translator,
    translate,
    translation_change,
)
from iceafm.data.loader import AugmentConfig, experimental_artifacts
from iceafm.metrics.label_free import (
    JOINT,
    RANGES,
    distribution_distances,
    energy_distance,
    frechet_distance,
    local_properties,
    periodic_tiles,
    resim_pearson,
    surface_layer_properties,
)
from iceafm.structures.ice_basal import basal_slab


def test_translator_forward_backward_and_cycle_loss():
    torch.manual_seed(0)
    model = CycleGan(width=4, n_res=1)
    sim, real = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16) * 2 + 1
    assert model.g_sr(sim).shape == sim.shape
    assert model.d_r(real).shape == (2, 1, 3, 4, 4)
    loss, parts, fake_real, fake_sim = generator_losses(model, sim, real, TranslatorConfig())
    loss.backward()
    grads = [p.grad for p in model.g_sr.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)
    assert set(parts) == {"adv", "cycle", "identity"} and fake_real.shape == sim.shape
    # identity generators give zero cycle loss; a generator that adds 1 gives exactly 2 x 1
    ident = torch.nn.Identity()
    zero, _, _ = cycle_loss(ident, ident, sim, real)
    assert float(zero) == 0.0
    one, _, _ = cycle_loss(lambda x: x + 1, ident, sim, real)
    assert float(one) == pytest.approx(2.0)


def test_translator_trains_resumes_and_translates(tmp_path):
    rng = np.random.default_rng(0)
    sim = [rng.standard_normal((4, 20, 20)).astype(np.float32) for _ in range(2)]
    real = [rng.standard_normal((5, 24, 22)).astype(np.float32) for _ in range(2)]
    config = TranslatorConfig(width=4, n_res=1, crop_px=16, crop_slices=3, epochs=1,
                              steps_per_epoch=2, batch_size=2, device="cpu")
    state = tmp_path / "translator.pt"
    _, history = train_translator(config, sim, real, state, progress=False)
    assert len(history) == 1 and state.exists()
    longer = TranslatorConfig(**{**config.to_dict(), "epochs": 2})
    with pytest.raises(ValueError, match="config hash"):
        train_translator(longer, sim, real, state, progress=False)
    model, history = train_translator(config, sim, real, state, progress=False)
    assert len(history) == 1  # resumed: nothing left to do
    out = translate(model.g_sr, real[0][:, :23, :21])
    assert out.shape == (5, 23, 21) and np.allclose(out.std(axis=(1, 2)), 1, atol=1e-3)


def test_translation_change_known_answers():
    """0 and r = 1 for the identity, 2 and r = -1 for a sign flip, about sqrt(2) and r about 0
    for an unrelated stack (RMS in units of a slice's std)."""
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 4, 32, 32))
    a = (a - a.mean()) / a.std()
    assert translation_change(a, a) == pytest.approx((0.0, 1.0))
    assert translation_change(a, -a) == pytest.approx((2.0, -1.0))
    rms, r = translation_change(a, b)
    assert rms == pytest.approx(np.sqrt(2), abs=0.05) and abs(r) < 0.05


def test_energy_and_wasserstein_known_answers():
    rng = np.random.default_rng(1)
    values = rng.uniform(1.0, 2.0, 400)
    same = distribution_distances({"d_oo": values}, {"d_oo": values})["d_oo"]
    assert same["energy"] == pytest.approx(0.0, abs=1e-12) and same["wasserstein"] == 0.0
    # a shift by 0.35 A is 0.1 on the 0-3.5 A scale: W1 = 0.1 exactly
    shifted = distribution_distances({"d_oo": values + 0.35}, {"d_oo": values})["d_oo"]
    assert shifted["wasserstein"] == pytest.approx(0.1)
    # point masses at scaled 0.2 and 0.6: energy distance 2 * 0.4 (Huang et al.'s convention,
    # whose goals 0.0094 / 0.027 we compare with; scipy's square root would give 0.894)
    masses = distribution_distances({"d_oo": np.full(5, 0.7)}, {"d_oo": np.full(7, 2.1)})
    assert masses["d_oo"]["energy"] == pytest.approx(0.8)
    # values outside the range are dropped; an empty side gives NaN
    out = distribution_distances({"d_oo": np.array([5.0])}, {"d_oo": values})["d_oo"]
    assert out["n_predicted"] == 0 and np.isnan(out["energy"])
    assert RANGES["d_oo"] == (0.0, 3.5)


def _brute_energy(u, v):
    """2 E|X-Y| - E|X-X'| - E|Y-Y'| over all pairs, written out (rows are samples)."""
    def mean(a, b):
        return np.mean([np.linalg.norm(x - y) for x in a for y in b])

    return 2 * mean(u, v) - mean(u, u) - mean(v, v)


def test_energy_distance_is_huangs_convention_in_1d_and_2d():
    rng = np.random.default_rng(2)
    u, v = rng.normal(0.4, 0.1, 60), rng.normal(0.5, 0.2, 80)
    expected = _brute_energy(u[:, None], v[:, None])
    assert energy_distance(u, v) == pytest.approx(expected)  # the 1D (scipy) path
    assert energy_distance(u[:, None], v[:, None]) == pytest.approx(expected)  # the nD path
    assert energy_distance(u, u) == pytest.approx(0.0, abs=1e-12)
    a, b = rng.uniform(0, 1, (50, 2)), rng.uniform(0, 1, (70, 2))
    assert energy_distance(a, b) == pytest.approx(_brute_energy(a, b))
    assert energy_distance(a, a) == pytest.approx(0.0, abs=1e-12)
    # point masses 0.5 apart in 2D: 2 x 0.5
    assert energy_distance(np.zeros((3, 2)), np.full((4, 2), [0.3, 0.4])) == pytest.approx(1.0)


def test_joint_hbond_distance_known_answers():
    ref = {"hbond_oo": np.full(6, 2.8), "hbond_angle": np.full(6, 174.0)}
    same = distribution_distances(ref, ref)["hbond"]
    assert same["energy"] == pytest.approx(0.0, abs=1e-12) and same["n_reference"] == 6
    # O...O longer by 0.35 A (0.1 scaled) and the angle smaller by 8 deg (0.1333 scaled)
    moved = {"hbond_oo": np.full(4, 3.15), "hbond_angle": np.full(4, 166.0)}
    out = distribution_distances(moved, ref)["hbond"]
    assert out["energy"] == pytest.approx(2 * np.hypot(0.1, 8.0 / 60.0))
    # a bond with either value out of range is dropped as a whole
    outside = {"hbond_oo": np.array([3.15, 3.6]), "hbond_angle": np.array([166.0, 170.0])}
    assert distribution_distances(outside, ref)["hbond"]["n_predicted"] == 1
    assert JOINT["hbond"] == ("hbond_oo", "hbond_angle") and RANGES["hbond_oo"] == (0.0, 3.5)


def _water(o, angle_deg=104.5, d_oh=0.96, tilt=0.0):
    half = np.radians(angle_deg / 2)
    h1 = o + d_oh * np.array([np.sin(half), 0, np.cos(half)])
    h2 = o + d_oh * np.array([-np.sin(half), 0, np.cos(half)])
    return [("O", o), ("H", h1), ("H", h2)]


def test_local_properties_of_a_hand_made_structure():
    # a hexagonal ring of O (O-O 2.75 A) with one hydrogen bond along an edge
    ring = [2.75 * np.array([np.cos(t), np.sin(t), 0.0]) for t in np.arange(6) * np.pi / 3]
    atoms = [("O", p) for p in ring]
    donor, acceptor = ring[0], ring[1]
    unit = (acceptor - donor) / np.linalg.norm(acceptor - donor)
    atoms.append(("H", donor + 0.98 * unit))
    atoms += _water(np.array([20.0, 0.0, 0.0]))
    atoms.append(("O", np.array([22.75, 0.0, 0.0])))
    symbols = [s for s, _ in atoms]
    xyz = np.array([p for _, p in atoms])
    props = local_properties(symbols, xyz)
    assert np.allclose(props["d_oo"], 2.75)
    assert sorted(props["ring_size"]) == [6.0]
    assert np.allclose(sorted(props["d_oh"]), [0.96, 0.96, 0.98])
    assert np.allclose(props["hoh_angle"], [104.5])
    assert props["hbond_length"] == pytest.approx([2.75 - 0.98])
    assert props["hbond_oo"] == pytest.approx([2.75])
    assert props["hbond_angle"] == pytest.approx([180.0])
    assert np.allclose(sorted(props["oh_angle_z"]), [52.25, 52.25, 90.0])


def test_periodic_tiles_count_every_ring_and_bond_of_a_periodic_bilayer_once():
    # one basal bilayer of ice Ih, periodic in x and y: a honeycomb of O (O-O 2.76 A), so n_O / 2
    # hexagons and 3 n_O / 2 edges, each edge one H-bond (ice rules); cut open at the cell edges
    # without the tiling, rings and bonds across them are lost
    slab, _ = basal_slab((2, 2), 1, 10.0, genice_seed=3)
    symbols, xyz = slab.get_chemical_symbols(), slab.positions
    n_o = symbols.count("O")
    props = local_properties(*periodic_tiles(symbols, xyz, tuple(slab.cell.lengths()[:2])))
    assert len(props["d_oo"]) == n_o and np.allclose(props["d_oo"], 2.76, atol=0.02)
    assert sorted(props["ring_size"]) == [6.0] * (n_o // 2)
    assert len(props["hbond_oo"]) == 3 * n_o // 2
    assert np.allclose(props["hbond_oo"], 2.76, atol=0.02)
    assert len(props["d_oh"]) == 2 * n_o
    open_props = local_properties(symbols, xyz)
    assert len(open_props["ring_size"]) < n_o // 2
    assert len(open_props["hbond_oo"]) < 3 * n_o // 2


def test_held_out_md_reference_reads_the_periodic_surface_layer_of_every_frame(tmp_path):
    # two bilayers of ice Ih; 2 A below the topmost O holds the top bilayer only: a periodic
    # honeycomb, so every O has its neighbour at 2.76 A and n_O / 2 hexagons, at any x shift
    from ase.io import write

    from iceafm.adapt.pipeline import AdaptError, held_out_reference_properties

    slab, bilayer = basal_slab((2, 2), 2, 10.0, genice_seed=3)
    n_top = int((bilayer == bilayer.max()).sum())
    cell_xy = tuple(slab.cell.lengths()[:2])
    layer = surface_layer_properties(slab.get_chemical_symbols(), slab.positions, cell_xy, 2.0)
    assert len(layer["d_oo"]) == n_top and np.allclose(layer["d_oo"], 2.76, atol=0.02)
    assert sorted(layer["ring_size"]) == [6.0] * (n_top // 2)
    assert layer["o_per_a2"] == pytest.approx([n_top / (cell_xy[0] * cell_xy[1])])
    # a molecule evaporated 6 A above the slab (no atom within 4 A) is not its top: same layer
    o_top = slab.positions[slab.numbers == 8][:, 2].max()
    vapour = slab + Atoms("OH2", [(1.0, 1.0, 0.0), (1.96, 1.0, 0.0), (0.76, 1.93, 0.0)])
    vapour.positions[-3:, 2] += o_top + 6.0
    above = surface_layer_properties(vapour.get_chemical_symbols(), vapour.positions, cell_xy, 2.0)
    for key in ("d_oo", "ring_size", "o_per_a2", "hbond_oo"):
        assert np.allclose(np.sort(above[key]), np.sort(layer[key])), key
    shifted = slab.copy()
    shifted.positions[:, 0] += 0.4 * cell_xy[0]  # across the cell edge: periodic images
    write(tmp_path / "traj000.extxyz", [slab, shifted], format="extxyz")
    pooled = held_out_reference_properties([tmp_path / "traj000.extxyz"], 2.0)
    for key in ("d_oo", "ring_size", "o_per_a2"):
        assert np.allclose(np.sort(pooled[key]), np.sort(np.tile(layer[key], 2))), key
    skewed = slab.copy()
    skewed.cell[1, 0] = 1.0
    write(tmp_path / "skewed.extxyz", [slab, skewed], format="extxyz")
    with pytest.raises(AdaptError, match="skewed.extxyz: frame 1: expected water with an orth"):
        held_out_reference_properties([tmp_path / "skewed.extxyz"], 2.0)
    (tmp_path / "empty.extxyz").write_text("")
    with pytest.raises(AdaptError, match="empty.extxyz: .*expected the held-out MD trajectory"):
        held_out_reference_properties([tmp_path / "empty.extxyz"], 2.0)


def test_frechet_distance_known_answers():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, 2.0, 0.0])
    assert frechet_distance(a + shift, a) == pytest.approx(5.0, rel=1e-6)
    # N(0, 1) vs N(0, 4) in 1D: (1 - 2)^2 = 1
    b = rng.standard_normal((200_000, 1))
    assert frechet_distance(b, 2 * b) == pytest.approx(1.0, rel=0.02)


def test_resim_pearson_aligns_and_correlates():
    rng = np.random.default_rng(3)
    real = rng.standard_normal((3, 40, 40))
    moved = np.roll(real, (-3, 2), axis=(1, 2))
    mean, per_slice, shift = resim_pearson(moved, real, max_shift_px=5)
    assert shift == (3, -2) and mean == pytest.approx(1.0) and len(per_slice) == 3
    other, _, _ = resim_pearson(rng.standard_normal((3, 40, 40)), real, max_shift_px=5)
    assert abs(other) < 0.1


def test_experimental_artifacts():
    rng = np.random.default_rng(4)
    df = rng.standard_normal((2, 32, 32)).astype(np.float32)
    assert np.array_equal(experimental_artifacts(df, AugmentConfig(), rng), df)
    quant = experimental_artifacts(df, AugmentConfig(quantise=1.0), rng)
    assert all(len(np.unique(s)) <= 256 for s in quant)
    assert np.abs(quant - df).max() <= np.ptp(df, axis=(1, 2)).max() / 255
    lines = experimental_artifacts(df, AugmentConfig(scan_lines=1.0), np.random.default_rng(5))
    row_change = np.abs(lines - df).mean(axis=2)  # constant per row
    assert np.allclose(np.abs(lines - df).std(axis=2), 0, atol=1e-5) and row_change.max() > 0
    ramp = np.tile(np.arange(32, dtype=np.float32), (1, 32, 1))
    drifted = experimental_artifacts(ramp, AugmentConfig(drift_px=3.0), np.random.default_rng(6))
    assert np.allclose(drifted[0, 0], ramp[0, 0])  # row 0 does not move
    shift = (ramp[0, -1, 5:-5] - drifted[0, -1, 5:-5]).mean()
    assert 0 < abs(shift) <= 3.0


def test_late_augmentations_keep_saved_train_states_valid():
    from iceafm.models.checkpoint import config_hash
    from iceafm.models.train import OPERATIONAL_KEYS, WATER_KEYS, TrainConfig

    config = TrainConfig()
    before = {
        k: v for k, v in config.to_dict().items() if k not in OPERATIONAL_KEYS + WATER_KEYS
    }  # neither the late augmentations nor the water-assembly keys existed then
    for key in ("drift_px", "scan_lines", "quantise"):
        del before["augment"][key]
    before["amp"] = True  # train.amp was a boolean then; the bf16 default hashes as true
    assert config.hash() == config_hash(before)  # the hash of a state saved before they existed
    assert TrainConfig.from_config({"augment": {"quantise": 0.5}}).hash() != config.hash()
