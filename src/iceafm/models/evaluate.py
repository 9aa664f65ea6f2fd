"""Evaluation of a detector on a split file: metrics JSON and figure (rule ``evaluate``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from iceafm.data.loader import iter_split, split_info, spread_entries
from iceafm.figures.detector import plot_evaluation
from iceafm.io.atomic import write_json_atomic
from iceafm.metrics.detection import DetectionScorer, flat_metrics
from iceafm.models.detector import Detection, Detector


def evaluate_split(
    detector: Detector,
    split_path: str | os.PathLike,
    metrics_path: str | os.PathLike | None = None,
    figure_paths: tuple[str | os.PathLike, ...] = (),
    n_examples: int = 4,
    batch: int = 8,
    max_stacks: int | None = None,
    detections: list[Detection] | None = None,
) -> dict[str, Any]:
    """Score ``max_stacks`` stacks (None: all; spread over the split, :func:`spread_entries`) of
    ``split_path`` (metrics of :mod:`iceafm.metrics.detection`, plus the flat benchmark keys
    under ``summary``); write the JSON and the figure when paths are given. ``detections``, if
    given, receives each scored stack's :class:`Detection` in split order (for callers that
    want more from the same predictions)."""
    picked = spread_entries(split_info(split_path).n, max_stacks)
    shown = set(picked[spread_entries(len(picked), n_examples)].tolist())
    scorer = DetectionScorer()
    examples: list[tuple[np.ndarray, Any, list[str], np.ndarray]] = []
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        grids = detector.predict_grid(np.stack([e["df"] for e in pending]))
        for entry, grid in zip(pending, grids, strict=True):
            found = detector.decode(grid)
            scorer.add(found.symbols, found.positions_a, entry["symbols"], entry["xyz_a"])
            if detections is not None:
                detections.append(found)
            if entry["index"] in shown:
                examples.append((entry["df"], found, entry["symbols"], entry["xyz_a"]))
        pending.clear()

    for entry in iter_split(split_path, max_stacks):
        pending.append(entry)
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    result = scorer.result()
    result["summary"] = flat_metrics(result)
    result["model"] = detector.info
    result["decode"] = detector.meta.water.to_dict()
    if metrics_path is not None:
        write_json_atomic(metrics_path, result)
    if figure_paths:
        plot_evaluation(
            examples,
            result,
            detector.pixel_size_a,
            detector.info.get("name", "detector"),
            figure_paths,
        )
    return result


def calibrate_thresholds(
    detector: Detector,
    split_path: str | os.PathLike,
    candidates: Sequence[float] = tuple(np.round(np.arange(0.1, 0.85, 0.05), 2)),
    max_stacks: int | None = None,
    batch: int = 8,
) -> dict[str, float]:
    """Per-species confidence thresholds that maximise F1 at 1.0 A on ``max_stacks`` stacks
    (None: all; spread over the split) of a (validation) split; the detector is left unchanged."""
    grids, truths = [], []
    for entry in iter_split(split_path, max_stacks):
        truths.append((entry["symbols"], entry["xyz_a"]))
        grids.append(entry["df"])
    probs = np.concatenate(
        [detector.predict_grid(np.stack(grids[k : k + batch])) for k in range(0, len(grids), batch)]
    )
    best: dict[str, tuple[float, float]] = {}
    for cut in candidates:
        scorer = DetectionScorer(cutoffs_a=(1.0,))
        for grid, (symbols, xyz) in zip(probs, truths, strict=True):
            found = detector.decode(grid, float(cut))
            scorer.add(found.symbols, found.positions_a, symbols, xyz)
        result = scorer.result()["cutoff_1A"]
        for species, scores in result.items():
            f1 = scores["overall"]["f1"]
            if species not in best or f1 > best[species][0]:
                best[species] = (f1, float(cut))
    return {species: cut for species, (_, cut) in best.items()}
