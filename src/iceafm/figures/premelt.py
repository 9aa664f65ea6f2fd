"""Premelting figure: per-bilayer order profiles at several temperatures and a side view of a
slab coloured by each molecule's order (iceafm.md.order)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from ase import Atoms
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from iceafm.figures import save_figure
from iceafm.md.order import Q_LIQUID, OrderProfile, averaged_order


def draw_order_profiles(
    ax: Axes, profiles: Sequence[tuple[str, OrderProfile]], q_cut: float | None = Q_LIQUID
) -> None:
    """One line per ``(label, profile)``: mean neighbour-averaged tetrahedral order q per bilayer
    (0 = bottom), labelled with the QLL thickness, and the liquid threshold ``q_cut`` (None:
    no line)."""
    for label, profile in profiles:
        layers = np.arange(len(profile.q_mean))
        qll = f"{label}: QLL {profile.qll_bilayers:.2f} bilayers"
        ax.plot(profile.q_mean, layers, "o-", label=qll)
    if q_cut is not None:
        ax.axvline(q_cut, color="k", ls="--", lw=0.8, label=f"liquid below q = {q_cut}")


def plot_premelt(
    profiles: dict[float, OrderProfile],
    side: Atoms,
    side_title: str,
    out_path: str | os.PathLike,
    series: dict[float, tuple[np.ndarray, np.ndarray] | list[tuple[np.ndarray, np.ndarray]]]
    | None = None,
    equilibration_ps: float = 0.0,
    q_cuts: dict[float, float] | None = None,
) -> None:
    """Left: mean averaged q per bilayer (bilayer index from the bottom) per temperature, with
    the liquid threshold; middle (with ``series``): QLL thickness against time; right: x-z side
    view of ``side``, O coloured by averaged q (H grey).

    Args:
        profiles: temperature (K) -> profile of the slab at that temperature.
        side: a slab (waters O,H,H first) for the side view.
        side_title: title of the side view.
        out_path: PNG path (written atomically).
        series: temperature (K) -> (times in ps [n], QLL in bilayers [n]) per frame, drawn as
            25 ps running means; or a list of them (independent trajectories at that
            temperature: the first drawn solid, the others thin, in the same colour).
        equilibration_ps: time before which frames were not averaged (a dotted line), ps.
        q_cuts: temperature (K) -> that temperature's liquid cut on q (dashed, in its colour);
            default: one line at Q_LIQUID.
    """
    if series is None:
        fig = Figure(figsize=(10, 4.2), layout="constrained")
        ax_profile, ax_side = fig.subplots(1, 2, width_ratios=[1, 1.6])
    else:
        fig = Figure(figsize=(13, 4.4), layout="constrained")
        ax_profile, ax_time, ax_side = fig.subplots(1, 3, width_ratios=[1, 1.1, 0.9])
        for temperature, runs in sorted(series.items()):
            runs = runs if isinstance(runs, list) else [runs]
            color = None
            for k, (times, qll) in enumerate(runs):
                width = max(1, round(25.0 / float(np.median(np.diff(times)))))
                smooth = np.convolve(qll, np.ones(width) / width, mode="valid")
                label = f"{temperature:.0f} K" + (f" ({len(runs)} runs)" if len(runs) > 1 else "")
                (line,) = ax_time.plot(times[width - 1 :], smooth, color=color,
                                       lw=1.5 if k == 0 else 0.6, alpha=1.0 if k == 0 else 0.8,
                                       label=label if k == 0 else None)  # fmt: skip
                color = line.get_color()
        ax_time.axvline(equilibration_ps, color="k", ls=":", lw=0.8, label="averaged after")
        ax_time.set_xlabel("time (ps)")
        ax_time.set_ylabel("QLL thickness (bilayers), 25 ps running mean")
        ax_time.legend(fontsize=7)
        ax_time.set_title("quasi-liquid layer over time")
    draw_order_profiles(ax_profile, [(f"{t:.0f} K", p) for t, p in sorted(profiles.items())],
                        q_cut=None if q_cuts else Q_LIQUID)  # fmt: skip
    for line, (temperature, cut) in zip(ax_profile.get_lines(), sorted((q_cuts or {}).items()),
                                        strict=False):  # fmt: skip
        ax_profile.axvline(cut, color=line.get_color(), ls="--", lw=0.8,
                           label=f"{temperature:.0f} K liquid cut q = {cut:.3f}")  # fmt: skip
    ax_profile.set_xlabel("mean tetrahedral order q (neighbour-averaged)")
    ax_profile.set_ylabel("bilayer (0 = bottom, fixed)")
    ax_profile.set_xlim(0.4, 1.02)
    ax_profile.legend(fontsize=7, loc="lower left")
    ax_profile.set_title("order per bilayer")

    q = averaged_order(side)
    oxygens = np.array([s == "O" for s in side.get_chemical_symbols()])
    hydrogens = side.positions[~oxygens]
    ax_side.scatter(hydrogens[:, 0], hydrogens[:, 2], s=4, c="0.7")
    points = ax_side.scatter(
        side.positions[oxygens, 0], side.positions[oxygens, 2], s=22, c=q, cmap="coolwarm_r",
        vmin=0.4, vmax=1.0, edgecolors="k", linewidths=0.3,
    )  # fmt: skip
    fig.colorbar(points, ax=ax_side, label="q of O")
    ax_side.set_aspect("equal")
    ax_side.set_xlabel("x (A)")
    ax_side.set_ylabel("z (A)")
    ax_side.set_title(side_title)
    save_figure(fig, out_path, dpi=130)
