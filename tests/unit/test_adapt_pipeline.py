"""The adapt methods end to end on a small real dataset and a user's image folder."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
import torch
from ml_fixtures import build_ml_dataset
from stack_fixtures import sharpening_stack, tiny_detector_path, write_png_stack

from iceafm.adapt.pipeline import (
    METHODS,
    AdaptConfig,
    AdaptError,
    finetune_config,
    finetune_warning,
    method_split,
    real_inputs,
    rewrite_split,
    run_compare,
    run_method,
    run_translator,
    simulated_scores,
    split_stacks,
    translation_summary,
)
from iceafm.data.loader import iter_split
from iceafm.io.stacks import normalise_slices
from iceafm.models import load_detector
from iceafm.models.train import TrainConfig, train_detector

PREDICT_REAL = {"scan_size_a": {}, "assumed_scan_size_a": [9.6, 9.6], "closest": "auto",
                "line_correction": "none"}  # fmt: skip
SECTION = {
    "images_dir": "unused",
    "inputs": ["mine"],
    "device": "cpu",
    "finetune": {"epochs": 1, "batch_size": 4, "val_samples": 2},
    "translator": {"width": 2, "n_res": 1, "crop_px": 16, "crop_slices": 3, "epochs": 1,
                   "steps_per_epoch": 2, "batch_size": 2},
    "evaluation": {"reference_structures": 4, "domain_crops": 32, "domain_epochs": 1,
                   "domain_repeats": 2, "domain_stacks": 4, "fid_crops": 16,
                   "resim_window_a": 4.0, "resim_stacks": 1},
}  # fmt: skip
AFM = {"ff_step_a": 0.2}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """Splits, a 1-epoch base detector and a user's folder of two PNG stacks."""
    splits = build_ml_dataset(tmp_path_factory.getbasetemp() / "ml_dataset")
    root = tmp_path_factory.mktemp("adapt")
    config = TrainConfig.from_config({"width": 4, "depth": 2, "epochs": 1, "batch_size": 4,
                                      "workers": 0, "val_samples": 2, "threshold": 0.3})
    base = root / "base.pt"
    train_detector(config, splits["train"], None, base, root / "base.csv", progress=False)
    images = root / "images"
    write_png_stack(images / "mine", sharpening_stack(6, (48, 48), 0.2), name="a")
    write_png_stack(images / "mine", sharpening_stack(5, (56, 48), 0.2)[:, ::-1], name="b")
    return splits, base, images, root


def test_split_stacks_spread_over_every_structure(campaign):
    """The domain gap, FID and simulated floors read stacks spread over the split: with 2 of the
    train split's 8 entries (2 structures, 4 views each, one after the other) one of each
    structure, not the first structure's first two views."""
    train = campaign[0]["train"]
    every = [normalise_slices(e["df"]) for e in iter_split(train)]
    picked = split_stacks(train, 2)
    assert len(picked) == 2
    np.testing.assert_allclose(picked[0], every[0], atol=1e-6)
    np.testing.assert_allclose(picked[1], every[7], atol=1e-6)
    assert len(split_stacks(train)) == 8


def test_hybrid_split_is_blended_again_from_a_remade_translation(campaign, tmp_path):
    """A translator retrained (its translated split rewritten) must not leave hybrid on the
    blend of the old translation; the old blend is removed."""
    splits = campaign[0]
    translated, work = tmp_path / "translated.h5", tmp_path / "states"
    work.mkdir()
    rewrite_split(splits["train"], translated, lambda i, df: df[:, ::-1].copy())
    first = method_split("hybrid", splits["train"], translated, work, seed=0)
    assert method_split("hybrid", splits["train"], translated, work, seed=0) == first  # reused
    with h5py.File(first) as h5:
        old = h5["df"][:]
    rewrite_split(splits["train"], translated, lambda i, df: -df)
    second = method_split("hybrid", splits["train"], translated, work, seed=0)
    with h5py.File(second) as h5:
        new = h5["df"][:]
    assert second != first and not first.exists()
    assert not np.allclose(new, old)
    assert method_split("hybrid", splits["train"], translated, work, seed=1) != second


