"""Per-species non-maximum suppression of the detector's decode on simulated test stacks.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/detector_nms.py \
        --dataset /path/to/results/dataset [--model PT] [--radius-o 2.2] [--radius-h 1.0]

The model's grids on ``test.h5`` are predicted once and decoded three ways, all in this run:
``baseline`` (the model's own thresholds and NMS radius), ``per_species`` (same thresholds, NMS
radius O ``--radius-o``, H ``--radius-h``) and ``per_species_recalibrated`` (that radius, the
per-species thresholds calibrated on ``val.h5`` as ``python -m iceafm.models.export --val
--nms-radius-a`` would store them). Per variant: the flat keys of ``structure_from_afm``
(``O.f1_0_1.5``, ``O.f1_1.5_3.0``, ``O.precision``, ...), ``o_close_pair_fraction`` (predicted
O with another predicted O closer than 2.3 A: no water network has such a pair) and, against
``baseline``, the differences of ``O.precision``, ``O.f1_0_1.5``, ``O.f1_1.5_3.0`` with a 95 %
paired bootstrap interval over stacks (stacks of one structure are correlated: the interval is
optimistic). ``gate_met``: none of the three is lower than the baseline's. Writes
``benchmarks/results/detector_nms.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from common import machine_info, write_result
from scipy.spatial import cKDTree

from iceafm.data.loader import iter_split
from iceafm.metrics.bootstrap import paired_bootstrap
from iceafm.metrics.detection import DetectionScorer, flat_metrics
from iceafm.models import PRETRAINED, load_detector
from iceafm.models.evaluate import calibrate_thresholds

GATE_KEYS = ("O.precision", "O.f1_0_1.5", "O.f1_1.5_3.0")
CLOSE_OO_A = 2.3
BANDS = ("overall", "0_1.5", "1.5_3")


def decode_all(detector, grids, truths, threshold, radius) -> dict:
    """Flat metrics, close-pair fraction and per-stack O counts [n_stacks, 3 bands, tp/fp/fn]
    of one decode setting."""
    detector.meta.threshold, detector.meta.nms_radius_a = threshold, radius
    total, per_stack, n_o, n_close = DetectionScorer(), [], 0, 0
    for grid, (symbols, xyz) in zip(grids, truths, strict=True):
        found = detector.decode(grid)
        total.add(found.symbols, found.positions_a, symbols, xyz)
        one = DetectionScorer(cutoffs_a=(1.0,))
        one.add(found.symbols, found.positions_a, symbols, xyz)
        o = one.result()["cutoff_1A"]["O"]
        per_stack.append([[o[b][k] for k in ("tp", "fp", "fn")] for b in BANDS])
        o_xyz = found.positions_a[np.array(found.symbols) == "O"]
        if len(o_xyz) > 1:
            d, _ = cKDTree(o_xyz).query(o_xyz, k=2)
            n_close += int((d[:, 1] < CLOSE_OO_A).sum())
        n_o += len(o_xyz)
    return {
        "threshold": threshold,
        "nms_radius_a": radius,
        **flat_metrics(total.result()),
        "o_close_pair_fraction": n_close / max(n_o, 1),
        "counts": np.array(per_stack, dtype=np.float64),
    }


def gate_values(counts: np.ndarray) -> np.ndarray:
    """O precision (all depths), F1 0-1.5 A, F1 1.5-3.0 A of summed counts [..., 3, 3]."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    precision = tp[..., 0] / np.maximum(tp[..., 0] + fp[..., 0], 1)
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return np.stack([precision, f1[..., 1], f1[..., 2]], axis=-1)


def vs_baseline(counts: np.ndarray, base: np.ndarray, n_resamples: int) -> dict:
    """Per gate key, ``diff`` (variant minus baseline on all stacks) and ``ci95`` (95 % paired
    bootstrap interval over stacks, :func:`iceafm.metrics.bootstrap.paired_bootstrap`, seed 0)
    of per-stack O counts ``counts``, ``base`` [n_stacks, 3 bands, tp/fp/fn]."""
    out = {}
    for i, key in enumerate(GATE_KEYS):
        result = paired_bootstrap(
            lambda idx, i=i: float(gate_values(counts[idx].sum(0))[i]),
            lambda idx, i=i: float(gate_values(base[idx].sum(0))[i]),
            len(counts),
            n_resamples,
        )
        out[key] = {"diff": result["diff"], "ci95": result["ci"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path("results/dataset"))
    parser.add_argument("--model", type=Path, default=PRETRAINED)
    parser.add_argument("--radius-o", type=float, default=2.2)
    parser.add_argument("--radius-h", type=float, default=1.0)
    parser.add_argument("--bootstrap", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    detector = load_detector(args.model)
    own = (detector.meta.threshold, detector.meta.nms_radius_a)
    grids, truths, pending = [], [], []
    for entry in iter_split(args.dataset / "test.h5"):
        pending.append(entry)
        truths.append((entry["symbols"], entry["xyz_a"]))
        if len(pending) == 8:
            grids += list(detector.predict_grid(np.stack([e["df"] for e in pending])))
            pending = []
    if pending:
        grids += list(detector.predict_grid(np.stack([e["df"] for e in pending])))
    radius = {"O": args.radius_o, "H": args.radius_h}
    detector.meta.nms_radius_a = radius
    recalibrated = calibrate_thresholds(detector, args.dataset / "val.h5")
    variants = {
        "baseline": decode_all(detector, grids, truths, *own),
        "per_species": decode_all(detector, grids, truths, own[0], radius),
        "per_species_recalibrated": decode_all(detector, grids, truths, recalibrated, radius),
    }
    base = variants["baseline"]["counts"]
    record = machine_info(("torch",))
    record.update({"model": str(args.model), "model_info": detector.info,
                   "dataset": str(args.dataset), "close_oo_a": CLOSE_OO_A})  # fmt: skip
    for name, variant in variants.items():
        counts = variant.pop("counts")
        if name != "baseline":
            variant["vs_baseline"] = vs_baseline(counts, base, args.bootstrap)
            variant["gate_met"] = all(v["diff"] >= 0 for v in variant["vs_baseline"].values())
        record[name] = variant
    print(json.dumps({k: record[k] for k in variants}, indent=1, default=float))
    write_result("detector_nms", record)


if __name__ == "__main__":
    main()
