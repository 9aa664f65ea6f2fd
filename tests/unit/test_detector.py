"""Detector network, label decoding, augmentations, loader, checkpoints and a real overfit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from ml_fixtures import build_ml_dataset

from iceafm.data.loader import (
    AugmentConfig,
    StackStream,
    augment_sample,
    iter_split,
    split_info,
    spread_entries,
)
from iceafm.models import CheckpointError, load_detector, save_detector
from iceafm.models.decode import decode_grid, encode_atoms
from iceafm.models.evaluate import calibrate_thresholds, evaluate_split
from iceafm.models.train import TrainConfig, train_detector
from iceafm.models.unet3d import DetectorNet, NetConfig

NO_AUGMENT = {"rot_flip": False, "shift_px": 0, "noise": 0, "gradient": 0, "cutout": 0, "slices": 0}


@pytest.fixture(scope="session")
def splits(tmp_path_factory):
    return build_ml_dataset(tmp_path_factory.getbasetemp() / "ml_dataset")


@pytest.fixture(scope="session")
def overfit(splits, tmp_path_factory):
    """A detector trained to memorise the 8 training stacks (about 15 s on one core)."""
    root = tmp_path_factory.mktemp("overfit")
    config = TrainConfig.from_config(
        {"width": 8, "depth": 2, "epochs": 60, "batch_size": 4, "lr": 3e-3, "workers": 0,
         "val_samples": 4, "augment": NO_AUGMENT}
    )  # fmt: skip
    detector = train_detector(
        config, splits["train"], splits["val"], root / "state.pt", root / "log.csv", False
    )
    return detector, root


@pytest.mark.parametrize(("n", "ny", "nx"), [(6, 32, 32), (3, 30, 45), (1, 17, 8)])
def test_forward_backward_shapes_any_window_and_slice_count(n, ny, nx):
    torch.manual_seed(0)
    net = DetectorNet(NetConfig(width=4, depth=3, voxel_xy_px=4, n_z=4))
    out = net(torch.randn(2, n, ny, nx))
    assert out.shape == (2, 2, 4, 4, -(-ny // 4), -(-nx // 4))
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_decode_round_trip_labels_atoms_labels(splits):
    info = split_info(splits["train"])
    n_checked = 0
    for entry in iter_split(splits["train"]):
        shape = entry["df"].shape[1:]
        again = encode_atoms(entry["symbols"], entry["xyz_a"], info.geometry, shape, info.depth_a)
        np.testing.assert_allclose(again, entry["targets"], atol=1e-5)
        symbols, xyz, conf = decode_grid(entry["targets"], info.geometry, 0.5, nms_radius_a=0.0)
        assert np.all(conf == 1.0)
        np.testing.assert_allclose(
            encode_atoms(symbols, xyz, info.geometry, shape, info.depth_a), entry["targets"],
            atol=1e-5,
        )
        # every decoded atom is a labelled atom (labels keep one atom per voxel)
        for s, p in zip(symbols, xyz, strict=True):
            same = entry["xyz_a"][np.array(entry["symbols"]) == s]
            assert np.min(np.linalg.norm(same - p, axis=1)) < 1e-4
        n_checked += 1
    assert n_checked == 8


def test_spread_entries_known_answers():
    np.testing.assert_array_equal(spread_entries(10, None), np.arange(10))
    np.testing.assert_array_equal(spread_entries(10, 12), np.arange(10))
    np.testing.assert_array_equal(spread_entries(10, 4), [0, 3, 6, 9])
    np.testing.assert_array_equal(spread_entries(10, 1), [0])
    assert len(spread_entries(10, 0)) == 0
    picks = spread_entries(96, 32)  # bench: 3 structures of 32 views
    assert len(set(picks.tolist())) == 32 and picks[0] == 0 and picks[-1] == 95
    assert (np.diff(picks) > 0).all()


def test_iter_split_reads_entries_spread_across_chunks(splits):
    """The train split holds 2 structures' 4 views each, one structure after the other (chunks
    of 4): two entries spread over it are the first and the last, one of each structure, and
    equal the same entries read in full."""
    every = list(iter_split(splits["train"]))
    picked = list(iter_split(splits["train"], 2))
    assert [e["index"] for e in picked] == [0, 7]
    for entry in picked:
        full = every[entry["index"]]
        np.testing.assert_array_equal(entry["df"], full["df"])
        np.testing.assert_array_equal(entry["targets"], full["targets"])
        np.testing.assert_array_equal(entry["xyz_a"], full["xyz_a"])
        assert entry["symbols"] == full["symbols"]


def _atom_pixel_values(df, symbols, xyz, pixel):
    ix = np.clip(np.round(xyz[:, 0] / pixel).astype(int), 0, df.shape[2] - 1)
    iy = np.clip(np.round(xyz[:, 1] / pixel).astype(int), 0, df.shape[1] - 1)
    return sorted(zip(symbols, np.round(df[0, iy, ix], 4).tolist(), strict=True))


@pytest.mark.parametrize("seed", range(6))
def test_rotations_flips_and_shifts_move_labels_with_the_image(splits, seed):
    info = split_info(splits["train"])
    entry = next(iter_split(splits["train"]))
    geo = info.geometry
    config = AugmentConfig(**{**NO_AUGMENT, "rot_flip": True, "shift_px": 3 * (seed % 2)})
    rng = np.random.default_rng(seed)
    df, targets = augment_sample(
        entry["df"], entry["symbols"], entry["xyz_a"], entry["targets"], info, config, rng
    )
    sym0, xyz0, _ = decode_grid(entry["targets"], geo, 0.5, 0.0)
    sym1, xyz1, _ = decode_grid(targets, geo, 0.5, 0.0)
    # the image under each labelled atom is the same before and after the move
    before = _atom_pixel_values(entry["df"], sym0, xyz0, info.pixel_size_a)
    after = _atom_pixel_values(df, sym1, xyz1, info.pixel_size_a)
    if config.shift_px:
        assert set(after) <= set(before) and len(after) >= len(before) // 2
    else:
        assert after == before


def test_stream_batches_do_not_depend_on_workers(splits):
    augment = AugmentConfig()

    def batches(workers):
        stream = StackStream(splits["train"], batch_size=3, seed=4, augment=augment)
        stream.set_epoch(2)
        loader = torch.utils.data.DataLoader(stream, batch_size=3, num_workers=workers)
        return [(d.clone(), t.clone()) for d, t in loader]

    one, two = batches(0), batches(2)
    assert [len(d) for d, _ in one] == [3, 3, 2]
    for (d0, t0), (d1, t1) in zip(one, two, strict=True):
        assert torch.equal(d0, d1) and torch.equal(t0, t1)


def test_bad_checkpoints_get_one_line(tmp_path, overfit):
    detector, _ = overfit
    good = tmp_path / "good.pt"
    save_detector(good, detector)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint\n")
    for path in (truncated, foreign, text, tmp_path / "missing.pt"):
        with pytest.raises(CheckpointError) as err:
            load_detector(path)
        message = str(err.value)
        assert "\n" not in message and str(path) in message
    assert isinstance(CheckpointError("x"), ValueError)


def test_overfit_reaches_near_perfect_f1(splits, overfit):
    detector, root = overfit
    water = detector.meta.water
    # the network's own peaks: the water assembly drops labelled H whose O lies outside the
    # labelled window (their owner is unknown), which no network can recover
    detector.meta.water = replace(water, enabled=False)
    try:
        result = evaluate_split(detector, splits["train"])
    finally:
        detector.meta.water = water
    assert result["cutoff_1A"]["O"]["overall"]["f1"] >= 0.95
    assert result["cutoff_1A"]["H"]["overall"]["f1"] >= 0.9
    assembled = evaluate_split(detector, splits["train"])["cutoff_1A"]
    assert assembled["O"] == result["cutoff_1A"]["O"]  # the assembly never touches O
    assert assembled["H"]["overall"]["precision"] >= 0.95
    assert (root / "log.csv").read_text().count("\n") == 61  # header + one row per epoch


def test_detect_follows_the_contract_in_any_units(splits, overfit, tmp_path):
    detector, _ = overfit
    save_detector(tmp_path / "d.pt", detector)
    loaded = load_detector(tmp_path / "d.pt")
    assert loaded.n_slices == 6 and loaded.pixel_size_a == 0.25
    np.testing.assert_allclose(loaded.heights_a, 2.6 + 0.15 * np.arange(6))
    entry = next(iter_split(splits["train"]))
    found = loaded.detect(entry["df"])
    grey = loaded.detect(200.0 + 40.0 * entry["df"])  # another unit and offset: same atoms
    assert found.symbols == grey.symbols
    np.testing.assert_allclose(found.positions_a, grey.positions_a, atol=1e-3)
    assert found.positions_a.shape == (len(found.symbols), 3)
    assert np.all((found.confidence > 0.5) & (found.confidence <= 1.0))
    is_o = np.array(found.symbols) == "O"
    assert found.positions_a[is_o, 2].max() == pytest.approx(0.0)


def test_edge_margin_drops_exactly_the_atoms_near_the_scan_edge(splits, overfit, monkeypatch):
    """detect(df, edge_margin_a): the atoms found without a margin, less those within it of the
    scan's edge (0..(n-1) p), before the water assembly; none dropped elsewhere."""
    detector, _ = overfit
    # compare raw peaks (the session's detector gets its assembly back after the test)
    monkeypatch.setattr(detector.meta, "water", replace(detector.meta.water, enabled=False))
    df = next(iter_split(splits["train"]))["df"]
    ny, nx = df.shape[1:]
    extent = np.array([(nx - 1), (ny - 1)]) * detector.pixel_size_a
    full = detector.detect(df)
    xy = np.asarray(full.positions_a)[:, :2]
    margin = 1.0
    inside = np.all((xy >= margin) & (xy <= extent - margin), axis=1)
    assert 0 < inside.sum() < len(xy)  # the test stack has atoms on both sides of the margin
    kept = detector.detect(df, edge_margin_a=margin)
    assert kept.symbols == [s for s, k in zip(full.symbols, inside, strict=True) if k]
    np.testing.assert_allclose(np.asarray(kept.positions_a)[:, :2], xy[inside], atol=1e-9)


def test_thresholds_calibrated_per_species_do_not_lower_f1(splits, overfit):
    detector, _ = overfit
    thresholds = calibrate_thresholds(detector, splits["val"], candidates=(0.3, 0.5, 0.7))
    assert set(thresholds) == {"O", "H"} and set(thresholds.values()) <= {0.3, 0.5, 0.7}
    before = evaluate_split(detector, splits["val"])["cutoff_1A"]
    detector.meta.threshold = thresholds
    try:
        after = evaluate_split(detector, splits["val"])["cutoff_1A"]
    finally:
        detector.meta.threshold = 0.5
    for species in ("O", "H"):
        assert after[species]["overall"]["f1"] >= before[species]["overall"]["f1"] - 1e-12