@pytest.mark.slow
def test_methods_end_to_end(campaign):
    splits, base, images, root = campaign
    translated = root / "translated.h5"
    run_translator(SECTION, PREDICT_REAL, images, splits["train"], base, root / "tstate",
                   root / "translator.pt", translated, root / "history.csv")  # fmt: skip
    assert translated.exists() and (root / "history.csv").read_text().startswith("epoch,")
    moved = translation_summary(splits["train"], translated)
    assert 0.0 < moved["translation_rms"] < 1.5 and -1.0 <= moved["translation_pearson"] <= 1.0
    metrics, predictions = {}, {}
    base_f1 = simulated_scores(load_detector(base), splits["val"], 4)[1]  # reference_structures
    for method in METHODS:
        out = root / method
        out.mkdir()
        result = run_method(
            method, SECTION, PREDICT_REAL, AFM, images, splits["train"], splits["val"], base,
            translated if method in ("cyclegan", "hybrid") else None, root / "states",
            out / "detector.pt", out / "predictions.extxyz", out / "metrics.json", out / "log.csv",
        )  # fmt: skip
        assert json.loads((out / "metrics.json").read_text())["method"] == method
        accuracies = result["domain_classifier_accuracies"]  # one per classifier seed
        assert len(accuracies) == 2 and all(0.0 <= a <= 1.0 for a in accuracies)
        assert result["domain_classifier_accuracy"] == pytest.approx(np.mean(accuracies))
        assert result["domain_classifier_accuracy_sd"] == pytest.approx(np.std(accuracies, ddof=1))
        assert result["fid_detector_features"] >= 0.0
        assert set(result["per_stack"]) == {"a", "b"}
        resimulated = [k for k, v in result["per_stack"].items() if v["resim_pearson"] is not None]
        assert set(resimulated) <= {"a"}  # resim_stacks 1 of 2 (spread from the first)
        floor = result["energy_distance_d_oo_simulated"]  # predictions on the val split
        assert math.isnan(floor) or floor >= 0.0
        assert result["distances_simulated"]["d_oo"]["n_reference"] > 0
        f1 = result["simulated_f1"]  # the fine-tune's and the base's, on the same val stacks
        assert f1["finetune"]["O"] == result["simulated_o_f1"]
        assert f1["base"] == base_f1  # one base for every method
        assert all(0.0 <= v <= 1.0 for scores in f1.values() for v in scores.values())
        r = result["resim_pearson"]
        assert math.isnan(r) or -1.0 <= r <= 1.0
        assert load_detector(out / "detector.pt").n_slices == load_detector(base).n_slices
        metrics[method], predictions[method] = out / "metrics.json", out / "predictions.extxyz"
    assert len(list(root.glob("base_f1-*.json"))) == 1  # worked out once, beside the states
    best = run_compare(metrics, predictions, SECTION, PREDICT_REAL, images, splits["train"],
                       base, translated, root / "comparison.csv",
                       (root / "comparison.png",))  # fmt: skip
    rows = (root / "comparison.csv").read_text().splitlines()
    assert rows[0].startswith("method,energy_distance_d_oo") and len(rows) == 5
    assert best in METHODS and (root / "comparison.png").stat().st_size > 0


@pytest.mark.slow
def test_augment_calibrated_on_the_real_stacks(campaign):
    splits, base, images, root = campaign
    out = root / "augment_calibrated"
    out.mkdir()
    section = {**SECTION, "calibrate_augment": True, "augment": {"noise": 1.7}}
    result = run_method(
        "augment", section, PREDICT_REAL, AFM, images, splits["train"], splits["val"], base, None,
        root / "states_calibrated", out / "detector.pt", out / "predictions.extxyz",
        out / "metrics.json", out / "log.csv",
    )  # fmt: skip
    calibration = result["augment_calibration"]
    assert calibration["noise"]["was"] == 1.7
    # the fine-tune trained with the measured amplitudes (its config is in the saved state)
    state = next((root / "states_calibrated").glob("augment-*.pt"))
    saved = torch.load(state, map_location="cpu", weights_only=False)
    augment = saved["train_state"]["config"]["augment"]
    assert augment["noise"] == calibration["noise"]["max"] != 1.7
    assert augment["scan_lines"] == calibration["scan_lines"]["probability"]
    assert json.loads((out / "metrics.json").read_text())["augment_calibration"] == calibration


