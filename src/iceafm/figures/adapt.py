"""Domain-adaptation figure (rule ``adapt_compare``): style translation and predictions per method.

Top row: the closest slice of a real stack, of a simulated training stack and of its CycleGAN
translation (each normalised, same grey scale), and the headline metrics per method. Below, one
row per real stack and one column per method: the closest slice (model input, x, y in A) with
that method's predicted O (red) and H (white).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from iceafm.figures.predict import COLOURS

HEADLINE = (
    ("energy_distance_d_oo", "ED d_OO"),
    ("energy_distance_hbond", "ED H-bond"),
    ("domain_classifier_accuracy", "dom. acc."),
    ("resim_pearson", "resim r"),
)


def _show(ax, image: np.ndarray, pixel_a: float, title: str) -> None:
    ny, nx = image.shape
    extent = (-0.5 * pixel_a, (nx - 0.5) * pixel_a, (ny - 0.5) * pixel_a, -0.5 * pixel_a)
    ax.imshow(image, cmap="gray", extent=extent, vmin=-2.5, vmax=2.5)
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)


def adapt_figure(
    real: list[tuple[str, np.ndarray]],
    pixel_a: float,
    simulated: np.ndarray,
    translated: np.ndarray | None,
    predictions: dict[str, list[Any]],
    metrics: dict[str, dict[str, Any]],
) -> Figure:
    """``real``: [(name, model input [n, ny, nx])]; ``simulated``/``translated``: one stack each
    (normalised); ``predictions``: {method: [ASE Atoms per real stack, same order]};
    ``metrics``: {method: metrics.json}."""
    methods = list(predictions)
    cols = max(len(methods), 4)
    rows = 1 + len(real)
    fig = Figure(figsize=(2.4 * cols, 2.4 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    top = [(real[0][1][0], f"real: {real[0][0]}"), (simulated[0], "simulated")]
    if translated is not None:
        top.append((translated[0], "simulated, translated"))
    for ax, (image, title) in zip(axes[0], top, strict=False):
        ax.set_axis_on()
        _show(ax, image, pixel_a, title)
    lines = ["method: " + ", ".join(label for _, label in HEADLINE)]
    for method in methods:
        values = ", ".join(f"{float(metrics[method][key]):.3g}" for key, _ in HEADLINE)
        lines.append(f"{method}: {values}")
    axes[0, cols - 1].text(0, 0.5, "\n".join(lines), fontsize=6, va="center", family="monospace")
    for row, (name, df) in enumerate(real, start=1):
        for col, method in enumerate(methods):
            ax = axes[row, col]
            ax.set_axis_on()
            atoms = predictions[method][row - 1]
            symbols = np.array(atoms.get_chemical_symbols())
            _show(ax, df[0], pixel_a, f"{method}: {name}")
            for species in ("O", "H"):
                xy = atoms.positions[symbols == species, :2]
                ax.scatter(xy[:, 0], xy[:, 1], s=6 if species == "O" else 2,
                           c=COLOURS[species], edgecolors="black", linewidths=0.2)  # fmt: skip
    fig.tight_layout()
    return fig
