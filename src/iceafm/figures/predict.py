"""Figures of ``iceafm predict``: predicted atoms over the closest slice, AmorAFM overlay."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from iceafm.predict import Prediction

#: Marker colours per species.
COLOURS = {"O": "tab:red", "H": "white"}


def _image_extent(shape_yx: tuple[int, int], pixel_xy_a: tuple[float, float]) -> list[float]:
    """imshow extent (origin upper) that puts pixel (iy, ix) centred at (ix px, iy py) A."""
    (ny, nx), (px, py) = shape_yx, pixel_xy_a
    return [-px / 2, (nx - 0.5) * px, (ny - 0.5) * py, -py / 2]


def prediction_figure(prediction: Prediction) -> Figure:
    """Closest slice (grey, input frame, A) with the predicted O (red) and H (white) on it;
    marker opacity = confidence, size larger for atoms nearer the top."""
    stack = prediction.stack
    image = stack.df[0]
    fig = Figure(figsize=(6.4, 6.0))
    ax = fig.add_subplot()
    ax.imshow(image, cmap="gray", extent=_image_extent(image.shape, stack.pixel_size_xy_a))
    symbols = np.array(prediction.symbols)
    for species in ("O", "H"):
        sel = symbols == species
        if not sel.any():
            continue
        xyz = prediction.positions_a[sel]
        conf = np.clip(prediction.confidence[sel], 0.05, 1.0)
        colours = np.zeros((sel.sum(), 4))
        colours[:] = to_rgba(COLOURS[species])
        colours[:, 3] = conf
        size = (30 if species == "O" else 12) * np.clip(1 + xyz[:, 2] / 3.0, 0.3, 1.0)
        ax.scatter(xyz[:, 0], xyz[:, 1], s=size, c=colours, edgecolors="black", linewidths=0.3,
                   label=f"{species} ({sel.sum()})")
    extent = _image_extent(image.shape, stack.pixel_size_xy_a)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    n_o = int((symbols == "O").sum())
    n_h = int((symbols == "H").sum())
    refined = prediction.info.get("refinement", "none") != "none"
    ax.set_title(f"{stack.name}: {n_o} O, {n_h} H{' (refined)' if refined else ''} over the "
                 "closest slice", fontsize=10)  # fmt: skip
    ax.set_xlabel("x (A)")
    ax.set_ylabel("y (A)")
    if n_o or n_h:
        ax.legend(loc="upper right", fontsize=8, framealpha=0.6)
    fig.tight_layout()
    return fig


def agreement_figure(
    image: np.ndarray,
    pixel_xy_a: tuple[float, float],
    ours_o_xy_a: np.ndarray,
    reference_o_xy_a: np.ndarray,
    region_a: tuple[float, float, float, float],
    title: str,
) -> Figure:
    """Our O (red) and the registered reference O (cyan) over the closest slice; ``region_a``
    (x0, y0, width, height) in A outlines the reference's region."""
    fig = Figure(figsize=(6.4, 6.0))
    ax = fig.add_subplot()
    ax.imshow(image, cmap="gray", extent=_image_extent(image.shape, pixel_xy_a))
    ax.scatter(*ours_o_xy_a.T, s=28, facecolors="none", edgecolors="tab:red", linewidths=1.0,
               label=f"ours O ({len(ours_o_xy_a)})")
    ax.scatter(*reference_o_xy_a.T, s=8, c="cyan", label=f"AmorAFM O ({len(reference_o_xy_a)})")
    x0, y0, w, h = region_a
    ax.plot([x0, x0 + w, x0 + w, x0, x0], [y0, y0, y0 + h, y0 + h, y0], "c--", lw=0.8)
    extent = _image_extent(image.shape, pixel_xy_a)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (A)")
    ax.set_ylabel("y (A)")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.6)
    fig.tight_layout()
    return fig
