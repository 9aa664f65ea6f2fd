"""AFM figures: a df stack with the top-layer atoms overlaid; electrostatics side by side."""

from __future__ import annotations

import os
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from iceafm.figures import save_figure  # noqa: E402

_COLORS = {8: "tab:red", 1: "white"}


DIFFERENCE = "hartree - point_charges"


def _extent(df_hz: np.ndarray, pixel_size_a: float) -> list[float]:
    ny, nx = df_hz.shape[-2:]
    return [
        -0.5 * pixel_size_a,
        (nx - 0.5) * pixel_size_a,
        -0.5 * pixel_size_a,
        (ny - 0.5) * pixel_size_a,
    ]


def plot_stack(
    df_hz: np.ndarray,
    heights_a: np.ndarray,
    pixel_size_a: float,
    atoms_xyz_a: np.ndarray,
    atoms_number: np.ndarray,
    title: str,
    paths: list[str | os.PathLike],
    n_panels: int = 4,
) -> None:
    """Several heights of one stack (``df_hz`` [n_heights, ny, nx], Hz) with the labelled atoms
    (scan frame, A; O red, H white) on top; saved to every path in ``paths``."""
    picks = np.unique(np.linspace(0, len(heights_a) - 1, min(n_panels, len(heights_a))).astype(int))
    fig, axes = plt.subplots(1, len(picks), figsize=(3.2 * len(picks), 3.4), squeeze=False)
    for ax, k in zip(axes[0], picks, strict=True):
        image = ax.imshow(
            df_hz[k], origin="lower", cmap="gray", extent=_extent(df_hz, pixel_size_a)
        )
        for number, color in _COLORS.items():
            sel = atoms_number == number
            ax.scatter(
                atoms_xyz_a[sel, 0],
                atoms_xyz_a[sel, 1],
                s=12,
                c=color,
                edgecolors="black",
                linewidths=0.4,
            )
        ax.set_title(f"h = {heights_a[k]:.2f} A")
        ax.set_xlabel("x (A)")
        fig.colorbar(image, ax=ax, shrink=0.8, label="df (Hz)")
    axes[0, 0].set_ylabel("y (A)")
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, *paths, dpi=120)
    plt.close(fig)


def plot_electrostatics(
    stacks: Mapping[str, np.ndarray | str],
    height_a: float,
    pixel_size_a: float,
    title: str,
    paths: list[str | os.PathLike],
) -> None:
    """One height per electrostatics mode side by side (``stacks``: mode -> df image [ny, nx]
    in Hz, or a string saying why that mode is unavailable, e.g. a failed DFT). With both a
    ``hartree`` and a ``point_charges`` image, a last panel shows their difference (Hz)."""
    stacks = dict(stacks)
    if all(isinstance(stacks.get(m), np.ndarray) for m in ("hartree", "point_charges")):
        stacks[DIFFERENCE] = stacks["hartree"] - stacks["point_charges"]
    fig, axes = plt.subplots(1, len(stacks), figsize=(3.6 * len(stacks), 3.4), squeeze=False)
    for ax, (mode, image) in zip(axes[0], stacks.items(), strict=True):
        ax.set_title(mode)
        if isinstance(image, str):
            ax.text(0.5, 0.5, image, ha="center", va="center", wrap=True, transform=ax.transAxes)
            ax.set_axis_off()
            continue
        extent = _extent(image, pixel_size_a)
        if mode == DIFFERENCE:
            limit = float(np.abs(image).max()) or 1.0
            shown = ax.imshow(
                image, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit, extent=extent
            )
        else:
            shown = ax.imshow(image, origin="lower", cmap="gray", extent=extent)
        ax.set_xlabel("x (A)")
        fig.colorbar(shown, ax=ax, shrink=0.8, label="df (Hz)")
    fig.suptitle(f"{title}, h = {height_a:.2f} A")
    fig.tight_layout()
    save_figure(fig, *paths, dpi=120)
    plt.close(fig)
