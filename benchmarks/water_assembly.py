"""Water assembly (issue 11): the shipped detector's test-split metrics with and without it.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/water_assembly.py \
        --dataset /path/to/results/dataset [--model PT]

The network runs once per test stack; its grids are decoded three ways in the same run:
``raw`` (every O and H peak, the decode before iceafm.models.assemble), ``assembled`` (the
shipped decode: each O at most two H, unassigned H dropped; same thresholds) and
``assembled_recalibrated`` (thresholds recalibrated on ``val.h5`` with the assembly on, as
``python -m iceafm.models.export --val`` would ship them). Writes
``benchmarks/results/water_assembly.json``: per decode the keys of structure_from_afm.json
(``O.f1_0_1.5``, ``H.precision``, ...), H per O and the share of O with more than two H within
1.5 A.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from common import machine_info, write_result

from iceafm.data.loader import iter_split
from iceafm.metrics.detection import DetectionScorer, flat_metrics
from iceafm.models import load_detector
from iceafm.models.evaluate import calibrate_thresholds


def score(detector, grids: list[np.ndarray], truths: list) -> dict:
    """Metrics of ``detector``'s decode of ``grids`` against ``truths``."""
    scorer = DetectionScorer()
    n_o = n_h = crowded = 0
    for grid, (symbols, xyz) in zip(grids, truths, strict=True):
        found = detector.decode(grid)
        scorer.add(found.symbols, found.positions_a, symbols, xyz)
        sym = np.array(found.symbols)
        o, h = found.positions_a[sym == "O"], found.positions_a[sym == "H"]
        n_o, n_h = n_o + len(o), n_h + len(h)
        if len(o) and len(h):
            near = np.linalg.norm(o[:, None] - h[None], axis=-1) <= 1.5
            crowded += int((near.sum(axis=1) > 2).sum())
    return {
        **flat_metrics(scorer.result()),
        "n_O": n_o,
        "n_H": n_h,
        "h_per_o": n_h / max(n_o, 1),
        "o_with_more_than_two_h_within_1.5A": crowded / max(n_o, 1),
        "threshold": detector.meta.threshold,
        "decode": detector.meta.water.to_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path("results/dataset"))
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    detector = load_detector(args.model)
    shipped = (detector.meta.threshold, detector.meta.water)
    entries = list(iter_split(args.dataset / "test.h5"))
    grids = [g for k in range(0, len(entries), 8)
             for g in detector.predict_grid(np.stack([e["df"] for e in entries[k : k + 8]]))]
    truths = [(e["symbols"], e["xyz_a"]) for e in entries]
    results = {}
    detector.meta.water = replace(shipped[1], enabled=False)
    results["raw"] = score(detector, grids, truths)
    detector.meta.water = replace(shipped[1], enabled=True)
    results["assembled"] = score(detector, grids, truths)
    detector.meta.threshold = calibrate_thresholds(detector, args.dataset / "val.h5")
    results["assembled_recalibrated"] = score(detector, grids, truths)
    record = {
        **machine_info(("torch", "scipy")),
        **results,
        "n_test_stacks": len(entries),
        "model": str(args.model or "shipped"),
        "dataset": str(args.dataset),
        "shipped_threshold": shipped[0],
        "seconds": round(time.perf_counter() - t0, 1),
    }
    for name, values in results.items():
        print(name, {k: round(values[k], 3) for k in ("O.f1_0_1.5", "O.f1_1.5_3.0",
              "H.f1_0_1.5", "H.f1_1.5_3.0", "H.precision", "H.recall", "h_per_o")})  # fmt: skip
    write_result("water_assembly", record)


if __name__ == "__main__":
    main()
