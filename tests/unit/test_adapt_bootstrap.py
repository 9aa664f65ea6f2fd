"""Paired bootstrap over stacks (iceafm.metrics.bootstrap) and the adapt methods' differences
from ``none`` (iceafm.adapt.pipeline.paired_vs_baseline) on hand-made values with known
answers."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from iceafm.adapt.pipeline import AdaptError, _paired_values, paired_vs_baseline
from iceafm.metrics.bootstrap import mean_statistic, paired_bootstrap
from iceafm.metrics.label_free import local_properties


def test_paired_bootstrap_known_answers():
    rng = np.random.default_rng(1)
    b = rng.normal(0.5, 0.2, 12)
    same = paired_bootstrap(mean_statistic(b), mean_statistic(b), len(b), 500, seed=3)
    assert same["diff"] == 0.0 and same["ci"] == [0.0, 0.0] and same["fraction_positive"] == 0.0
    # a constant paired shift: every resample gives exactly the shift
    shifted = paired_bootstrap(mean_statistic(b + 0.3), mean_statistic(b), len(b), 500)
    assert shifted["diff"] == pytest.approx(0.3)
    assert shifted["ci"] == pytest.approx([0.3, 0.3])
    assert shifted["fraction_positive"] == 1.0 and shifted["n_valid"] == 500
    # a noisy shift: the interval holds the observed difference and is narrower than the
    # unit-to-unit spread, because the pairing cancels it
    a = b + 0.1 + rng.normal(0.0, 0.02, len(b))
    noisy = paired_bootstrap(mean_statistic(a), mean_statistic(b), len(b), 2000, seed=0)
    low, high = noisy["ci"]
    assert low < noisy["diff"] < high and low > 0.0 and high - low < 0.2 * b.std()
    # deterministic in the seed, different for another seed
    assert paired_bootstrap(mean_statistic(a), mean_statistic(b), len(b), 200, seed=0)["ci"] == (
        paired_bootstrap(mean_statistic(a), mean_statistic(b), len(b), 200, seed=0)["ci"]
    )
    assert paired_bootstrap(mean_statistic(a), mean_statistic(b), len(b), 200, seed=1)["ci"] != (
        paired_bootstrap(mean_statistic(a), mean_statistic(b), len(b), 200, seed=0)["ci"]
    )


def test_paired_bootstrap_drops_undefined_resamples_and_rejects_bad_input():
    values = np.array([1.0, 2.0, 3.0])

    def undefined_without_unit_0(indices: np.ndarray) -> float:
        return float(values[indices].sum()) if 0 in indices else float("nan")

    result = paired_bootstrap(undefined_without_unit_0, mean_statistic(values), 3, 400, seed=2)
    # a draw misses unit 0 with probability (2/3)^3
    assert 0 < result["n_valid"] < 400
    assert abs(result["n_valid"] / 400 - (1 - (2 / 3) ** 3)) < 0.1
    with pytest.raises(ValueError, match="n_units"):
        paired_bootstrap(mean_statistic(values), mean_statistic(values), 0)
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap(mean_statistic(values), mean_statistic(values), 3, level=1.5)


def _water_row(spacing_a: float, name: str) -> Atoms:
    """Four O in a row ``spacing_a`` apart, each with one H towards the next O (three linear
    H-bonds), as predicted on stack ``name``."""
    o = np.array([[i * spacing_a, 0.0, 0.0] for i in range(4)])
    h = o + [0.97, 0.0, 0.0]
    atoms = Atoms(["O"] * 4 + ["H"] * 4, positions=np.vstack([o, h]))
    atoms.info["stack"] = name
    return atoms


def test_paired_vs_baseline_known_answers():
    names = [f"s{i}" for i in range(4)]
    reference = local_properties(["O"] * 4 + ["H"] * 4, _water_row(2.76, "r").positions)
    frames = {
        "none": [_water_row(3.2, n) for n in names],  # O-O too long on every stack
        "augment": [_water_row(2.76, n) for n in reversed(names)],  # the reference, any order
        "cyclegan": [_water_row(3.2, n) for n in names],  # the same as none
    }
    resim = {"none": [0.5, 0.6, None, 0.4], "augment": [0.6, 0.7, 0.9, 0.5],
             "cyclegan": [0.5, 0.6, None, 0.4]}  # fmt: skip
    metrics = {m: {"per_stack": {n: {"resim_pearson": r} for n, r in zip(names, v, strict=True)}}
               for m, v in resim.items()}  # fmt: skip
    accuracies = {"none": [0.8, 0.9, 0.7], "augment": [0.7, 0.8, 0.6], "cyclegan": [0.8, 0.9, 0.7]}
    for m, v in accuracies.items():  # one per classifier seed
        metrics[m]["domain_classifier_accuracies"] = v
    out = paired_vs_baseline(metrics, frames, reference, "none", n_resamples=300, seed=0)
    assert sorted(out) == ["augment", "cyclegan"]
    aug = out["augment"]
    # the d_OO of augment equals the reference: minus none's 2 x |3.2 - 2.76| / 3.5
    assert aug["energy_distance_d_oo"]["diff"] == pytest.approx(-2 * 0.44 / 3.5)
    assert aug["energy_distance_d_oo"]["significant"]
    # H-bonds: the same 180 deg angle, O...O 2.76 vs 3.2 A (2D energy distance, same value)
    assert aug["energy_distance_hbond"]["diff"] == pytest.approx(-2 * 0.44 / 3.5)
    # resim: the three stacks re-simulated for both, +0.1 on each
    assert aug["resim_pearson"]["n_units"] == 3
    assert aug["resim_pearson"]["ci"] == pytest.approx([0.1, 0.1])
    assert aug["resim_pearson"]["significant"]
    # domain classifier: paired over the three seeds, 0.1 lower on each
    assert aug["domain_classifier_accuracy"]["n_units"] == 3
    assert aug["domain_classifier_accuracy"]["ci"] == pytest.approx([-0.1, -0.1])
    assert aug["domain_classifier_accuracy"]["significant"]
    for key, value in out["cyclegan"].items():
        assert value["diff"] == 0.0 and not value["significant"], key
    del metrics["cyclegan"]["domain_classifier_accuracies"]  # a run before the repeats
    kept = paired_vs_baseline(metrics, frames, reference, "none", n_resamples=50)["cyclegan"]
    assert "domain_classifier_accuracy" not in kept and "resim_pearson" in kept
    frames["hybrid"] = frames["none"][:3]
    metrics["hybrid"] = metrics["none"]
    with pytest.raises(AdaptError, match="hybrid predicts stacks"):
        paired_vs_baseline(metrics, frames, reference)
    with pytest.raises(AdaptError, match="baseline 'raw'"):
        paired_vs_baseline(metrics, frames, reference, "raw")
    # a per-unit metric without its own pairing is refused, not paired as the accuracy
    with pytest.raises(AdaptError, match="no per-unit values known for 'fid_detector_features'"):
        _paired_values("fid_detector_features", metrics["none"], metrics["augment"], names)


def test_distribution_distances_only_some_properties():
    from iceafm.metrics.label_free import distribution_distances

    reference = local_properties(["O"] * 4 + ["H"] * 4, _water_row(2.76, "r").positions)
    predicted = local_properties(["O"] * 4 + ["H"] * 4, _water_row(3.0, "p").positions)
    every = distribution_distances(predicted, reference)
    some = distribution_distances(predicted, reference, only=("d_oo", "hbond"))
    assert sorted(some) == ["d_oo", "hbond"]
    for key in some:
        assert some[key]["energy"] == every[key]["energy"] > 0.0, key


# ------------------------------------------------ augment amplitudes measured on real stacks


def _smooth_stack(seed: int, shape=(3, 40, 40)) -> np.ndarray:
    """A smooth random image stack (Gaussian-blurred noise, 3 px), isotropic, without noise."""
    from scipy import ndimage

    noise = np.random.default_rng(seed).standard_normal(shape)
    return ndimage.gaussian_filter(noise, (0, 3, 3), mode="wrap")


def test_image_statistics_known_answers():
    from iceafm.adapt.calibrate import add_noise, high_pass_std, plane_amplitude, row_excess

    yy, xx = np.mgrid[0:30, 0:40]
    plane = 2.0 * xx / 39 - 1.5 * yy / 29
    assert plane_amplitude(plane[None]) == pytest.approx(np.hypot(2.0, 1.5) / plane.std(), rel=1e-5)
    assert high_pass_std(plane[None]) < 1e-4  # a plane is removed before the high pass
    smooth = _smooth_stack(0)
    rng = np.random.default_rng(0)
    values = [high_pass_std(add_noise(smooth, a, rng)) for a in (0.0, 0.2, 0.5)]
    assert values[0] < 0.1 < values[1] < values[2]
    assert 0.7 < row_excess(smooth) < 1.4
    lines = smooth + 0.5 * smooth.std() * rng.standard_normal(40)[None, :, None]
    assert row_excess(lines) > 2.0


def test_match_amplitude_inverts_a_monotone_curve():
    from iceafm.adapt.calibrate import match_amplitude

    grid = (0.0, 0.5, 1.0, 2.0)
    curve = np.array([0.1, 0.2, 0.3, 0.5])
    assert match_amplitude(curve, 0.25, grid) == pytest.approx(0.75)
    assert match_amplitude(curve, 0.05, grid) == 0.0
    assert match_amplitude(curve, 9.0, grid) == 2.0
    # a noisy, locally decreasing curve is made monotone first
    assert match_amplitude(np.array([0.1, 0.3, 0.25, 0.5]), 0.4, grid) == pytest.approx(1.5)


def test_calibrate_augment_recovers_a_known_noise_and_line_fraction():
    from iceafm.adapt.calibrate import calibrate_augment
    from iceafm.data.loader import AugmentConfig

    simulated = [_smooth_stack(i) for i in range(6)]
    rng = np.random.default_rng(7)
    real = [s + 0.3 * s.std() * rng.standard_normal(s.shape) for s in
            (_smooth_stack(100 + i) for i in range(5))]  # fmt: skip
    real[0] = real[0] + 0.8 * real[0].std() * rng.standard_normal(40)[None, :, None]
    base = AugmentConfig(noise=1.0, gradient=0.5, scan_lines=0.5, cutout=0.4)
    config, record = calibrate_augment(simulated, real[1:] + real[:1], base, quantile=0.5)
    assert config.noise == pytest.approx(0.3, abs=0.06)
    assert config.gradient < 0.2  # no plane was added
    assert config.scan_lines == pytest.approx(0.2)  # one of five real stacks has line offsets
    assert config.cutout == 0.4 and record["noise"]["was"] == 1.0
