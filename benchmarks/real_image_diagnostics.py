"""Why the detector reads the real images poorly (issue 11): label-free probes.

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/real_image_diagnostics.py \
        --dataset /path/to/results/dataset [--model PT]

Each probe asks whether a cheap inference-time change closes part of the gap between the
shipped detector's predictions on the real stacks and the goals of issue 11 (energy distances
as in benchmarks/domain_adaptation.py: against its headline "thermal" reference, pooled over
every real stack and on the premelting surface alone, ``*_surface``):

- ``threshold_sweep``: the same network output decoded at lower O and H confidence thresholds.
  If the detector only under-rated true molecules on the real images, more O at the right
  places would lower the energy distances as the O density (``o_density_ratio``: O per A^2 on
  the surface stack over the reference's) approaches 1.
- ``o_nms_radius``: the same output decoded with O's non-maximum suppression radius at each of
  :data:`O_NMS_RADII_A` (A), on the simulated test split (``simulated``: the keys of
  structure_from_afm.json) and on the real stacks (``real``): O candidates closer than water's
  O-O distance allows (about 2.4 A, the onset of the O-O radial distribution) kept or dropped;
  ``real_o_nearest_o_below_2.5_a``: the fraction of O on the real stacks whose nearest O is
  closer than 2.5 A (``reference_o_nearest_o_below_2.5_a``: the same in the reference).
- ``flip_averaging``: test-time averaging of the network output over the four x/y mirror
  images of the input (each output mirrored back, fractional offsets reflected), on the
  simulated test split (``simulated``: the keys of structure_from_afm.json) and on the real
  stacks (``real``).
- ``slice_spacing``: every real stack fed as if its slices were closer together than the
  model's (``fraction``: real slices per model slice, linear interpolation between slices, from
  the closest slice or the next, ``offset``; 1/0 is the shipped reader, 0 repeats one slice), and
  ``slice_correlation``: the correlation of each slice with the closest one (slices normalised),
  per real stack and the median over the simulated validation split (``val.h5``; model heights
  apart), the label-free evidence on the real stacks' height step.
- ``cluster_slice_choice``: O found on each real cluster stack when the model is fed other
  slices (``offset/stride``: slices offset, offset + stride, ... from the closest; no heights
  are recorded for these stacks, so the shipped reader takes the closest ones): whether the
  near-empty predictions there come from slice alignment.

Writes ``benchmarks/results/real_image_diagnostics.json``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import machine_info, write_result
from domain_adaptation import (
    IMAGES,
    PREDICT_REAL,
    SURFACE_STACKS,
    label_free_values,
    thermal_reference,
)
from structure_from_afm import SPLIT_KEYS

from iceafm.adapt.pipeline import AdaptConfig
from iceafm.adapt.pipeline import real_inputs as adapt_real_inputs
from iceafm.data.loader import iter_split
from iceafm.io.stacks import Stack, normalise_slices, stack_files
from iceafm.metrics.label_free import pooled_properties
from iceafm.models import load_detector
from iceafm.models.evaluate import evaluate_split
from iceafm.predict import REAL_SCAN_EDGE_MARGIN_A, configured_stack, prepare_stack

#: O and H thresholds of the sweep (the shipped detector's own first).
THRESHOLDS = (0.25, 0.2, 0.15, 0.1, 0.05, 0.02)
#: O non-maximum suppression radii (A) of the NMS probe (H keeps the detector's own).
O_NMS_RADII_A = (2.2, 2.4, 2.5, 2.6)
#: (offset, stride) of the slices fed to the model in the cluster probe.
SLICE_CHOICES = tuple((o, s) for o in range(4) for s in (1, 2))
#: (fraction, offset) of the slice-spacing probe: model slice k reads real slice offset + k x
#: fraction.
SPACINGS = tuple((f, o) for f in (1.0, 0.5, 0.33, 0.25, 0.15, 0.0) for o in (0.0, 1.0))
CLUSTER_FOLDER = "ice_clusters_styletrans"


def flips_averaged(predict_grid):
    """``predict_grid`` (batch [B, n, ny, nx] -> grids [B, species, 4, nz, ny_l, nx_l]) averaged
    over the four x/y mirror images of its input; ny, nx must be multiples of the lateral voxel
    so that each mirrored voxel grid lands on the original one."""

    def averaged(df: np.ndarray) -> np.ndarray:
        df = np.asarray(df)
        total = 0.0
        for axis_x in (False, True):
            for axis_y in (False, True):
                x = df[..., ::-1] if axis_x else df
                x = x[..., ::-1, :] if axis_y else x
                grid = predict_grid(np.ascontiguousarray(x))
                if axis_x:
                    grid = grid[..., ::-1].copy()
                    grid[:, :, 1] = 1.0 - grid[:, :, 1]
                if axis_y:
                    grid = grid[..., ::-1, :].copy()
                    grid[:, :, 2] = 1.0 - grid[:, :, 2]
                total = total + grid
        return total / 4.0

    return averaged


def real_inputs(detector) -> list[tuple[str, np.ndarray, Stack]]:
    """[(stack name, model input [n, ny, nx] cropped to whole lateral voxels, the stack as read)]
    of every real stack, read as benchmarks/domain_adaptation.py reads them."""
    v = detector.meta.geometry.voxel_xy_px
    adapt = AdaptConfig.from_config({"inputs": list(PREDICT_REAL["inputs"])})
    out = []
    for name, df, stack in adapt_real_inputs(adapt, PREDICT_REAL, detector, IMAGES):
        ny, nx = df.shape[1:]
        out.append((name, df[:, : ny - ny % v, : nx - nx % v], stack))
    return out


def decoded(detector, name: str, df: np.ndarray, grid: np.ndarray, threshold=None) -> tuple:
    """(symbols, positions [n, 3] A) of one real stack's grid, edges dropped as in predict."""
    ny, nx = df.shape[1:]
    extent = ((nx - 1) * detector.pixel_size_a, (ny - 1) * detector.pixel_size_a)
    found = detector.decode(grid, threshold, edges=(extent, REAL_SCAN_EDGE_MARGIN_A))
    return list(found.symbols), np.asarray(found.positions_a, dtype=np.float64).reshape(-1, 3)


