"""Paper figures (rules in workflow/rules/figures.smk): each assembles the panels that the
stages already draw (their PNGs, read back, so no plotting code is duplicated) with panels drawn
here from the stages' data (premelt order profile, detector precision/recall/F1), under one
style (width, dpi, font size) from the config section ``figures.<figure>``."""

from __future__ import annotations

import json
import os
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ase.io
import matplotlib
import matplotlib.image
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from iceafm.figures import save_figure
from iceafm.figures.premelt import draw_order_profiles
from iceafm.md.order import order_profile

SPECIES = ("O", "H")
BANDS = ("0_1.5", "1.5_3", "overall")


@dataclass(frozen=True)
class Style:
    """Style of one paper figure: ``width_in`` (inches), ``dpi`` of the PNG, ``font_size`` (pt),
    ``columns`` of the panel grid."""

    width_in: float
    dpi: int
    font_size: float
    columns: int

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> Style:
        return cls(
            width_in=float(section["width_in"]),
            dpi=int(section["dpi"]),
            font_size=float(section["font_size"]),
            columns=int(section["columns"]),
        )


def _show_png(ax: Axes, path: str | os.PathLike) -> None:
    """Draw a stage's PNG in ``ax`` without axes."""
    ax.imshow(matplotlib.image.imread(path), interpolation="lanczos")
    ax.set_axis_off()


def _letter(ax: Axes, k: int, title: str, size: float) -> None:
    ax.set_title(f"({string.ascii_lowercase[k]}) {title}", loc="left", fontsize=size)


def premelt_profile_panel(ax: Axes, paths: Sequence[str | os.PathLike]) -> None:
    """Mean neighbour-averaged tetrahedral order per bilayer (0 = bottom) of each premelt
    structure file (extxyz), with the liquid threshold (iceafm.md.order)."""
    profiles = []
    for path in paths:
        name = os.path.splitext(os.path.basename(path))[0]
        profiles.append((name, order_profile(ase.io.read(path, format="extxyz"))))
    draw_order_profiles(ax, profiles)
    ax.set_xlabel("mean tetrahedral order q")
    ax.set_ylabel("bilayer (0 = bottom)")
    ax.set_xlim(0.3, 1.02)
    ax.legend(fontsize="small", loc="lower left")


def detection_scores_panel(ax: Axes, metrics: Mapping[str, Any], cutoff: str = "cutoff_1A") -> None:
    """Grouped bars of precision, recall and F1 per species and depth band (A) from a
    ``metrics.json`` of rule ``evaluate`` (:mod:`iceafm.metrics.detection`)."""
    scores = metrics[cutoff]
    labels = [f"{s} {b.replace('_', '-')}" for s in SPECIES for b in BANDS]
    x = np.arange(len(labels))
    for k, name in enumerate(("precision", "recall", "f1")):
        values = [scores[s][b][name] for s in SPECIES for b in BANDS]
        ax.bar(x + (k - 1) * 0.27, values, width=0.27, label=name)
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"score ({cutoff.removeprefix('cutoff_')} match radius)")
    ax.legend(fontsize="small", ncols=3)


DATA_PANEL_ASPECT = 1.4
"""Width / height of a panel drawn from data."""


@dataclass(frozen=True)
class DataPanel:
    """A panel drawn from data by ``draw(ax)``, with its own width / height ``aspect``."""

    draw: Callable[[Axes], None]
    aspect: float = DATA_PANEL_ASPECT

    def __call__(self, ax: Axes) -> None:
        self.draw(ax)


def completed_surface_panels(
    slab_path: str | os.PathLike, summary_path: str | os.PathLike
) -> list[tuple[str, DataPanel]]:
    """Panels of the real surface completed by diffusion (rule ``diffusion_complete_real``: its
    extxyz slab and JSON summary): top view, O per depth, side view of a slice."""
    from iceafm.figures.real_surface import (
        draw_depth_profile,
        draw_side_view,
        draw_top_view,
        side_view_aspect,
        top_view_aspect,
    )

    atoms = ase.io.read(slab_path, format="extxyz")
    with open(summary_path) as f:
        summary = json.load(f)
    return [
        ("reconstructed: network top layer, diffusion subsurface",
         DataPanel(lambda ax: draw_top_view(ax, atoms), top_view_aspect(atoms))),
        ("O per depth: network, diffusion, ice Ih",
         DataPanel(lambda ax: draw_depth_profile(ax, summary))),
        ("side view of the reconstructed slab (8 A slice)",
         DataPanel(lambda ax: draw_side_view(ax, atoms), side_view_aspect(atoms))),
    ]  # fmt: skip


def _aspect(content: Any) -> float:
    """Width / height of a panel: a PNG's own, a :class:`DataPanel`'s, else
    :data:`DATA_PANEL_ASPECT`."""
    if isinstance(content, str | os.PathLike):
        height, width = matplotlib.image.imread(content).shape[:2]
        return width / height
    return getattr(content, "aspect", DATA_PANEL_ASPECT)


def paper_figure(
    title: str,
    panels: Sequence[tuple[str, Any]],
    style: Style,
    paths: Sequence[str | os.PathLike],
) -> None:
    """Lay out ``panels`` (title, content) in rows of ``style.columns``, letter them (a), (b),
    ... and save to ``paths`` (.pdf, .png).

    A content is a PNG path (a stage's figure, shown as is) or a callable ``draw(ax)`` that draws
    a data panel (a :class:`DataPanel` with its own aspect ratio). The panels of a row share one
    height and get widths in proportion to their aspect ratios, so each fills the figure width
    undistorted.
    """
    if not panels:
        raise ValueError(f"{title}: no panels, expected at least one")
    columns = max(1, min(style.columns, len(panels)))
    rows = [panels[r : r + columns] for r in range(0, len(panels), columns)]
    aspects = [[_aspect(content) for _, content in row] for row in rows]
    heights_in = [style.width_in / sum(row) for row in aspects]
    title_in = 0.3 * style.font_size / 8  # a panel title's line, inches
    fig = Figure(
        figsize=(style.width_in, sum(heights_in) + title_in * (len(rows) + 1.5)),
        layout="constrained",
    )
    fig.suptitle(title, fontsize=style.font_size + 2)
    grid = fig.add_gridspec(len(rows), 1, height_ratios=heights_in)
    k = 0
    for r, row in enumerate(rows):
        cells = grid[r].subgridspec(1, len(row), width_ratios=aspects[r])
        for c, (panel_title, content) in enumerate(row):
            ax = fig.add_subplot(cells[0, c])
            with matplotlib.rc_context({"font.size": style.font_size}):
                if isinstance(content, str | os.PathLike):
                    _show_png(ax, content)
                else:
                    content(ax)
                    ax.tick_params(labelsize=style.font_size)
                    ax.xaxis.label.set_size(style.font_size)
                    ax.yaxis.label.set_size(style.font_size)
            _letter(ax, k, panel_title, style.font_size + 1)
            k += 1
    save_figure(fig, *paths, dpi=style.dpi)
