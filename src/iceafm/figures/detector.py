"""Detector evaluation figure: predictions over test images and metrics by species and band."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from iceafm.figures import save_figure  # noqa: E402
from iceafm.models.detector import Detection  # noqa: E402

_COLOURS = {"O": "tab:red", "H": "white"}


def plot_evaluation(
    examples: Sequence[tuple[np.ndarray, Detection, list[str], np.ndarray]],
    result: dict[str, Any],
    pixel_size_a: float,
    title: str,
    paths: Sequence[str | os.PathLike],
) -> None:
    """Top row: the closest slice of each example stack (df [n, ny, nx], Hz) with the true atoms
    (rings) and the predicted ones (crosses, O red, H white) in the scan frame (A). Bottom: F1
    per species and depth band at 1.0 A and 0.35 A from ``result``
    (:meth:`iceafm.metrics.detection.DetectionScorer.result`)."""
    n = max(1, len(examples))
    fig = plt.figure(figsize=(3.2 * max(n, 2), 6.6), layout="constrained")
    grid = fig.add_gridspec(2, max(n, 2))
    for k, (df, found, true_symbols, true_xyz) in enumerate(examples):
        ax = fig.add_subplot(grid[0, k])
        ny, nx = df.shape[1:]
        extent = [-0.5 * pixel_size_a, (nx - 0.5) * pixel_size_a] * 1
        extent += [(ny - 0.5) * pixel_size_a, -0.5 * pixel_size_a]
        ax.imshow(df[0], cmap="gray", extent=extent)
        for species, colour in _COLOURS.items():
            t = true_xyz[np.array(true_symbols) == species].reshape(-1, 3)
            p = found.positions_a[np.array(found.symbols) == species].reshape(-1, 3)
            ax.scatter(t[:, 0], t[:, 1], s=60, facecolors="none", edgecolors=colour, lw=1.0)
            ax.scatter(p[:, 0], p[:, 1], s=25, marker="x", c=colour, lw=1.0)
        ax.set_title(f"test stack {k}: closest slice", fontsize=9)
        ax.set_xlabel("x (A)")
        ax.set_ylabel("y (A)")
    ax = fig.add_subplot(grid[1, :])
    labels, values_1, values_035 = [], [], []
    for species in ("O", "H"):
        for band in ("0_1.5", "1.5_3", "overall"):
            labels.append(
                f"{species} {band.replace('_', '-')}" + (" A" if band != "overall" else "")
            )
            values_1.append(result["cutoff_1A"][species][band]["f1"])
            values_035.append(result["cutoff_0.35A"][species][band]["f1"])
    x = np.arange(len(labels))
    ax.bar(x - 0.2, values_1, 0.4, label="match within 1.0 A")
    ax.bar(x + 0.2, values_035, 0.4, label="match within 0.35 A")
    for xi, v in zip(x - 0.2, values_1, strict=True):
        ax.text(xi, v + 0.01, f"{v:.2f}", ha="center", fontsize=8)
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("F1")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(
        f"{title}: {result['n_stacks']} test stacks, success rate {result['success_rate']:.2f} "
        "(depth below the topmost O)",
        fontsize=9,
    )
    save_figure(fig, *paths)
    plt.close(fig)
