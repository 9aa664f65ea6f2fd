"""Amplitudes of the ``augment`` method's artifacts measured on the real stacks (no labels).

The handcrafted augmentation (:func:`iceafm.data.loader.augment_sample`) draws each artifact's
amplitude uniformly in [0, max]; fixed ``max`` values are guesses. Here each ``max`` is set by
matching a label-free image statistic between the real stacks and augmented simulated stacks
(every stack normalised slice by slice, at the detector's pixel size):

- ``noise`` (max std of added white noise, fraction of the slice std): statistic
  :func:`high_pass_std`, the std of a slice minus its Gaussian blur (sigma 1 px) after the plane
  is removed;
- ``gradient`` (max background-plane amplitude across the window, fraction of the slice std):
  statistic :func:`plane_amplitude`, the amplitude of the least-squares plane;
- ``scan_lines`` (probability of scan-line offsets): the fraction of real stacks whose
  :func:`row_excess` (row-mean scatter over column-mean scatter, 1 without line artifacts)
  exceeds the largest of the simulated stacks'.

For the two amplitudes, the statistic's median over simulated stacks with the artifact at a
fixed amplitude a (:func:`statistic_curve`, a on a grid, the other artifacts off) is a monotone
curve; ``max`` is the a at which the curve reaches the ``quantile`` (default 0.9) of the real
stacks' values, so the uniform draws cover all but the most extreme real stacks. A real value
below the simulated floor (a = 0) gives 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import ndimage

from iceafm.data.loader import background_plane
from iceafm.io.stacks import normalise_slices

#: Amplitude grid (fraction of the slice std) on which the statistic curves are sampled.
GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0)


def _detrended(df: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(df [n, ny, nx] normalised slice by slice with each slice's least-squares plane removed,
    the plane coefficients [n, 2] along x and y across the window in slice stds)."""
    df = normalise_slices(df).astype(np.float64)
    n, ny, nx = df.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    design = np.column_stack([np.ones(ny * nx), xx.ravel() / max(nx - 1, 1) - 0.5,
                              yy.ravel() / max(ny - 1, 1) - 0.5])  # fmt: skip
    coef, *_ = np.linalg.lstsq(design, df.reshape(n, -1).T, rcond=None)
    residual = df - (design @ coef).T.reshape(n, ny, nx)
    return residual, coef[1:].T


def plane_amplitude(df: np.ndarray) -> float:
    """Mean over slices of the least-squares background plane's amplitude across the window (in
    slice stds; :func:`iceafm.data.loader.augment_sample`'s ``gradient`` convention)."""
    return float(np.linalg.norm(_detrended(df)[1], axis=1).mean())


def high_pass_std(df: np.ndarray, sigma_px: float = 1.0) -> float:
    """Mean over slices of the std of (slice - Gaussian blur of ``sigma_px`` px), planes removed
    and slices normalised first: grows with white noise."""
    residual, _ = _detrended(df)
    blurred = ndimage.gaussian_filter(residual, (0, sigma_px, sigma_px), mode="nearest")
    return float((residual - blurred).std(axis=(1, 2)).mean())


def row_excess(df: np.ndarray) -> float:
    """Mean over slices of std(diff of row means) / std(diff of column means), planes removed:
    about 1 for an image without scan-line offsets (rows are the fast-scan lines), above 1 with
    them."""
    residual, _ = _detrended(df)
    rows = np.diff(residual.mean(axis=2), axis=1).std(axis=1)
    cols = np.diff(residual.mean(axis=1), axis=1).std(axis=1)
    return float((rows / (cols + 1e-12)).mean())


def statistic_curve(
    stacks: Sequence[np.ndarray],
    statistic: Callable[[np.ndarray], float],
    apply: Callable[[np.ndarray, float, np.random.Generator], np.ndarray],
    grid: Sequence[float] = GRID,
    seed: int = 0,
) -> np.ndarray:
    """[len(grid)]: the median over ``stacks`` of ``statistic(apply(stack, a, rng))`` for each
    amplitude a of ``grid``."""
    rng = np.random.default_rng(seed)
    return np.array([np.median([statistic(apply(s, a, rng)) for s in stacks]) for a in grid])


def match_amplitude(curve: np.ndarray, target: float, grid: Sequence[float] = GRID) -> float:
    """The amplitude at which the monotone-increasing ``curve`` (sampled on ``grid``) reaches
    ``target`` (linear interpolation; 0 below the curve's start, the grid's end above its
    end)."""
    curve = np.maximum.accumulate(np.asarray(curve, dtype=np.float64))
    if target <= curve[0]:
        return 0.0
    return float(np.interp(target, curve, np.asarray(grid, dtype=np.float64)))


def add_noise(df: np.ndarray, a: float, rng: np.random.Generator) -> np.ndarray:
    """White noise of std ``a`` slice stds (the ``noise`` augmentation at amplitude a)."""
    std = df.std(axis=(1, 2), keepdims=True)
    return df + a * std * rng.standard_normal(df.shape)


def add_plane(df: np.ndarray, a: float, rng: np.random.Generator) -> np.ndarray:
    """A background plane of amplitude ``a`` slice stds across the window in a random direction
    (the ``gradient`` augmentation at amplitude a)."""
    _, ny, nx = df.shape
    plane = background_plane(ny, nx, rng.uniform(0, 2 * np.pi))
    return df + a * df.std(axis=(1, 2), keepdims=True) * plane[None]


def calibrate_augment(
    simulated: Sequence[np.ndarray], real: Sequence[np.ndarray], base: Any,
    quantile: float = 0.9, seed: int = 0,
) -> tuple[Any, dict[str, Any]]:
    """(``base`` :class:`iceafm.data.loader.AugmentConfig` with ``noise``, ``gradient`` and
    ``scan_lines`` measured as the module docstring says, a record of the statistics). Stacks
    are df [n, ny, nx] at the same pixel size."""
    record: dict[str, Any] = {"quantile": quantile, "grid": list(GRID)}
    values = {}
    for key, statistic, apply in (("noise", high_pass_std, add_noise),
                                  ("gradient", plane_amplitude, add_plane)):  # fmt: skip
        curve = statistic_curve(simulated, statistic, apply, seed=seed)
        real_values = np.array([statistic(s) for s in real])
        target = float(np.quantile(real_values, quantile))
        values[key] = round(match_amplitude(curve, target), 3)
        record[key] = {"simulated_curve": curve.round(4).tolist(), "real_median":
                       float(np.median(real_values)), "real_quantile": target,
                       "max": values[key], "was": getattr(base, key)}  # fmt: skip
    sim_rows = np.array([row_excess(s) for s in simulated])
    real_rows = np.array([row_excess(s) for s in real])
    values["scan_lines"] = round(float((real_rows > sim_rows.max()).mean()), 3)
    record["scan_lines"] = {
        "simulated_max": float(sim_rows.max()), "real_values": real_rows.round(3).tolist(),
        "probability": values["scan_lines"], "was": base.scan_lines,
    }  # fmt: skip
    return replace(base, **values), record
