"""Figures of the campaign (matplotlib, Agg): one module per stage."""

from __future__ import annotations

import os

from matplotlib.figure import Figure

from iceafm.io.atomic import atomic_path


def save_figure(fig: Figure, *paths: str | os.PathLike, dpi: int = 150) -> None:
    """Save ``fig`` to every path (format from the suffix: .png, .pdf, ...), each atomically."""
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=os.path.splitext(path)[1][1:], dpi=dpi)
