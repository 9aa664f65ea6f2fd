"""Evaluation of a detector on a split file: metrics JSON and figure (rule ``evaluate``)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from iceafm.data.loader import iter_split, split_info
from iceafm.figures.detector import plot_evaluation
from iceafm.io.atomic import write_json_atomic
from iceafm.metrics.detection import DetectionScorer, flat_metrics
from iceafm.models.detector import Detector


def evaluate_split(
    detector: Detector,
    split_path: str | os.PathLike,
    metrics_path: str | os.PathLike | None = None,
    figure_paths: tuple[str | os.PathLike, ...] = (),
    n_examples: int = 4,
    batch: int = 8,
    max_stacks: int | None = None,
) -> dict[str, Any]:
    """Score the first ``max_stacks`` stacks (None: all) of ``split_path`` (metrics of
    :mod:`iceafm.metrics.detection`, plus the flat benchmark keys under ``summary``); write the
    JSON and the figure when paths are given."""
    n = (
        split_info(split_path).n
        if max_stacks is None
        else min(max_stacks, split_info(split_path).n)
    )
    shown = set(np.linspace(0, n - 1, min(n_examples, n)).round().astype(int).tolist())
    scorer = DetectionScorer()
    examples: list[tuple[np.ndarray, Any, list[str], np.ndarray]] = []
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        grids = detector.predict_grid(np.stack([e["df"] for e in pending]))
        for entry, grid in zip(pending, grids, strict=True):
            found = detector.decode(grid)
            scorer.add(found.symbols, found.positions_a, entry["symbols"], entry["xyz_a"])
            if entry["index"] in shown:
                examples.append((entry["df"], found, entry["symbols"], entry["xyz_a"]))
        pending.clear()

    for entry in iter_split(split_path):
        if max_stacks is not None and entry["index"] >= max_stacks:
            break
        pending.append(entry)
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    result = scorer.result()
    result["summary"] = flat_metrics(result)
    result["model"] = detector.info
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
