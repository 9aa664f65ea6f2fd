"""``iceafm predict``: any AFM stack -> top-layer O and H atoms in the stack's own scan frame.

Steps per stack (:func:`predict_stack`): the scan size (recorded, given, or estimated from the
ice lattice), optional scan-line correction, per-slice normalisation, resampling to the model's
pixel size (:func:`iceafm.io.stacks.resample`: cubic B-spline, Gaussian anti-aliasing when
downsampling; the resampled grid keeps the input's origin, so positions in A need no mapping
back), the slices matching the model's heights (:func:`select_slices`), ``det.detect``.

Output frame, exactly: x, y in A in the INPUT's scan frame (input pixel (iy, ix) centred at
(ix px, iy py)), z in A relative to the topmost predicted O. Files (:func:`write_prediction`):
``DIR/<stem>.extxyz`` (ASE extxyz; ``info``: model, input, resampling, slices used, notes, the
``decode`` (water assembly on or off, :mod:`iceafm.models.assemble`); per-atom ``confidence``
and ``molecule``: each H after its O) and ``DIR/<stem>.png`` (the prediction over the closest
slice), both written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from iceafm.io.atomic import atomic_path
from iceafm.io.stacks import (
    Stack,
    StackReadError,
    normalise_slices,
    read_stacks,
    resample,
    stack_files,
    subtract_row_median,
    with_given_scan_size,
    with_scan_size,
)

#: Slack (A) when checking that a stack's heights overlap the model's.
HEIGHT_TOLERANCE_A = 0.05
LINE_CORRECTIONS = ("none", "row_median")


class PredictError(ValueError):
    """A stack cannot be predicted with this model (one-line message)."""


@dataclass
class Prediction:
    """Atoms of one stack in its scan frame (see the module docstring) and what was done.

    ``symbols`` [n], ``positions_a`` [n, 3] (A), ``confidence`` [n]; ``stack``: the input (slice 0
    closest, its pixel size known); ``info``: provenance for the extxyz header (str values);
    ``molecule`` [n]: each atom's water (its O's rank; -1 for an H of the raw decode), or None."""

    symbols: list[str]
    positions_a: np.ndarray
    confidence: np.ndarray
    stack: Stack
    info: dict[str, str]
    molecule: np.ndarray | None = None


def select_slices(
    stack: Stack, model_heights_a: np.ndarray, n_model: int
) -> tuple[np.ndarray, str]:
    """Indices of the stack slices fed to the model, and how they were chosen (one line).

    With heights: for each model height, the nearest stack slice (a slice may repeat when the
    stack is sparser); refused (:class:`PredictError`) when the stack's height range and the
    model's do not overlap (within 0.05 A). Without heights: the ``n_model`` closest slices, or
    all of them when the stack has fewer (the network takes fewer slices than it was trained on).
    """
    n = len(stack.df)
    if stack.heights_a is None:
        idx = np.arange(min(n, n_model))
        how = (
            f"no heights recorded: the {len(idx)} closest slices of {n} "
            f"(model trained on {n_model} at {_fmt(model_heights_a)} A)"
        )
        return idx, how
    heights = stack.heights_a
    lo, hi = float(model_heights_a.min()), float(model_heights_a.max())
    if heights.max() < lo - HEIGHT_TOLERANCE_A or heights.min() > hi + HEIGHT_TOLERANCE_A:
        raise PredictError(
            f"{stack.source} ({stack.name}): heights {heights.min():.2f}..{heights.max():.2f} A "
            f"do not overlap the model's {lo:.2f}..{hi:.2f} A"
        )
    idx = np.abs(heights[None, :] - model_heights_a[:, None]).argmin(axis=1)
    err = float(np.abs(heights[idx] - model_heights_a).max())
    how = (
        f"nearest slices {idx.tolist()} at {_fmt(heights[idx])} A for model heights "
        f"{_fmt(model_heights_a)} A (max mismatch {err:.2f} A)"
    )
    return idx, how


def _fmt(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in np.asarray(values)) + "]"


#: Detections within this of a real scan's edge are dropped (A; Detector.detect): the network
#: fires along the edge of a non-periodic scan. On the shared images the shipped model put 21 of
#: 46, 26 of 66 and 65 of 135 O of Ying_Jiang_1, _3 and _4 within 0.5 A of it, none between 0.5
#: and 3 A; on the 70 A premelting surface 9 of 163 (an even spread would put 5 there).
REAL_SCAN_EDGE_MARGIN_A = 0.5


def prepare_stack(
    stack: Stack, det: Any, line_correction: str = "none"
) -> tuple[np.ndarray, dict[str, str], Stack]:
    """Model input [n, ny', nx'] for ``stack``, its provenance and the stack with its scan size."""
    if line_correction not in LINE_CORRECTIONS:
        raise PredictError(f"line correction: expected one of {LINE_CORRECTIONS}, got "
                           f"{line_correction!r}")
    stack = with_scan_size(stack)
    idx, how = select_slices(stack, det.heights_a, det.n_slices)
    df = stack.df[idx]
    if line_correction == "row_median":
        df = subtract_row_median(df)
    df = normalise_slices(df)
    px, py = stack.pixel_size_xy_a
    df_model = resample(df, (px, py), det.pixel_size_a)
    if min(df_model.shape[1:]) < 8:
        raise PredictError(
            f"{stack.source} ({stack.name}): {df.shape[2]} x {df.shape[1]} px at {px:.3f} A is "
            f"{df_model.shape[2]} x {df_model.shape[1]} px at the model's {det.pixel_size_a} A; "
            "expected at least 8 x 8"
        )
    ny, nx = stack.df.shape[1:]
    info = {
        "input": stack.source,
        "stack": stack.name,
        "input_shape": f"{len(stack.df)} x {ny} x {nx} (slices x ny x nx)",
        "input_pixel_size_a": f"{px:.5f} {py:.5f}",
        "scan_size_a": f"{nx * px:.3f} {ny * py:.3f}",
        "resampling": (
            f"{nx} x {ny} px at ({px:.5f}, {py:.5f}) A -> {df_model.shape[2]} x "
            f"{df_model.shape[1]} px at {det.pixel_size_a} A, cubic B-spline (scipy map_coordinates"
            ", order 3), Gaussian anti-aliasing sigma (f-1)/2 px when downsampling by f; same "
            "origin, so x, y are in the input frame"
        ),
        "slices_used": how,
        "line_correction": line_correction,
        "normalisation": "per slice: zero mean, unit std",
        "reader_notes": "; ".join(stack.notes),
    }
    return df_model, info, stack


def predict_stack(
    det: Any,
    stack: Stack,
    model_label: str,
    line_correction: str = "none",
    refine: dict[str, Any] | None = None,
) -> Prediction:
    """Run ``det`` (the contract of :func:`iceafm.models.load_detector`) on one stack; where
    ``refine`` ({"restraint_ev_a2": eV/A^2 or None, "orientation": one of
    :data:`iceafm.models.refine.ORIENTATIONS`}, the config section ``predict_real.refine``)
    gives a restraint, refine the predicted waters
    (:func:`iceafm.models.refine.refine_waters`: rigid TIP4P/Ice waters relaxed under that
    restraint to the detected O; each atom keeps its confidence)."""
    df_model, info, stack = prepare_stack(stack, det, line_correction)
    detection = det.detect(df_model, edge_margin_a=REAL_SCAN_EDGE_MARGIN_A)
    symbols = list(detection.symbols)
    positions = np.asarray(detection.positions_a, dtype=np.float64).reshape(-1, 3)
    confidence = np.asarray(detection.confidence, dtype=np.float64).ravel()
    molecule = getattr(detection, "molecule", None)
    refined = "none"
    if refine is not None and refine.get("restraint_ev_a2") is not None:
        from iceafm.models.refine import REFINE_STEPS, refine_waters

        k, orientation = refine["restraint_ev_a2"], refine["orientation"]
        symbols, positions, source = refine_waters(symbols, positions, k, REFINE_STEPS,
                                                   orientation)  # fmt: skip
        confidence = confidence[source]
        molecule = np.cumsum(np.array(symbols) == "O") - 1
        if symbols:  # refined waters always start with an O: the frame's z = 0 at the topmost
            positions[:, 2] -= positions[np.array(symbols) == "O", 2].max()
        refined = (f"rigid TIP4P/Ice waters, {REFINE_STEPS} L-BFGS steps, O restrained to the "
                   f"detection at {k:g} eV/A^2, H orientation {orientation} "
                   "(iceafm.models.refine)")  # fmt: skip
    info = {
        "model": model_label,
        "model_info": json.dumps(det.info, sort_keys=True, default=str),
        "model_pixel_size_a": f"{det.pixel_size_a}",
        "decode": json.dumps(getattr(detection, "decode", {}), sort_keys=True),
        "edge_margin_a": f"{REAL_SCAN_EDGE_MARGIN_A}",
        "refinement": refined,
        **info,
        "frame": (
            "x, y in A in the input's scan frame (input pixel (iy, ix) at (ix px, iy py)); "
            "z in A relative to the topmost predicted O"
        ),
    }
    return Prediction(symbols, positions, confidence, stack, info, molecule)


def configured_stack(section: dict[str, Any], images_dir: str | Path, name: str) -> Stack:
    """Stack ``name`` of the ``predict_real`` config section's inputs under ``images_dir``, with
    its scan size: ``scan_size_a[name]`` if configured, else the recorded one (npz, .sxm,
    cell.txt), else ``assumed_scan_size_a`` if not null, else estimated from the ice lattice."""
    for entry in section["inputs"]:
        path = Path(images_dir) / entry
        if name not in stack_files(path):
            continue
        stack = next(s for s in read_stacks(path, None, section["closest"]) if s.name == name)
        if name in section["scan_size_a"]:
            given = section["scan_size_a"][name]
            return with_given_scan_size(stack, given, "predict_real.scan_size_a")
        if stack.pixel_size_xy_a is None and section["assumed_scan_size_a"] is not None:
            return with_given_scan_size(
                stack, section["assumed_scan_size_a"], "predict_real.assumed_scan_size_a (assumed)"
            )
        return with_scan_size(stack)
    raise StackReadError(f"{images_dir}: no stack {name!r} in predict_real.inputs")


def prediction_atoms(prediction: Prediction) -> Atoms:
    """ASE Atoms of a prediction: cell = scan size (x, y; z 0, no periodicity), ``info``,
    per-atom ``confidence`` array."""
    width, height = prediction.stack.scan_size_a
    atoms = Atoms(
        symbols=prediction.symbols,
        positions=prediction.positions_a,
        cell=[width, height, 0.0],
        pbc=False,
    )
    atoms.set_array("confidence", prediction.confidence)
    if prediction.molecule is not None:
        atoms.set_array("molecule", np.asarray(prediction.molecule, dtype=np.int64))
    atoms.info.update(prediction.info)
    return atoms


def write_prediction(out_dir: str | Path, prediction: Prediction) -> tuple[Path, Path]:
    """Write ``<stem>.extxyz`` and ``<stem>.png`` into ``out_dir`` atomically; return both."""
    from ase.io import write

    from iceafm.figures import save_figure
    from iceafm.figures.predict import prediction_figure

    out_dir = Path(out_dir)
    stem = prediction.stack.name
    xyz_path, png_path = out_dir / f"{stem}.extxyz", out_dir / f"{stem}.png"
    with atomic_path(xyz_path) as tmp:
        write(tmp, prediction_atoms(prediction), format="extxyz")
    fig = prediction_figure(prediction)
    save_figure(fig, png_path)
    return xyz_path, png_path

