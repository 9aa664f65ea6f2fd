"""Paper figure assembly (iceafm.figures.paper): stage PNGs and data panels, styled."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

from iceafm.figures.paper import DataPanel, Style, detection_scores_panel, paper_figure


def _stage_png(path, seed):
    fig = Figure(figsize=(3, 2))
    fig.add_subplot().imshow(np.random.default_rng(seed).random((8, 12)))
    fig.savefig(path, dpi=50)
    return str(path)


def _metrics():
    score = {"precision": 0.5, "recall": 0.25, "f1": 1 / 3}
    bands = {band: score for band in ("0_1.5", "1.5_3", "overall")}
    return {"cutoff_1A": {"O": bands, "H": bands}}


def test_figure_has_every_panel_and_follows_the_style(tmp_path):
    panels = [
        ("stage a", _stage_png(tmp_path / "a.png", 0)),
        ("stage b", _stage_png(tmp_path / "b.png", 1)),
        ("scores", lambda ax: detection_scores_panel(ax, _metrics())),
    ]
    out = [tmp_path / "fig.pdf", tmp_path / "fig.png"]
    paper_figure("Figure X", panels, Style(width_in=6, dpi=80, font_size=7, columns=2), out)
    image = matplotlib.image.imread(out[1])
    assert image.shape[1] == 6 * 80  # width_in x dpi
    assert image.std() > 0.05
    assert out[0].read_bytes().startswith(b"%PDF")
    wider = tmp_path / "wide.png"
    paper_figure("Figure X", panels, Style(width_in=6, dpi=100, font_size=7, columns=2), [wider])
    assert matplotlib.image.imread(wider).shape[1] == 600


def test_no_panels_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no panels"):
        paper_figure("Figure X", [], Style(6, 80, 7, 2), [tmp_path / "x.png"])


def test_a_data_panel_keeps_its_own_aspect(tmp_path):
    """A wide DataPanel alone in its row fills the width at its own height: a 4:1 panel makes
    the figure about a quarter as tall as wide (plus the title lines), a 1.4:1 one much taller."""
    draw = lambda ax: ax.plot([0, 1], [0, 1])  # noqa: E731
    heights = {}
    for aspect in (4.0, 1.4):
        out = tmp_path / f"{aspect}.png"
        paper_figure("Figure X", [("wide", DataPanel(draw, aspect))], Style(8, 50, 7, 1), [out])
        heights[aspect] = matplotlib.image.imread(out).shape[0] / 50  # inches
    assert heights[4.0] == pytest.approx(8 / 4.0 + 0.3 * 2.5 * 7 / 8, abs=0.05)
    assert heights[1.4] > 2 * heights[4.0]
