"""Domain-adaptation figure (rule ``adapt_compare``): style translation and predictions per method.

Top row: the closest slice of a real stack, of a simulated training stack and of its CycleGAN
translation (each normalised, same grey scale), and the headline metrics per method. Second row
(with ``distributions``): the distributions behind the energy distances, per method on the real
stacks against the simulated reference (O-O nearest-neighbour distance, H-bond O...O distance and
O-H...O angle; fraction of values per bin, values beyond the axis in the end bins; the shaded
band is each property's min-max range; the y axis fits the methods, so a sharp reference runs
off the top). Below, one row per real stack
and one column per method: the closest slice (model input, x, y in A) with that method's
predicted O (red) and H (white).
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
#: (property, axis label, histogram range) of the distribution panels.
PANELS = (
    ("d_oo", "O-O nearest neighbour (A)", (0.0, 6.0)),
    ("hbond_oo", "H-bond O...O (A)", (1.5, 3.6)),
    ("hbond_angle", "H-bond O-H...O (deg)", (110.0, 180.0)),
)


def _distributions(axes, distributions: dict[str, dict[str, np.ndarray]]) -> None:
    """One panel per :data:`PANELS` property: histograms (fraction per bin) per source, the
    reference filled."""
    from iceafm.metrics.label_free import RANGES

    for ax, (key, label, span) in zip(axes, PANELS, strict=False):
        ax.set_axis_on()
        bins = np.linspace(*span, 41)
        ax.axvspan(*RANGES[key], color="0.93", zorder=0)
        top = 0.0
        for name, props in distributions.items():
            values = np.clip(np.asarray(props.get(key, [])), *span)
            if not len(values):
                continue
            style = {"histtype": "stepfilled", "alpha": 0.35, "color": "0.3"} if (
                name == "reference") else {"histtype": "step", "linewidth": 1.0}
            counts, _, _ = ax.hist(values, bins=bins, weights=np.full(len(values), 1 / len(values)),
                                   label=f"{name} ({len(values)})", **style)  # fmt: skip
            top = top if name == "reference" else max(top, float(counts.max()))
        if top > 0:
            ax.set_ylim(0, 1.3 * top)
        ax.set_xlabel(label, fontsize=7)
        ax.set_yticks([])
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=5, frameon=False)


#: The translation's change (translated - simulated, closest slice) is drawn this many times
#: larger on the images' grey scale: a change of a few % of a slice's std stays visible.
DIFFERENCE_GAIN = 4


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
    distributions: dict[str, dict[str, np.ndarray]] | None = None,
) -> Figure:
    """``real``: [(name, model input [n, ny, nx])]; ``simulated``/``translated``: one stack each
    (normalised; with a translation the top row also shows its change, :data:`DIFFERENCE_GAIN`
    times larger, and the RMS of that change in units of a slice's std); ``predictions``:
    {method: [ASE Atoms per real stack, same order]}; ``metrics``: {method: metrics.json};
    ``distributions``: {"reference" or method: local properties
    (:func:`iceafm.metrics.label_free.pooled_properties`)}, drawn when given."""
    methods = list(predictions)
    cols = max(len(methods), 4 if translated is None else 5)
    first = 2 if distributions else 1
    rows = first + len(real)
    fig = Figure(figsize=(2.4 * cols, 2.4 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    top = [(real[0][1][0], f"real: {real[0][0]}"), (simulated[0], "simulated")]
    if translated is not None:
        change = translated[0] - simulated[0]
        rms = float(np.sqrt(np.mean(change**2)))
        top += [(translated[0], "simulated, translated"),
                (DIFFERENCE_GAIN * change, f"difference x{DIFFERENCE_GAIN} (RMS {rms:.2f})")]
    for ax, (image, title) in zip(axes[0], top, strict=False):
        ax.set_axis_on()
        _show(ax, image, pixel_a, title)
    lines = ["method: " + ", ".join(label for _, label in HEADLINE)]
    for method in methods:
        values = ", ".join(f"{float(metrics[method][key]):.3g}" for key, _ in HEADLINE)
        lines.append(f"{method}: {values}")
    axes[0, cols - 1].text(0, 0.5, "\n".join(lines), fontsize=6, va="center", family="monospace")
    if distributions:
        _distributions(axes[1], distributions)
    for row, (name, df) in enumerate(real, start=first):
        for col, method in enumerate(methods):
            ax = axes[row, col]
            ax.set_axis_on()
            atoms = predictions[method][row - first]
            symbols = np.array(atoms.get_chemical_symbols())
            _show(ax, df[0], pixel_a, f"{method}: {name}")
            for species in ("O", "H"):
                xy = atoms.positions[symbols == species, :2]
                ax.scatter(xy[:, 0], xy[:, 1], s=6 if species == "O" else 2,
                           c=COLOURS[species], edgecolors="black", linewidths=0.2)  # fmt: skip
    fig.tight_layout()
    return fig
