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


def draw_order_profiles(ax: Axes, profiles: Sequence[tuple[str, OrderProfile]]) -> None:
    """One line per ``(label, profile)``: mean neighbour-averaged tetrahedral order q per bilayer
    (0 = bottom), labelled with the QLL thickness, and the liquid threshold q = Q_LIQUID."""
    for label, profile in profiles:
        layers = np.arange(len(profile.q_mean))
        qll = f"{label}: QLL {profile.qll_bilayers:.2f} bilayers"
        ax.plot(profile.q_mean, layers, "o-", label=qll)
    ax.axvline(Q_LIQUID, color="k", ls="--", lw=0.8, label=f"liquid below q = {Q_LIQUID}")


def plot_premelt(
    profiles: dict[float, OrderProfile],
    side: Atoms,
    side_title: str,
    out_path: str | os.PathLike,
) -> None:
    """Left: mean averaged q per bilayer (bilayer index from the bottom) per temperature, with
    the liquid threshold; right: x-z side view of ``side``, O coloured by averaged q (H grey).

    Args:
        profiles: temperature (K) -> profile of the slab at that temperature.
        side: a slab (waters O,H,H first) for the side view.
        side_title: title of the side view.
        out_path: PNG path (written atomically).
    """
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    ax_profile, ax_side = fig.subplots(1, 2, width_ratios=[1, 1.6])
    draw_order_profiles(ax_profile, [(f"{t:.0f} K", p) for t, p in sorted(profiles.items())])
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
