"""Figure of the DFT stage: potential slice above the surface and density cut, per sample."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from iceafm.dft.cube import CubeGrid, load_density_cube, load_potential_cube  # noqa: E402
from iceafm.dft.errors import DftFailedError  # noqa: E402
from iceafm.dft.record import read_record  # noqa: E402
from iceafm.figures import save_figure  # noqa: E402


def _axis_coords_a(grid: CubeGrid, axis: int) -> np.ndarray:
    """Grid coordinates (A) along ``axis``; assumes the grid axes are the Cartesian axes."""
    return grid.origin_a[axis] + np.arange(grid.data.shape[axis]) * grid.spacing_a[axis, axis]


def potential_slice(grid: CubeGrid, height_above_top_a: float) -> tuple[np.ndarray, float]:
    """Potential (V, shape (nx, ny)) on the grid plane nearest to ``height_above_top_a`` A
    above the topmost atom, and that plane's height above the topmost atom (A)."""
    z_a = _axis_coords_a(grid, 2)
    z_top = grid.atoms.positions[:, 2].max()
    k = int(np.argmin(np.abs(z_a - (z_top + height_above_top_a))))
    return grid.data[:, :, k], float(z_a[k] - z_top)


def _draw_top_atoms(ax: plt.Axes, grid: CubeGrid) -> None:
    """Atoms within 2 A of the topmost one, in the xy plane (O red, H white, others orange)."""
    positions = grid.atoms.positions
    numbers = grid.atoms.numbers
    keep = positions[:, 2] > positions[:, 2].max() - 2.0
    colours = np.where(numbers[keep] == 1, "white", np.where(numbers[keep] == 8, "red", "orange"))
    ax.scatter(
        positions[keep, 0], positions[keep, 1], s=12, c=colours, edgecolors="black", linewidths=0.4
    )


def plot_dft_overview(
    samples: Sequence[tuple[str, str | os.PathLike, str | os.PathLike, str | os.PathLike]],
    height_above_top_a: float,
    png_path: str | os.PathLike,
    pdf_path: str | os.PathLike,
) -> None:
    """One row per ``(sample, hartree_cube, density_cube, dft_json)``: the potential (V) in the
    plane ``height_above_top_a`` A above the topmost atom (top-layer atoms drawn), and log10 of
    the density (e/A^3) in the xz plane through the topmost atom. A failed calculation gets
    its recorded reason instead. Writes both files atomically."""
    fig, axes = plt.subplots(len(samples), 2, figsize=(9, 3.6 * len(samples)), squeeze=False)
    for row, (sample, hartree, density, record_path) in zip(axes, samples, strict=True):
        record = read_record(record_path)
        try:
            phi = load_potential_cube(hartree)
            rho = load_density_cube(density)
        except DftFailedError:
            for ax in row:
                ax.axis("off")
            row[0].text(0, 0.5, f"{sample}: DFT failed\n{record.get('reason')}", wrap=True)
            continue
        values_v, dz_a = potential_slice(phi, height_above_top_a)
        # The lateral variation is what the tip sees; a slab's mean (the vacuum level shifted by
        # the surface dipole, volts on a metal) would swamp it.
        mean_v = float(values_v.mean())
        values_v = values_v - mean_v
        x_a, y_a, z_a = (_axis_coords_a(phi, i) for i in range(3))
        vmax = float(np.abs(values_v).max()) or 1.0
        image = row[0].pcolormesh(
            x_a, y_a, values_v.T, cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="nearest"
        )
        _draw_top_atoms(row[0], phi)
        row[0].set(
            aspect="equal",
            xlabel="x (A)",
            ylabel="y (A)",
            title=f"{sample}: potential {dz_a:.1f} A above top atom",
        )
        fig.colorbar(image, ax=row[0], label=f"V - mean ({mean_v:+.2f} V)")
        top = int(np.argmax(rho.atoms.positions[:, 2]))
        j = int(np.argmin(np.abs(y_a - rho.atoms.positions[top, 1])))
        log_density = np.log10(np.clip(rho.data[:, j, :], 1e-6, None))
        image = row[1].pcolormesh(
            x_a, z_a, log_density.T, cmap="viridis", vmin=-6, vmax=1, shading="nearest"
        )
        row[1].set(
            aspect="equal",
            xlabel="x (A)",
            ylabel="z (A)",
            title=f"density, xz cut at y = {y_a[j]:.1f} A",
        )
        fig.colorbar(image, ax=row[1], label="log10 e/A^3")
    fig.tight_layout()
    save_figure(fig, png_path, pdf_path)
    plt.close(fig)
