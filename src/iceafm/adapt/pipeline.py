"""Rules ``adapt_translator``, ``adapt`` and ``adapt_compare``: the domain-adaptation methods on
one campaign, compared on the real images without labels.

Methods (``adapt.methods``), each a fine-tune of the same base detector (``adapt.base_model``,
default the campaign's trained model) for ``adapt.finetune.epochs`` epochs, so they differ only
in what the detector sees (``adapt.finetune.init`` ``scratch``: each trained instead from random
weights, at the base's width and depth and decode, as AmorAFM and Huang et al. train theirs):

- ``none``: the simulated training split with the standard training augmentations;
- ``augment``: the same plus experiment-like artifacts (``adapt.augment``: stronger noise,
  background gradient and cutout, slow-scan drift, scan-line offsets, 8-bit quantisation, random
  slice counts; :func:`iceafm.data.loader.augment_sample`);
- ``cyclegan``: the simulated split translated to the experimental style by the CycleGAN
  (:mod:`iceafm.adapt.cyclegan`) trained on the simulated split and the real stacks;
- ``hybrid``: simulated and translated blended with a random weight w ~ U(0, 1) per entry,
  w x simulated + (1 - w) x translated (AmorAFM's recipe; each slice normalised first).
- ``adversarial`` (only where ``adapt.methods`` names it): ``none``'s data, plus a domain loss
  on crops of the real stacks through a gradient reversal (:mod:`iceafm.adapt.adversarial`,
  weight ``adapt.adversarial.weight``).

Real stacks: :func:`iceafm.io.stacks.read_stacks` through
:func:`iceafm.predict.configured_stack` (scan sizes and slice order as ``predict_real``
configures them) and :func:`iceafm.predict.prepare_stack` (normalised, resampled to the
detector's pixel size, the detector's number of closest slices). Evaluation per method
(:func:`evaluate_method`): see :mod:`iceafm.metrics.label_free` and :mod:`iceafm.adapt.domain`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from iceafm.adapt.cyclegan import (
    TranslatorConfig,
    train_translator,
    translate,
    translation_change,
)
from iceafm.io.atomic import atomic_path, write_text_atomic
from iceafm.io.stacks import normalise_slices, stack_files
from iceafm.provenance import inputs_key

METHODS = ("none", "augment", "cyclegan", "hybrid")
#: Methods run only where ``adapt.methods`` names them (the schema's default is METHODS):
#: ``adversarial`` fine-tunes on the simulated split with a gradient-reversal domain loss on
#: the real stacks (:mod:`iceafm.adapt.adversarial`).
EXTRA_METHODS = ("adversarial",)
#: Weight of the domain loss in ``adversarial``'s total loss (``adapt.adversarial.weight``).
ADVERSARIAL_WEIGHT = 0.1
#: The methods that need the translator.
TRANSLATED = ("cyclegan", "hybrid")
#: A translation that moves the simulated stacks by less than this RMS (in units of a slice's
#: std, :func:`translation_summary`) is logged as near the identity: measured 0.011-0.019 for the
#: schema's translator with lambda_identity 5 on the bench campaign, 0.086-0.092 with 0.
IDENTITY_RMS = 0.03


class AdaptError(ValueError):
    """A bad ``adapt`` config value or an incompatible input (one-line message)."""


@dataclass(frozen=True)
class AdaptConfig:
    """The validated ``adapt`` config section (every key: config/README.md)."""

    methods: tuple[str, ...] = METHODS
    in_default_target: bool = True
    images_dir: str = "../shared/data/experimental"
    inputs: tuple[str, ...] = ("amorafm_ice_surface", "ice_clusters_styletrans")
    base_model: str | None = None
    seed: int = 0
    device: str = "auto"
    finetune: dict[str, Any] = field(default_factory=dict)
    augment: dict[str, Any] = field(default_factory=dict)
    calibrate_augment: bool = False
    translator: TranslatorConfig = field(default_factory=TranslatorConfig)
    evaluation: dict[str, Any] = field(default_factory=dict)
    adversarial: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> AdaptConfig:
        """Validate; one-line errors name the key."""
        values = dict(section)
        methods = tuple(values.pop("methods", METHODS))
        bad = [m for m in methods if m not in METHODS + EXTRA_METHODS]
        if bad or len(set(methods)) != len(methods):
            raise AdaptError(f"config adapt.methods: expected distinct values of "
                             f"{list(METHODS + EXTRA_METHODS)}, got {list(methods)}")
        translator = dict(values.pop("translator", {}) or {})
        known = set(TranslatorConfig.__dataclass_fields__)
        if set(translator) - known:
            raise AdaptError(f"config adapt.translator: unknown key(s) "
                             f"{sorted(set(translator) - known)}")
        translator.setdefault("seed", values.get("seed", 0))
        translator.setdefault("device", values.get("device", "auto"))
        values["inputs"] = tuple(values.get("inputs", cls.inputs))
        try:
            return cls(methods=methods, translator=TranslatorConfig(**translator), **values)
        except TypeError as err:
            raise AdaptError(f"config adapt: {err}") from None

    @property
    def reference_structures(self) -> int:
        """Simulated structures of the label-free reference (schema default 200)."""
        return int(self.evaluation.get("reference_structures", 200))


# ---------------------------------------------------------------- inputs


def real_inputs(
    adapt: AdaptConfig, predict_real: dict[str, Any], detector: Any, images_dir: str | Path
) -> list[tuple[str, np.ndarray, Any]]:
    """[(name, model input [n, ny, nx] at the detector's pixel size, Stack)] of every stack in
    ``adapt.inputs`` under ``images_dir`` (scan sizes as ``predict_real`` configures them)."""
    from iceafm.predict import configured_stack, prepare_stack

    section = {**predict_real, "inputs": list(adapt.inputs)}
    out = []
    for entry in adapt.inputs:
        for name in stack_files(Path(images_dir) / entry):
            stack = configured_stack(section, images_dir, name)
            df, _, stack = prepare_stack(stack, detector, predict_real["line_correction"])
            out.append((name, df.astype(np.float32), stack))
    return out


def split_stacks(path: str | Path, n_max: int | None = None) -> list[np.ndarray]:
    """The df of ``n_max`` entries (None: all) spread over a split
    (:func:`iceafm.data.loader.spread_entries`: every structure, not the first one's views),
    each slice normalised."""
    from iceafm.data.loader import iter_split

    return [normalise_slices(e["df"]).astype(np.float32) for e in iter_split(path, n_max)]


def check_compatible(detector: Any, split: str | Path) -> None:
    """Refuse (one line) a base detector trained on another pixel size or heights."""
    from iceafm.data.loader import split_info

    info = split_info(split)
    same = np.isclose(detector.pixel_size_a, info.pixel_size_a) and len(
        detector.heights_a
    ) == len(info.heights_a) and np.allclose(detector.heights_a, info.heights_a)
    if not same:
        raise AdaptError(
            f"adapt.base_model: trained at {detector.pixel_size_a} A, heights "
            f"{np.round(detector.heights_a, 2).tolist()} A; the split {split} has "
            f"{info.pixel_size_a} A, {np.round(info.heights_a, 2).tolist()} A (expected the same)"
        )


def rewrite_split(src: str | Path, dst: str | Path, transform) -> None:
    """Copy split ``src`` to ``dst`` (atomically) with every entry's df replaced by
    ``transform(index, df)`` (same shape); atoms and targets unchanged."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
        with h5py.File(tmp, "r+") as h5:
            df = h5["df"]
            for i in range(df.shape[0]):
                df[i] = transform(i, df[i])


# ---------------------------------------------------------------- rule adapt_translator


def translation_summary(train_split: str | Path, translated_split: str | Path) -> dict[str, float]:
    """How far the translator moved the simulated stacks: the mean over entries of
    :func:`iceafm.adapt.cyclegan.translation_change` (``translation_rms``, in units of a slice's
    std, and ``translation_pearson``) between each normalised simulated df and its translation."""
    with h5py.File(train_split, "r") as sim, h5py.File(translated_split, "r") as moved:
        rms, r = np.mean([translation_change(normalise_slices(sim["df"][i]), moved["df"][i])
                          for i in range(sim["df"].shape[0])], axis=0)  # fmt: skip
    return {"translation_rms": float(rms), "translation_pearson": float(r)}


def run_translator(
    section: dict[str, Any],
    predict_real: dict[str, Any],
    images_dir: str | Path,
    train_split: str | Path,
    base_model: str | Path,
    state_dir: str | Path,
    translator_out: str | Path,
    translated_out: str | Path,
    history_csv: str | Path,
) -> None:
    """Train (resumably, ``state_dir/<hash>-<inputs key>.pt``: a remade split or base model
    starts afresh, :func:`iceafm.provenance.inputs_key`) the CycleGAN on the simulated training
    split and the real stacks; write its state, the translated split and the per-epoch losses;
    log how far it moved the stacks (:func:`translation_summary`), with a warning below
    :data:`IDENTITY_RMS`."""
    from iceafm.models import load_detector
    from iceafm.models.train import resolve_device

    adapt = AdaptConfig.from_config(section)
    det = load_detector(base_model)
    check_compatible(det, train_split)
    real = [df for _, df, _ in real_inputs(adapt, predict_real, det, images_dir)]
    sim = split_stacks(train_split)
    key = inputs_key([train_split, base_model])
    state = Path(state_dir) / f"{adapt.translator.hash()}-{key}.pt"
    state.parent.mkdir(parents=True, exist_ok=True)
    model, history = train_translator(adapt.translator, sim, real, state)
    device = resolve_device(adapt.translator.device)
    model.to(device)
    rewrite_split(
        train_split, translated_out,
        lambda i, df: translate(model.g_sr, normalise_slices(df)),
    )  # fmt: skip
    moved = translation_summary(train_split, translated_out)
    print(f"translation: RMS change {moved['translation_rms']:.3f} of a slice's std, Pearson r "
          f"{moved['translation_pearson']:.4f} against the simulated stacks", flush=True)
    if moved["translation_rms"] < IDENTITY_RMS:
        print(f"warning: the translator stays within {IDENTITY_RMS:.0%} RMS of the identity, so "
              "cyclegan and hybrid train on nearly the simulated stacks (adapt.translator: lower "
              "lambda_identity, more epochs)", flush=True)  # fmt: skip
    with atomic_path(translator_out) as tmp:
        shutil.copyfile(state, tmp)
    keys = list(history[0]) if history else ["epoch"]
    lines = [",".join(keys)] + [",".join(f"{row[k]:.6g}" for k in keys) for row in history]
    write_text_atomic(history_csv, "\n".join(lines) + "\n")


# ---------------------------------------------------------------- rule adapt


def augment_config(adapt: AdaptConfig, method: str) -> Any:
    """The :class:`iceafm.data.loader.AugmentConfig` of ``method``: the training defaults, with
    ``adapt.augment`` on top for ``augment``."""
    from iceafm.data.loader import AugmentConfig

    try:
        return AugmentConfig(**(dict(adapt.augment) if method == "augment" else {}))
    except TypeError as err:
        raise AdaptError(f"config adapt.augment: {err}") from None


#: ``adapt.finetune.init``: start every method from the base's weights, or from random ones.
INITS = ("base", "scratch")


def finetune_init(adapt: AdaptConfig) -> str:
    """``adapt.finetune.init`` (default ``base``), checked against :data:`INITS`."""
    init = adapt.finetune.get("init", "base")
    if init not in INITS:
        raise AdaptError(f"config adapt.finetune.init: expected one of {list(INITS)}, got {init!r}")
    return init


def finetune_config(adapt: AdaptConfig, method: str, base: Any) -> Any:
    """The :class:`iceafm.models.train.TrainConfig` of ``method``'s fine-tune (or training from
    scratch, :func:`finetune_init`): the base's architecture and decode, ``adapt.finetune``'s
    schedule."""
    from iceafm.models.train import TrainConfig

    ft = adapt.finetune
    finetune_init(adapt)
    return TrainConfig.from_config({
        "name": f"adapt-{method}",
        "width": base.net.config.width,
        "depth": base.net.config.depth,
        "epochs": ft.get("epochs", 5),
        "batch_size": ft.get("batch_size", 8),
        "lr": ft.get("lr", 3e-4),
        "samples_per_epoch": ft.get("samples_per_epoch"),
        "val_samples": ft.get("val_samples", 64),
        "warmup_epochs": ft.get("warmup_epochs", 0.0),
        "seed": adapt.seed,
        "device": adapt.device,
        "workers": 0,
        "nms_radius_a": base.meta.nms_radius_a,
        **base.meta.water.to_dict(),
        "augment": augment_config(adapt, method).to_dict(),
    })  # fmt: skip


def method_split(
    method: str, train_split: str | Path, translated: str | Path | None, work: Path, seed: int
) -> Path:
    """The split ``method`` fine-tunes on. Hybrid: written under ``work`` as
    ``hybrid_train-<inputs key>-s<seed>.h5``, named by the current versions of ``train_split``
    and ``translated`` (:func:`iceafm.provenance.inputs_key`) and the blend seed, so a remade
    translation or split is blended again; older blends there are removed."""
    if method not in TRANSLATED:
        return Path(train_split)
    if translated is None:
        raise AdaptError(f"adapt method {method}: needs the translated split")
    if method == "cyclegan":
        return Path(translated)
    out = work / f"hybrid_train-{inputs_key([train_split, translated])}-s{seed}.h5"
    if not out.exists():
        for stale in work.glob("hybrid_train*.h5"):
            stale.unlink()
        with h5py.File(translated, "r") as h5:
            moved = h5["df"]

            def blend(i: int, df: np.ndarray) -> np.ndarray:
                w = np.random.default_rng([seed, 7, i]).uniform(0.0, 1.0)
                return w * normalise_slices(df) + (1 - w) * normalise_slices(moved[i])

            rewrite_split(train_split, out, blend)
    return out


def method_adversary(
    method: str, adapt: AdaptConfig, base: Any, split: str | Path,
    real: list[tuple[str, np.ndarray, Any]],
) -> Any:
    """The :class:`iceafm.adapt.adversarial.Adversary` of method ``adversarial`` (head on the
    base's bottleneck, crops of the real model inputs ``real`` at the split's stack size,
    weight ``adapt.adversarial.weight``), else None."""
    if method != "adversarial":
        return None
    from iceafm.adapt.adversarial import Adversary
    from iceafm.data.loader import split_info

    weight = adapt.adversarial.get("weight", ADVERSARIAL_WEIGHT)
    crop_px = split_info(split).df_shape[1:]
    try:
        return Adversary(base.net.bottleneck.out_channels, [df for _, df, _ in real], weight,
                         crop_px, seed=adapt.seed)  # fmt: skip
    except ValueError as err:
        raise AdaptError(f"adapt method adversarial: {err}") from None


def method_inputs(
    method: str, split: Path, adapt: AdaptConfig, n: int
) -> list[np.ndarray]:
    """``n`` normalised stacks (spread over the split, as :func:`split_stacks`) of what
    ``method``'s detector trains on (for the domain gap): the split's entries, through the
    augmentations of ``augment``."""
    if method != "augment":
        return split_stacks(split, n)
    from iceafm.data.loader import augment_sample, iter_split, split_info

    config = augment_config(adapt, method)
    info = split_info(split)
    rng = np.random.default_rng([adapt.seed, 11])
    out = []
    for entry in iter_split(split, n):
        df, _ = augment_sample(entry["df"], entry["symbols"], entry["xyz_a"],
                               entry["targets"], info, config, rng)  # fmt: skip
        out.append(normalise_slices(df).astype(np.float32))
    return out


def reference_properties(split: str | Path, n_max: int, depth_a: float) -> dict[str, np.ndarray]:
    """Local-structure properties of the top ``depth_a`` A (below the topmost O) of ``n_max``
    simulated stacks' structures spread over a split (their labelled atoms; entries without O
    skipped)."""
    from iceafm.data.loader import iter_split
    from iceafm.metrics.label_free import pooled_properties

    structures = []
    for entry in iter_split(split, n_max):
        sym, xyz = np.asarray(entry["symbols"]), entry["xyz_a"]
        if not (sym == "O").any():
            continue
        keep = xyz[:, 2] >= xyz[sym == "O", 2].max() - depth_a
        structures.append((list(sym[keep]), xyz[keep]))
    return pooled_properties(structures)


def held_out_reference_properties(
    frame_files: Sequence[str | Path], depth_a: float
) -> dict[str, np.ndarray]:
    """Local-structure properties of the top ``depth_a`` A (below the topmost O) of every frame
    of the held-out MD trajectories ``frame_files`` (multi-frame extxyz of rule ``md_reference``:
    slabs periodic in x and y; :func:`iceafm.metrics.label_free.surface_layer_properties`).

    Raises:
        AdaptError: a file without frames, or a frame without O or with a cell not orthogonal
            in x and y.
    """
    from ase.io import read
    from ase.io.formats import UnknownFileTypeError

    from iceafm.metrics.label_free import surface_layer_properties

    parts = []
    for path in frame_files:
        try:
            frames = read(path, index=":")
        except (OSError, ValueError, UnknownFileTypeError) as err:
            raise AdaptError(f"{path}: {err}; expected the held-out MD trajectory") from None
        if not frames:
            raise AdaptError(f"{path}: no frames, expected the held-out MD trajectory")
        for k, atoms in enumerate(frames):
            cell = np.asarray(atoms.cell)
            symbols = atoms.get_chemical_symbols()
            if "O" not in symbols or not np.allclose(cell[:2, :2], np.diag(np.diag(cell[:2, :2]))):
                raise AdaptError(f"{path}: frame {k}: expected water with an orthogonal x, y cell")
            parts.append(surface_layer_properties(symbols, atoms.positions,
                                                  (cell[0, 0], cell[1, 1]), depth_a))  # fmt: skip
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def label_free_reference(
    adapt: AdaptConfig, train_split: str | Path, depth_a: float,
    reference_frames: Sequence[str | Path] = (),
) -> tuple[dict[str, np.ndarray], str]:
    """(properties, description) of the label-free reference: the held-out MD trajectories
    ``reference_frames`` where given (``adapt.evaluation.reference``: premelt_md), else the
    labelled top layers of ``evaluation.reference_structures`` training structures."""
    if reference_frames:
        files = ", ".join(str(f) for f in reference_frames)
        return held_out_reference_properties(reference_frames, depth_a), f"premelt_md: {files}"
    n_max = adapt.reference_structures
    return (reference_properties(train_split, n_max, depth_a),
            f"training: {n_max} stacks spread over {train_split}")  # fmt: skip


def resimulate(
    symbols: list[str], xyz_a: np.ndarray, origin_xy_a: tuple[float, float], width_a: float,
    detector: Any, afm: dict[str, Any], margin_a: float = 4.0,
) -> np.ndarray | None:
    """df [n, m, m] (Hz) simulated (ppafm, point charges, :mod:`iceafm.afm`) from the predicted
    atoms in the square window of ``width_a`` A at ``origin_xy_a`` (A, scan frame of the
    prediction) at the detector's pixel size and heights; None if no O lies in the window."""
    from ase import Atoms

    from iceafm.afm.forcefield import build_force_field, slab_z_range
    from iceafm.afm.params import ScanParams, settings_from_config
    from iceafm.afm.scan import relax_fz, simulate_stacks
    from iceafm.afm.views import View

    xyz = np.asarray(xyz_a, np.float64).reshape(-1, 3)
    sym = np.asarray(symbols)
    lo = np.asarray(origin_xy_a) - margin_a
    inside = np.all((xyz[:, :2] >= lo) & (xyz[:, :2] < lo + width_a + 2 * margin_a), axis=1)
    if not (sym[inside] == "O").any():
        return None
    local = xyz[inside] - [lo[0], lo[1], xyz[inside, 2].min() - 6.0]
    box = width_a + 2 * margin_a
    atoms = Atoms(list(sym[inside]), positions=local,
                  cell=[box, box, local[:, 2].max() + 20.0], pbc=[True, True, False])  # fmt: skip
    heights = detector.heights_a
    step = float(np.diff(heights).mean()) if len(heights) > 1 else 0.1
    settings = settings_from_config({**afm, "electrostatics": "point_charges"})
    n_px = int(round(width_a / detector.pixel_size_a))
    scan = ScanParams(size_a=(n_px * detector.pixel_size_a,) * 2,
                      pixel_size_a=detector.pixel_size_a, min_height_a=float(heights[0]),
                      n_heights=len(heights), height_step_a=step)  # fmt: skip
    settings = replace(settings, scan=scan)
    z_top = float(atoms.positions[:, 2].max())
    z_range = slab_z_range(z_top, scan.heights_a, settings.cantilever.amplitude_a)
    ff = build_force_field(atoms, "point_charges", settings.tip.multipole,
                           settings.tip.sigma_a, z_range, settings.ff_step_a)  # fmt: skip
    half = 0.5 * detector.pixel_size_a * (n_px - 1)
    view = View((margin_a + half, margin_a + half), 0.0)
    df = simulate_stacks(ff, z_top, [view], [settings.tip], settings.cantilever, scan, relax_fz)
    return df[0, 0]


def resim_consistency(
    symbols: list[str], xyz_a: np.ndarray, df: np.ndarray, detector: Any, afm: dict[str, Any],
    window_a: float,
) -> dict[str, Any]:
    """How well the predicted atoms (``symbols``, ``xyz_a`` [n, 3] A, the scan frame of the real
    stack ``df`` [n_h, ny, nx]) re-simulate the real stack: the central window of ``window_a``
    A (or the whole scan where smaller), :func:`resimulate` against the real slices by
    :func:`iceafm.metrics.label_free.resim_pearson` (lateral shift within 2 A):
    {"resim_pearson": mean per-slice r, "resim_shift_px": [dy, dx]}, or {"resim_pearson":
    None} where no predicted O lies in the window."""
    from iceafm.metrics.label_free import resim_pearson

    ny, nx = df.shape[1:]
    p = detector.pixel_size_a
    w = min(window_a, nx * p, ny * p)
    m = int(round(w / p))
    y0, x0 = (ny - m) // 2, (nx - m) // 2
    sim = resimulate(symbols, xyz_a, (x0 * p, y0 * p), w, detector, afm)
    if sim is None:
        return {"resim_pearson": None}
    k = min(len(sim), len(df))
    r, _, shift = resim_pearson(sim[:k, :m, :m], df[:k, y0 : y0 + m, x0 : x0 + m],
                                max_shift_px=int(2.0 / p))  # fmt: skip
    return {"resim_pearson": r, "resim_shift_px": list(shift)}


def simulated_scores(
    detector: Any, split: str | Path, n_max: int
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """(local-structure properties of ``detector``'s predictions, {"O", "H": F1 within 1.5 A of
    the top} with its own thresholds) on ``n_max`` stacks spread over a labelled simulated split,
    from one pass of predictions (:func:`iceafm.models.evaluate.evaluate_split`)."""
    from iceafm.metrics.label_free import pooled_properties
    from iceafm.models.evaluate import evaluate_split

    found: list[Any] = []
    summary = evaluate_split(detector, split, max_stacks=n_max, detections=found)["summary"]
    properties = pooled_properties(
        [(list(f.symbols), np.asarray(f.positions_a).reshape(-1, 3)) for f in found]
    )
    return properties, {s: float(summary[f"{s}.f1_0_1.5"]) for s in ("O", "H")}


def base_f1(
    base: Any, base_model: str | Path, split: str | Path, n_max: int, work: str | Path
) -> dict[str, float]:
    """The base detector's {"O", "H"} F1 of :func:`simulated_scores` on ``split``, worked out
    once per version of the base and the split and kept beside the methods' state folders, in
    the parent of ``work`` (rule adapt: ``scratch/adapt/``), so every method's job reads the
    same file; jobs that race write the same values atomically."""
    path = Path(work).parent / f"base_f1-{inputs_key([base_model, split])}-{n_max}.json"
    if path.exists():
        return json.loads(path.read_text())
    f1 = simulated_scores(base, split, n_max)[1]
    write_text_atomic(path, json.dumps(f1) + "\n")
    return f1


#: How far below its base's O F1 a fine-tune's may fall before :func:`finetune_warning` warns:
#: under the binomial sampling error of an F1 near 0.72 over the 851 top-layer O of 50 validation
#: stacks of the bench campaign (0.015), so one warning is a hint, not a verdict; there the
#: 4-epoch `none` fine-tune came out 0.013 below the shipped base (all 96 stacks).
F1_TOLERANCE = 0.01


def finetune_warning(method: str, metrics: dict[str, Any]) -> str | None:
    """The warning line for a fine-tune whose O F1 on the simulated validation stacks
    (:func:`evaluate_method`) is more than :data:`F1_TOLERANCE` below its base's, else None."""
    tuned, base = metrics["simulated_o_f1"], metrics["simulated_o_f1_base"]
    if not tuned < base - F1_TOLERANCE:  # also NaN: not measured
        return None
    return (f"warning: adapt {method}: O F1 {tuned:.3f} on simulated validation stacks, below the "
            f"base's {base:.3f}: adapt.finetune.epochs may be too few for it to catch up, and the "
            "methods then differ by how far each got")


def evaluate_method(
    method: str, detector: Any, base: Any, adapt: AdaptConfig, split: Path,
    train_split: str | Path, real: list[tuple[str, np.ndarray, Any]], afm: dict[str, Any],
    val_split: str | Path, val_f1_base: dict[str, float],
    reference_frames: Sequence[str | Path] = (),
) -> tuple[dict[str, Any], list[Any]]:
    """Label-free metrics of ``method``'s fine-tuned ``detector`` (see the module docstring)
    and the predictions (ASE Atoms, one per real stack, x, y in A in the model-input frame),
    against :func:`label_free_reference` (``reference_frames``: the held-out MD trajectories).

    Also the distances of the detector's predictions on up to
    ``evaluation.reference_structures`` simulated validation stacks against the same reference
    (``*_simulated``): what the detector scores without any domain gap, the floor of the
    real-image values (against the training reference, an ideal lattice for crystalline
    structures, positional errors alone give a nonzero distance; the thresholds were calibrated
    on that split), and the O and H F1 of the fine-tune and of the base on those stacks
    (``simulated_o_f1``, ``simulated_o_f1_base``, ``simulated_f1``): a fine-tune below its base
    there has not caught up (too few ``finetune.epochs``), and the methods then differ by how
    far each got (:func:`finetune_warning`). ``val_f1_base``: the base's F1 there
    (:func:`base_f1`).

    The domain classifier is trained ``evaluation.domain_repeats`` times (seeds ``adapt.seed x
    repeats + r``): ``domain_classifier_accuracy`` is the mean, ``_sd`` the spread over those
    seeds (on the same inputs one classifier's accuracy has an sd of 0.03-0.09 over seeds)."""
    from ase import Atoms

    from iceafm.adapt.domain import detector_features, domain_classifier_accuracy
    from iceafm.data.loader import spread_entries
    from iceafm.metrics.label_free import (
        RANGES,
        distribution_distances,
        frechet_distance,
        pooled_properties,
    )
    from iceafm.predict import REAL_SCAN_EDGE_MARGIN_A

    ev = adapt.evaluation
    frames, structures, per_stack = [], [], {}
    resim_values = []
    window = float(ev.get("resim_window_a", 12.8))
    n_resim = ev.get("resim_stacks")
    resim_names = [real[i][0] for i in spread_entries(len(real), n_resim)]
    for name, df, _ in real:
        found = detector.detect(df, edge_margin_a=REAL_SCAN_EDGE_MARGIN_A)
        pos = np.asarray(found.positions_a).reshape(-1, 3)
        structures.append((list(found.symbols), pos))
        ny, nx = df.shape[1:]
        p = detector.pixel_size_a
        atoms = Atoms(list(found.symbols), positions=pos, cell=[nx * p, ny * p, 0], pbc=False)
        atoms.info.update(stack=name, method=method)
        atoms.set_array("confidence", np.asarray(found.confidence, np.float64))
        if found.molecule is not None:
            atoms.set_array("molecule", np.asarray(found.molecule, np.int64))
        atoms.info["decode"] = json.dumps(found.decode, sort_keys=True)
        frames.append(atoms)
        entry = {"n_O": int(sum(s == "O" for s in found.symbols)),
                 "n_H": int(sum(s == "H" for s in found.symbols)), "resim_pearson": None}
        if name in resim_names:
            entry.update(resim_consistency(list(found.symbols), pos, df, detector, afm, window))
            if entry["resim_pearson"] is not None:
                resim_values.append(entry["resim_pearson"])
        per_stack[name] = entry
    n_reference = adapt.reference_structures
    reference, reference_name = label_free_reference(adapt, train_split,
                                                     float(base.meta.depth_a), reference_frames)
    distances = distribution_distances(pooled_properties(structures), reference)
    properties, tuned_f1 = simulated_scores(detector, val_split, n_reference)
    floor = distribution_distances(properties, reference)
    f1 = {"finetune": tuned_f1, "base": val_f1_base}
    real_dfs = [df for _, df, _ in real]
    inputs = method_inputs(method, split, adapt, int(ev.get("domain_stacks", 64)))
    repeats = int(ev.get("domain_repeats", 3))
    accuracies = [domain_classifier_accuracy(
        inputs, real_dfs, n_train=int(ev.get("domain_crops", 512)),
        epochs=int(ev.get("domain_epochs", 5)), seed=adapt.seed * repeats + r,
    ) for r in range(repeats)]  # fmt: skip
    n_fid = int(ev.get("fid_crops", 256))
    fid = frechet_distance(detector_features(base, inputs, n_fid, seed=adapt.seed),
                           detector_features(base, real_dfs, n_fid, seed=adapt.seed + 1))
    metrics = {
        "method": method,
        "energy_distance_d_oo": distances["d_oo"]["energy"],
        "energy_distance_hbond": distances["hbond"]["energy"],
        "energy_distance_d_oo_simulated": floor["d_oo"]["energy"],
        "energy_distance_hbond_simulated": floor["hbond"]["energy"],
        "simulated_o_f1": f1["finetune"]["O"],
        "simulated_o_f1_base": f1["base"]["O"],
        "simulated_f1": f1,
        "wasserstein_d_oo": distances["d_oo"]["wasserstein"],
        "wasserstein_hbond": distances["hbond_oo"]["wasserstein"],
        "domain_classifier_accuracy": float(np.mean(accuracies)),
        "domain_classifier_accuracy_sd": float(np.std(accuracies, ddof=1)) if repeats > 1 else 0.0,
        "domain_classifier_accuracies": accuracies,
        "fid_detector_features": fid,
        "resim_pearson": float(np.mean(resim_values)) if resim_values else float("nan"),
        "distances": distances,
        "distances_simulated": floor,
        "ranges": {k: list(v) for k, v in RANGES.items()},
        "reference": reference_name,
        "per_stack": per_stack,
        "finetune_split": str(split),
        "decode": detector.meta.water.to_dict(),
    }
    return metrics, frames


def run_method(
    method: str,
    section: dict[str, Any],
    predict_real: dict[str, Any],
    afm: dict[str, Any],
    images_dir: str | Path,
    train_split: str | Path,
    val_split: str | Path,
    base_model: str | Path,
    translated: str | Path | None,
    state_dir: str | Path,
    detector_out: str | Path,
    predictions_out: str | Path,
    metrics_out: str | Path,
    log_csv: str | Path,
    reference_frames: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Rule ``adapt``: fine-tune the base detector for ``method`` (resumable under
    ``state_dir``), calibrate its per-species thresholds on ``val_split``, predict every real
    stack, evaluate (against the held-out MD trajectories ``reference_frames`` where given:
    :func:`label_free_reference`); write the three outputs. With ``adapt.calibrate_augment``,
    ``augment``'s noise, gradient and scan-line amplitudes are first measured on the real
    stacks (:func:`iceafm.adapt.calibrate.calibrate_augment`, recorded as
    ``augment_calibration``)."""
    import torch
    from ase.io import write

    from iceafm.models import load_detector, save_detector
    from iceafm.models.evaluate import calibrate_thresholds
    from iceafm.models.train import train_detector

    adapt = AdaptConfig.from_config(section)
    if method not in adapt.methods:
        raise AdaptError(f"adapt method {method!r}: not in adapt.methods {list(adapt.methods)}")
    base = load_detector(base_model)
    check_compatible(base, train_split)
    work = Path(state_dir)
    work.mkdir(parents=True, exist_ok=True)
    split = method_split(method, train_split, translated, work, adapt.seed)
    base.net.to("cpu")
    real = real_inputs(adapt, predict_real, base, images_dir)
    calibration = None
    if method == "augment" and adapt.calibrate_augment:
        from iceafm.adapt.calibrate import calibrate_augment

        n_sim = int(adapt.evaluation.get("domain_stacks", 64))
        augment, calibration = calibrate_augment(
            split_stacks(train_split, n_sim), [df for _, df, _ in real],
            augment_config(adapt, method), seed=adapt.seed,
        )  # fmt: skip
        adapt = replace(adapt, augment=augment.to_dict())
    config = finetune_config(adapt, method, base)
    init_from = finetune_init(adapt)
    # the fine-tune resumes only on the same versions of the base and the splits it reads
    inputs = inputs_key([base_model, train_split, val_split, *([translated] if translated else [])])
    scratch = init_from == "scratch"
    adversary = method_adversary(method, adapt, base, split, real)
    tag = "".join([method, "-scratch" if scratch else "",
                   f"-{adversary.key}" if adversary is not None else ""])  # fmt: skip
    state = work / f"{tag}-{config.hash()}-{inputs}.pt"
    init = None if scratch else {k: v.clone() for k, v in base.net.state_dict().items()}
    tuned = train_detector(config, split, val_split, state, log_csv, init_state=init,
                           adversary=adversary)  # fmt: skip
    # decode thresholds calibrated on the (simulated) validation split, as for the shipped model
    tuned.meta.threshold = calibrate_thresholds(tuned, val_split, max_stacks=config.val_samples)
    tuned.net.to("cpu")
    tuned.device = torch.device("cpu")
    save_detector(detector_out, tuned)
    f1_base = base_f1(base, base_model, val_split, adapt.reference_structures, work)
    metrics, frames = evaluate_method(method, tuned, base, adapt, split, train_split, real, afm,
                                      val_split, f1_base, reference_frames)
    print(f"adapt {method}: O F1 {metrics['simulated_o_f1']:.3f} on simulated validation stacks "
          f"(base {metrics['simulated_o_f1_base']:.3f})", flush=True)
    if warning := finetune_warning(method, metrics):
        print(warning, flush=True)
    metrics["finetune_init"] = init_from
    if adversary is not None:
        metrics["adversarial_weight"] = adversary.weight
    if calibration is not None:
        metrics["augment_calibration"] = calibration
    with atomic_path(predictions_out) as tmp:
        write(tmp, frames, format="extxyz")
    write_text_atomic(metrics_out, json.dumps(metrics, indent=1, default=float) + "\n")
    return metrics


COMPARISON_KEYS = (
    "energy_distance_d_oo", "energy_distance_hbond", "wasserstein_d_oo", "wasserstein_hbond",
    "domain_classifier_accuracy", "fid_detector_features", "resim_pearson",
    "energy_distance_d_oo_simulated", "energy_distance_hbond_simulated", "simulated_o_f1",
    "simulated_o_f1_base",
)  # fmt: skip


def comparison_rows(metrics: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method: the headline metrics of :data:`COMPARISON_KEYS`."""
    return [{"method": m, **{k: values[k] for k in COMPARISON_KEYS}} for m, values in
            metrics.items()]  # fmt: skip


def best_method(metrics: dict[str, dict[str, Any]]) -> str:
    """The method with the best mean rank over the four headline metrics (lower energy
    distances and classifier accuracy, higher re-simulation Pearson are better; NaN ranks last)."""
    keys = {"energy_distance_d_oo": 1, "energy_distance_hbond": 1,
            "domain_classifier_accuracy": 1, "resim_pearson": -1}  # fmt: skip
    names = list(metrics)
    ranks = np.zeros(len(names))
    for key, sign in keys.items():
        values = np.array([sign * float(metrics[n][key]) for n in names])
        values[np.isnan(values)] = np.inf
        ranks += np.argsort(np.argsort(values))
    return names[int(np.argmin(ranks))]


#: The headline metrics of :func:`paired_vs_baseline` -> the :mod:`iceafm.metrics.label_free`
#: property whose energy distance it is (None: a mean of per-unit values, :func:`_paired_values`).
BOOTSTRAP_KEYS: dict[str, str | None] = {
    "energy_distance_d_oo": "d_oo", "energy_distance_hbond": "hbond", "resim_pearson": None,
    "domain_classifier_accuracy": None,
}  # fmt: skip


def _paired_values(
    key: str, method: dict[str, Any], baseline: dict[str, Any], stacks: list[str]
) -> list[tuple[float, float]]:
    """(method, baseline) value pairs of a per-unit metric of two methods' metrics.json:
    ``resim_pearson`` per real stack re-simulated for both; ``domain_classifier_accuracy`` per
    classifier seed (``domain_classifier_accuracies``: the same seed draws the same real crops;
    none where either run predates them)."""
    if key == "resim_pearson":
        pairs = [(method["per_stack"][n][key], baseline["per_stack"][n][key]) for n in stacks]
        return [p for p in pairs if p[0] is not None and p[1] is not None]
    if key == "domain_classifier_accuracy":
        a, b = (m.get("domain_classifier_accuracies", []) for m in (method, baseline))
        return list(zip(a, b, strict=True)) if len(a) == len(b) else []
    raise AdaptError(f"adapt bootstrap: no per-unit values known for {key!r}")


def paired_vs_baseline(
    metrics: dict[str, dict[str, Any]],
    frames: dict[str, list[Any]],
    reference: dict[str, np.ndarray],
    baseline: str = "none",
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Each method minus ``baseline`` on :data:`BOOTSTRAP_KEYS`, with a paired bootstrap over
    the real stacks (:func:`iceafm.metrics.bootstrap.paired_bootstrap`, the same draws for every
    method): ``resim_pearson`` as the mean over the stacks re-simulated for both (``per_stack``
    of ``metrics``); ``domain_classifier_accuracy`` over the classifier seeds instead (the unit
    is a seed, :func:`_paired_values`); the energy distances of the pooled local-structure
    properties of the drawn stacks' predictions (``frames``: ASE Atoms with ``info["stack"]``,
    as ``predictions.extxyz`` holds them) against ``reference``. A positive ``resim_pearson``
    diff and negative energy distance and classifier accuracy diffs favour the method;
    ``significant``: the interval excludes 0."""
    from iceafm.metrics.bootstrap import mean_statistic, paired_bootstrap
    from iceafm.metrics.label_free import RANGES, distribution_distances, local_properties

    def properties(method: str) -> list[dict[str, np.ndarray]]:
        by_name = {a.info["stack"]: a for a in frames[method]}
        if sorted(by_name) != sorted(stacks):
            raise AdaptError(f"adapt bootstrap: {method} predicts stacks {sorted(by_name)}, "
                             f"{baseline} {sorted(stacks)}")  # fmt: skip
        return [local_properties(list(by_name[n].get_chemical_symbols()), by_name[n].positions)
                for n in stacks]  # fmt: skip

    def energy(parts: list[dict[str, np.ndarray]], prop: str):
        def statistic(indices: np.ndarray) -> float:
            pooled = {k: np.concatenate([parts[i][k] for i in indices]) for k in RANGES}
            return distribution_distances(pooled, reference, only=(prop,))[prop]["energy"]

        return statistic

    if baseline not in metrics:
        raise AdaptError(f"adapt bootstrap: baseline {baseline!r} not among {list(metrics)}")
    stacks = [a.info["stack"] for a in frames[baseline]]
    base_parts = properties(baseline)
    out = {}
    for method in metrics:
        if method == baseline:
            continue
        parts, result = properties(method), {}
        for key, prop in BOOTSTRAP_KEYS.items():
            if prop is None:
                pairs = _paired_values(key, metrics[method], metrics[baseline], stacks)
                if not pairs:
                    continue
                a, b = zip(*pairs, strict=True)
                value = paired_bootstrap(mean_statistic(a), mean_statistic(b), len(pairs),
                                         n_resamples, seed)  # fmt: skip
            else:
                value = paired_bootstrap(energy(parts, prop), energy(base_parts, prop),
                                         len(stacks), n_resamples, seed)  # fmt: skip
            low, high = value["ci"]
            value["significant"] = bool(low > 0 or high < 0)
            result[key] = value
        out[method] = result
    return out


def run_compare(
    metrics_paths: dict[str, str | Path],
    predictions_paths: dict[str, str | Path],
    section: dict[str, Any],
    predict_real: dict[str, Any],
    images_dir: str | Path,
    train_split: str | Path,
    base_model: str | Path,
    translated: str | Path | None,
    csv_out: str | Path,
    figure_paths: tuple[str | Path, ...],
    reference_frames: Sequence[str | Path] = (),
    reference: dict[str, np.ndarray] | None = None,
) -> str:
    """Rule ``adapt_compare``: ``comparison.csv`` (one row per method, plus which is best) and
    the figure (:func:`iceafm.figures.adapt.adapt_figure`); return the best method. The
    figure's reference distributions are :func:`label_free_reference`'s, or ``reference``
    (properties as :func:`iceafm.metrics.label_free.pooled_properties` gives them) where given:
    the one the metrics were scored against."""
    from ase.io import read

    from iceafm.figures import save_figure
    from iceafm.figures.adapt import adapt_figure
    from iceafm.metrics.label_free import pooled_properties
    from iceafm.models import load_detector

    adapt = AdaptConfig.from_config(section)
    metrics = {m: json.loads(Path(p).read_text()) for m, p in metrics_paths.items()}
    best = best_method(metrics)
    rows = comparison_rows(metrics)
    lines = [",".join(["method", *COMPARISON_KEYS, "best"])]
    for row in rows:
        values = [f"{float(row[k]):.6g}" for k in COMPARISON_KEYS]
        lines.append(",".join([row["method"], *values, str(row["method"] == best).lower()]))
    write_text_atomic(csv_out, "\n".join(lines) + "\n")
    base = load_detector(base_model)
    real = [(name, df) for name, df, _ in real_inputs(adapt, predict_real, base, images_dir)]
    predictions = {m: read(p, index=":") for m, p in predictions_paths.items()}
    simulated = split_stacks(train_split, 1)[0]
    moved = split_stacks(translated, 1)[0] if translated else None
    if reference is None:
        reference, _ = label_free_reference(adapt, train_split, float(base.meta.depth_a),
                                            reference_frames)  # fmt: skip
    distributions = {"reference": reference}
    for method, frames in predictions.items():
        distributions[method] = pooled_properties(
            [(a.get_chemical_symbols(), a.positions) for a in frames]
        )
    fig = adapt_figure(real, base.pixel_size_a, simulated, moved, predictions, metrics,
                       distributions)  # fmt: skip
    save_figure(fig, *figure_paths)
    return best