@pytest.mark.slow
def test_scratch_init_trains_from_random_weights(campaign):
    """finetune.init: at a vanishing learning rate a fine-tune keeps the base's weights, a
    training from scratch keeps random ones (at the base's architecture), in its own state."""
    splits, base, images, root = campaign
    start = load_detector(base).net.state_dict()
    moved = {}
    for init in ("base", "scratch"):
        # seed 1: the base trained from seed 0's random weights, which seed 0 would draw again
        section = {**SECTION, "seed": 1, "evaluation": {**SECTION["evaluation"], "resim_stacks": 0},
                   "finetune": {**SECTION["finetune"], "lr": 1e-12, "init": init}}
        out = root / f"init_{init}"
        out.mkdir()
        result = run_method("none", section, PREDICT_REAL, AFM, images, splits["train"],
                            splits["val"], base, None, root / "init_states", out / "detector.pt",
                            out / "predictions.extxyz", out / "metrics.json", out / "log.csv")
        assert result["finetune_init"] == init
        weights = load_detector(out / "detector.pt").net.state_dict()
        moved[init] = max(float((weights[k].float() - start[k].float()).abs().max())
                          for k in start if start[k].is_floating_point())  # fmt: skip
    assert moved["base"] < 1e-6 < 1e-2 < moved["scratch"]
    assert len(list((root / "init_states").glob("none-scratch-*.pt"))) == 1
    warm = AdaptConfig.from_config({"finetune": {"warmup_epochs": 0.5, "init": "scratch"}})
    assert finetune_config(warm, "none", load_detector(base)).warmup_epochs == 0.5
    with pytest.raises(AdaptError, match="adapt.finetune.init: expected one of"):
        finetune_config(AdaptConfig.from_config({"finetune": {"init": "random"}}), "none",
                        load_detector(base))


@pytest.mark.slow
def test_adversarial_finetune_trains_a_domain_head_and_resumes(campaign):
    """Method adversarial: the domain head trains with the detector, its accuracy is logged per
    epoch, its weights are kept in the state, and a second run resumes from it."""
    splits, base, images, root = campaign
    section = {**SECTION, "methods": ["none", "adversarial"], "adversarial": {"weight": 0.5},
               "evaluation": {**SECTION["evaluation"], "resim_stacks": 0}}  # fmt: skip
    out = root / "adversarial"
    out.mkdir()
    runs = []
    for _ in range(2):
        runs.append(run_method(
            "adversarial", section, PREDICT_REAL, AFM, images, splits["train"], splits["val"],
            base, None, root / "adversarial_states", out / "detector.pt",
            out / "predictions.extxyz", out / "metrics.json", out / "log.csv",
        ))  # fmt: skip
    assert runs[0]["adversarial_weight"] == 0.5
    header, row = (out / "log.csv").read_text().splitlines()[:2]
    accuracy = float(dict(zip(header.split(","), row.split(","), strict=True))["domain_accuracy"])
    assert 0.0 <= accuracy <= 1.0
    (state,) = (root / "adversarial_states").glob("adversarial-w0.5-*.pt")
    head = torch.load(state, map_location="cpu", weights_only=False)["train_state"]["adversary"]
    assert set(head) == {"head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias"}
    assert runs[1]["energy_distance_d_oo"] == runs[0]["energy_distance_d_oo"] or math.isnan(
        runs[0]["energy_distance_d_oo"])  # resumed: the same weights
    start, tuned = load_detector(base).net.state_dict(), load_detector(out / "detector.pt")
    assert any(not torch.equal(tuned.net.state_dict()[k], v) for k, v in start.items())
    with pytest.raises(AdaptError, match="adapt method adversarial: needs a real stack"):
        run_method("adversarial", section, {**PREDICT_REAL, "assumed_scan_size_a": [4.0, 4.0]},
                   AFM, images, splits["train"], splits["val"], base, None, root / "small",
                   out / "d.pt", out / "p.extxyz", out / "m.json", out / "l.csv")  # fmt: skip


def test_finetune_warning_only_below_the_base():
    below = finetune_warning("none", {"simulated_o_f1": 0.713, "simulated_o_f1_base": 0.726})
    assert below.startswith("warning: adapt none: O F1 0.713") and "base's 0.726" in below
    assert finetune_warning("none", {"simulated_o_f1": 0.73, "simulated_o_f1_base": 0.726}) is None
    assert finetune_warning("none", {"simulated_o_f1": 0.7, "simulated_o_f1_base": 0.7}) is None
    # within the F1's sampling error (F1_TOLERANCE 0.01) is no warning
    assert finetune_warning("none", {"simulated_o_f1": 0.714, "simulated_o_f1_base": 0.715}) is None
    nan = float("nan")  # no validation split: not measured, no warning
    assert finetune_warning("none", {"simulated_o_f1": nan, "simulated_o_f1_base": nan}) is None


def test_bad_config_and_bad_image_one_line(tmp_path):
    with pytest.raises(AdaptError, match="adapt.methods"):
        AdaptConfig.from_config({"methods": ["none", "styletransfer"]})
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "0.png").write_bytes(b"not a png")
    det = load_detector(tiny_detector_path(tmp_path / "tiny.pt"))
    with pytest.raises(ValueError) as err:
        real_inputs(AdaptConfig.from_config({"inputs": ["bad"]}), PREDICT_REAL, det, tmp_path)
    assert "0.png" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="no such file or folder"):
        real_inputs(AdaptConfig.from_config({"inputs": ["absent"]}), PREDICT_REAL, det, tmp_path)
