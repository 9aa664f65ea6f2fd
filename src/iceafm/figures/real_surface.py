"""The completed real surface (rule ``diffusion_complete_real``; paper figure 6): the network's
top layer and the diffusion model's subsurface in a top view, a side view of a slice and the O
count per depth against ice Ih's."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from ase import Atoms
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from iceafm.figures import save_figure

NETWORK_COLOUR = "#d62728"
DIFFUSION_COLOUR = "#1f77b4"
SIDE_SLICE_A = 8.0
"""Thickness (A, along y, centred in the cell) of the slice the side view shows."""


def _parts(atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(is O [n], is H [n], fixed [n] bool, z of the network's topmost O in A)."""
    symbols = np.array(atoms.get_chemical_symbols())
    fixed = np.asarray(atoms.arrays.get("fixed", np.zeros(len(atoms))), bool)
    return symbols == "O", symbols == "H", fixed, float(atoms.info["z_top_o_a"])


def top_view_aspect(atoms: Atoms) -> float:
    """Width / height of :func:`draw_top_view` (the cell's a / b, room for the colour bar)."""
    a, b = atoms.cell.lengths()[:2]
    return 1.2 * float(a / b)


def draw_top_view(ax: Axes, atoms: Atoms) -> None:
    """Top view (x-y, A) of the completed slab: generated O coloured by depth below the network's
    topmost O (deepest drawn first), the network's O on top in red."""
    o, _, fixed, z_top = _parts(atoms)
    depth_a = float(atoms.info.get("depth_a", 8.0))
    free = o & ~fixed
    order = np.flatnonzero(free)[np.argsort(atoms.positions[free, 2])]
    points = ax.scatter(
        atoms.positions[order, 0],
        atoms.positions[order, 1],
        c=z_top - atoms.positions[order, 2],
        cmap="viridis_r",
        vmin=0.0,
        vmax=depth_a,
        s=6,
        linewidths=0,
        label=f"diffusion O ({int(free.sum())})",
    )
    net = o & fixed
    ax.scatter(
        atoms.positions[net, 0],
        atoms.positions[net, 1],
        s=14,
        facecolors=NETWORK_COLOUR,
        edgecolors="k",
        linewidths=0.4,
        label=f"network O ({int(net.sum())})",
    )
    ax.figure.colorbar(points, ax=ax, label="depth below top O (A)", shrink=0.8)
    a, b = atoms.cell.lengths()[:2]
    ax.set_xlim(0, a)
    ax.set_ylim(0, b)
    ax.set_aspect("equal")
    ax.set_xlabel("x (A)")
    ax.set_ylabel("y (A)")
    ax.legend(fontsize="small", loc="upper right", framealpha=0.8)


def side_view_aspect(atoms: Atoms) -> float:
    """Width / height of :func:`draw_side_view`."""
    depth_a = float(atoms.info.get("depth_a", 8.0))
    return float(atoms.cell.lengths()[0]) / (depth_a + 8.0)


def draw_side_view(ax: Axes, atoms: Atoms, slice_a: float = SIDE_SLICE_A) -> None:
    """Side view (x-z, z relative to the network's topmost O, A) of the atoms in a ``slice_a``
    thick slice along y through the cell centre: network atoms red, generated blue (H small),
    dashed lines at the completion range's ``top_a`` and ``depth_a``."""
    o, h, fixed, z_top = _parts(atoms)
    b = float(atoms.cell.lengths()[1])
    in_slice = np.abs(atoms.positions[:, 1] - b / 2) <= slice_a / 2
    depth_a = float(atoms.info.get("depth_a", 8.0))
    top_a = float(atoms.info.get("top_a", 3.0))
    for species, size in ((h, 3), (o, 12)):
        for mask, colour, name in ((fixed, NETWORK_COLOUR, "network"),
                                   (~fixed, DIFFUSION_COLOUR, "diffusion")):  # fmt: skip
            sel = in_slice & species & mask
            ax.scatter(
                atoms.positions[sel, 0],
                atoms.positions[sel, 2] - z_top,
                s=size,
                c=colour,
                alpha=1.0 if species is o else 0.5,
                linewidths=0,
                label=f"{name} {'O' if species is o else 'H'}",
            )
    for z in (-top_a, -depth_a):
        ax.axhline(z, ls="--", lw=0.7, c="0.4")
    ax.set_xlim(0, float(atoms.cell.lengths()[0]))
    ax.set_ylim(-depth_a - 3.0, 5.0)
    ax.set_aspect("equal")
    ax.set_xlabel("x (A)")
    ax.set_ylabel("z (A)")
    ax.legend(fontsize="x-small", ncols=4, loc="upper right", framealpha=0.8)


def draw_depth_profile(ax: Axes, summary: Mapping[str, Any]) -> None:
    """O per 1 A depth bin (``summary`` of :func:`iceafm.diffusion.real_surface.
    complete_prediction`): the network's, the generated ones and ice Ih's mean density."""
    edges = np.asarray(summary["depth_bin_edges_a"])
    counts = summary["o_per_depth_bin"]
    centres = 0.5 * (edges[1:] + edges[:-1])
    height = 0.4 * np.diff(edges)
    ax.barh(centres - height / 2, counts["network"], height, color=NETWORK_COLOUR, label="network")
    ax.barh(
        centres + height / 2, counts["diffusion"], height, color=DIFFUSION_COLOUR, label="diffusion"
    )
    ax.axvline(summary["ice_ih_o_per_depth_bin"], c="k", ls=":", label="ice Ih (mean)")
    for z in (summary["top_a"], summary["depth_a"]):
        ax.axhline(z, ls="--", lw=0.7, c="0.4")
    ax.set_ylim(edges[-1], edges[0])
    ax.set_xlabel("O per 1 A of depth")
    ax.set_ylabel("depth below top O (A)")
    ax.text(
        0.98,
        0.02,
        f"{summary['network_o']} network O, {summary['subsurface_waters']} generated waters\n"
        f"valid: {summary['validity']}, H-bonds per molecule {summary['hbonds_per_molecule']:.2f}",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize="small",
    )
    ax.legend(fontsize="small", loc="center right")


def plot_completed_surface(
    atoms: Atoms, summary: Mapping[str, Any], *paths: str | os.PathLike
) -> None:
    """Top view and O depth profile (top row), side view of a slice (bottom row); saved to
    ``paths`` (.png, .pdf)."""
    width = 11.0
    top_h = width / (top_view_aspect(atoms) + 1.4)
    side_h = width / side_view_aspect(atoms)
    fig = Figure(figsize=(width, top_h + side_h + 0.8), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[top_h, side_h],
                            width_ratios=[top_view_aspect(atoms), 1.4])  # fmt: skip
    draw_top_view(fig.add_subplot(grid[0, 0]), atoms)
    draw_depth_profile(fig.add_subplot(grid[0, 1]), summary)
    draw_side_view(fig.add_subplot(grid[1, :]), atoms)
    fig.suptitle(
        f"{atoms.info.get('source', 'prediction')}: network top layer completed to "
        f"{summary['depth_a']:g} A by diffusion ({summary['sampler']}, {summary['nfe']} NFE)"
    )
    save_figure(fig, *paths)
