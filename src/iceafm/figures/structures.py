"""Structure overview figure: top and side views of a few samples (matplotlib Figure, no
pyplot state, so it renders headless with the Agg canvas)."""

from __future__ import annotations

import os
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Polygon

from iceafm.figures import save_figure

MAX_SAMPLES = 6
"""At most this many samples (columns) per figure; further paths are ignored."""
STYLE = {  # species -> (face colour, radius A)
    "O": ("#d62728", 0.62),
    "H": ("#f2f2f2", 0.34),
    "Cu": ("#b87333", 1.0),
    "Au": ("#d4a017", 1.1),
}
OTHER_STYLE = ("#8c8c8c", 0.9)
EDGE_COLOUR = "#404040"


def _draw_atoms(ax: Axes, atoms: Atoms, axes_xy: tuple[int, int], depth_axis: int) -> None:
    """Draw atoms as circles in the plane of ``axes_xy``, far ones first (depth along +axis)."""
    symbols = atoms.get_chemical_symbols()
    for i in np.argsort(atoms.positions[:, depth_axis]):
        colour, radius = STYLE.get(symbols[i], OTHER_STYLE)
        centre = atoms.positions[i, list(axes_xy)]
        ax.add_patch(Circle(centre, radius, facecolor=colour, edgecolor=EDGE_COLOUR, lw=0.4))


def _cell_outline(ax: Axes, corners: np.ndarray) -> None:
    """Dashed outline through ``corners`` [4, 2], A."""
    ax.add_patch(Polygon(corners, closed=True, fill=False, ls="--", lw=0.8, ec="k"))


def _frame(ax: Axes, points: np.ndarray, margin_a: float = 1.5) -> None:
    """Equal-aspect limits around ``points`` [n, 2] with a margin, A; no ticks."""
    lo, hi = points.min(0) - margin_a, points.max(0) + margin_a
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_structures(paths: list[str], out_path: str | os.PathLike) -> None:
    """Top (x-y, looking down -z) and side (x-z) views of up to six structure files.

    Columns are samples, titled with the file stem, family and number of waters; a 5 A scale bar
    sits in the first top view. O red, H white, Cu copper, Au gold, cell outline dashed.

    Args:
        paths: extxyz files from the structure stage.
        out_path: ``.png``, or ``.pdf`` (then the ``.png`` beside it is written too).
    """
    out_path = Path(out_path)
    chosen = list(paths)[:MAX_SAMPLES]
    if not chosen:
        raise ValueError(f"{out_path}: no structure files to plot, expected at least one")
    structures = [ase.io.read(p, format="extxyz") for p in chosen]
    fig = Figure(figsize=(3.2 * len(chosen), 6.0))
    axes = fig.subplots(
        2,
        len(chosen),
        squeeze=False,
        gridspec_kw={"height_ratios": [1.0, 0.8]},
    )
    for column, (path, atoms) in enumerate(zip(chosen, structures, strict=True)):
        top, side = axes[0, column], axes[1, column]
        cell = np.asarray(atoms.cell)
        a, b = cell[0, :2], cell[1, :2]
        top_corners = np.array([[0.0, 0.0], a, a + b, b])
        _draw_atoms(top, atoms, (0, 1), depth_axis=2)
        _cell_outline(top, top_corners)
        _frame(top, np.vstack([top_corners, atoms.positions[:, :2]]))
        side_corners = np.array([[0.0, 0.0], [a[0], 0.0], [a[0], cell[2, 2]], [0.0, cell[2, 2]]])
        _draw_atoms(side, atoms, (0, 2), depth_axis=1)
        _cell_outline(side, side_corners)
        _frame(side, atoms.positions[:, [0, 2]])
        family = atoms.info.get("family", "?")
        n_water = atoms.info.get("n_water", "?")
        top.set_title(f"{Path(path).stem}\n{family}, {n_water} H$_2$O", fontsize=9)
    axes[0, 0].set_ylabel("top view (x-y)")
    axes[1, 0].set_ylabel("side view (x-z)")
    x0, y0 = axes[0, 0].get_xlim()[0] + 0.5, axes[0, 0].get_ylim()[0] + 0.5
    axes[0, 0].plot([x0, x0 + 5.0], [y0, y0], color="k", lw=2.5)
    axes[0, 0].text(x0 + 2.5, y0 + 0.4, "5 Å", ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    targets = [out_path.with_suffix(".png")] + ([out_path] if out_path.suffix == ".pdf" else [])
    save_figure(fig, *targets)