def scored(structures: dict[str, tuple], reference: dict) -> dict:
    """Pooled and surface-only energy distances and O counts of per-stack predictions."""
    keys = ("energy_distance_d_oo", "energy_distance_hbond")
    pooled = label_free_values(list(structures.values()), reference)
    alone = label_free_values([structures[s] for s in SURFACE_STACKS], reference)
    return {
        **{k: pooled[k] for k in keys},
        **{f"{k}_surface": alone[k] for k in keys},
        "n_o": {name: s[0].count("O") for name, s in structures.items()},
    }


def spaced(df: np.ndarray, n: int, fraction: float, offset: float) -> np.ndarray:
    """``n`` slices of ``df`` [m, ny, nx] (closest first, normalised slice by slice) at the
    fractional slice positions offset + k fraction (k < n, clipped to the farthest slice),
    linearly interpolated between neighbouring slices."""
    df = normalise_slices(df).astype(np.float64)
    pos = np.minimum(offset + fraction * np.arange(n), len(df) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(df) - 1)
    weight = (pos - lo)[:, None, None]
    return ((1.0 - weight) * df[lo] + weight * df[hi]).astype(np.float32)


def correlation_with_closest(df: np.ndarray) -> np.ndarray:
    """Mean product of each normalised slice of ``df`` [m, ny, nx] with the first (closest)."""
    flat = normalise_slices(df).reshape(len(df), -1).astype(np.float64)
    return flat @ flat[0] / flat.shape[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path("results/dataset"))
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped one")
    args = parser.parse_args()
    detector = load_detector(args.model)
    reference = thermal_reference(float(detector.meta.depth_a))
    rho = float(reference["o_per_a2"].mean())
    inputs = real_inputs(detector)
    plain = detector.predict_grid
    grids = {name: plain(df[None])[0] for name, df, _ in inputs}
    frames = {name: df for name, df, _ in inputs}

    sweep = {}
    for t in THRESHOLDS:
        per_stack = {n: decoded(detector, n, frames[n], grids[n], {"O": t, "H": t})
                     for n in grids}  # fmt: skip
        row = scored(per_stack, reference)
        (surface,) = SURFACE_STACKS
        ny, nx = frames[surface].shape[1:]
        area = (nx - 1) * (ny - 1) * detector.pixel_size_a**2
        row["o_density_ratio"] = row["n_o"][surface] / area / rho
        sweep[f"{t:g}"] = row
        print(f"threshold {t:g}: {row}", flush=True)

    shipped_radius = detector.meta.nms_radius_a
    nms = {}
    for radius in O_NMS_RADII_A:
        detector.meta.nms_radius_a = {**shipped_radius, "O": radius}
        summary = evaluate_split(detector, args.dataset / "test.h5")["summary"]
        per_stack = {n: decoded(detector, n, frames[n], grids[n]) for n in grids}
        d_oo = pooled_properties(list(per_stack.values()))["d_oo"]
        nms[f"{radius:g}"] = {
            "simulated": {k: summary[k] for k in SPLIT_KEYS},
            "real": scored(per_stack, reference),
            "real_o_nearest_o_below_2.5_a": float(np.mean(d_oo < 2.5)),
        }
        print(f"O NMS {radius:g} A: {nms[f'{radius:g}']}", flush=True)
    detector.meta.nms_radius_a = shipped_radius

    averaged = flips_averaged(plain)
    flips = {}
    for how, predict in (("plain", plain), ("flips", averaged)):
        detector.predict_grid = predict
        summary = evaluate_split(detector, args.dataset / "test.h5")["summary"]
        per_stack = {n: decoded(detector, n, frames[n], predict(frames[n][None])[0])
                     for n in grids}  # fmt: skip
        flips[how] = {"simulated": {k: summary[k] for k in SPLIT_KEYS},
                      "real": scored(per_stack, reference)}  # fmt: skip
        print(f"{how}: {flips[how]}", flush=True)
    detector.predict_grid = plain

    stacks = [(name, stack) for name, _, stack in inputs]
    spacing = {}
    for fraction, offset in SPACINGS:
        per_stack = {}
        for name, stack in stacks:
            chosen = replace(stack, df=spaced(stack.df, detector.n_slices, fraction, offset),
                             heights_a=None)  # fmt: skip
            df, _, _ = prepare_stack(chosen, detector, PREDICT_REAL["line_correction"])
            found = detector.detect(df, edge_margin_a=REAL_SCAN_EDGE_MARGIN_A)
            per_stack[name] = (list(found.symbols), np.asarray(found.positions_a).reshape(-1, 3))
        spacing[f"{fraction:g}/{offset:g}"] = scored(per_stack, reference)
        print(f"spacing {fraction:g}/{offset:g}: {spacing[f'{fraction:g}/{offset:g}']}", flush=True)
    simulated = [correlation_with_closest(e["df"]) for e in iter_split(args.dataset / "val.h5")]
    correlation = {
        "simulated_median": np.median(simulated, axis=0).round(3).tolist(),
        **{name: correlation_with_closest(stack.df).round(3).tolist() for name, stack in stacks},
    }

    clusters = {}
    for name in stack_files(IMAGES / CLUSTER_FOLDER):
        stack = configured_stack(PREDICT_REAL, IMAGES, name)
        counts = {}
        for offset, stride in SLICE_CHOICES:
            idx = np.arange(offset, len(stack.df), stride)[: detector.n_slices]
            if len(idx) >= detector.n_slices // 2:
                chosen = replace(stack, df=stack.df[idx], heights_a=None)
                df, _, _ = prepare_stack(chosen, detector, PREDICT_REAL["line_correction"])
                found = detector.detect(df, edge_margin_a=REAL_SCAN_EDGE_MARGIN_A)
                counts[f"{offset}/{stride}"] = list(found.symbols).count("O")
        clusters[name] = {"slices": len(stack.df), "n_o": counts}
        print(name, clusters[name], flush=True)

    record = {
        **machine_info(("torch",)),
        "model": detector.info,
        "dataset": str(args.dataset),
        "reference_o_per_a2": rho,
        "threshold_sweep": sweep,
        "o_nms_radius": nms,
        "reference_o_nearest_o_below_2.5_a": float(np.mean(reference["d_oo"] < 2.5)),
        "flip_averaging": flips,
        "slice_spacing": spacing,
        "slice_correlation": correlation,
        "cluster_slice_choice": clusters,
    }
    print(write_result("real_image_diagnostics", record))


if __name__ == "__main__":
    main()
