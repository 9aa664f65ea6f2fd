"""How far one df stack is from a reference stack of the same scan, relative to its contrast.

Used to judge an electrostatics approximation (e.g. a cheaper DFT route) by the AFM images it
produces rather than by its potential: ``rel_diff = max |df_test - df_ref| / (max df_ref -
min df_ref)``, the largest pixel error as a fraction of the reference stack's df range.
"""

from __future__ import annotations

import numpy as np


def stack_rel_diff(df_test_hz: np.ndarray, df_ref_hz: np.ndarray) -> np.ndarray:
    """Per-stack relative difference of two df arrays (Hz) of the same scan.

    Both arrays have shape [n_stacks, ...] (e.g. [n_views, n_heights, ny, nx]); entry s of the
    result (shape [n_stacks], dimensionless) is max over stack s of |test - ref| divided by
    (max - min) of ``df_ref_hz[s]``. A flat reference stack (range 0) raises ``ValueError``.
    """
    test = np.asarray(df_test_hz, dtype=np.float64)
    ref = np.asarray(df_ref_hz, dtype=np.float64)
    if test.shape != ref.shape or ref.ndim < 2:
        raise ValueError(
            f"df stacks: got shapes {test.shape} and {ref.shape}, expected the same "
            "[n_stacks, ...] shape"
        )
    axes = tuple(range(1, ref.ndim))
    span = np.ptp(ref, axis=axes)
    if np.any(span <= 0):
        raise ValueError(f"df reference: stack(s) {np.flatnonzero(span <= 0).tolist()} are flat")
    return np.abs(test - ref).max(axis=axes) / span


def slice_rel_diff(df_test_hz: np.ndarray, df_ref_hz: np.ndarray) -> np.ndarray:
    """Per-height relative difference, [n_heights], of [n_views, n_heights, ny, nx] stacks (Hz).

    Entry k is the largest, over views, of max |test - ref| in slice k divided by the range of
    the reference's slice k (each height judged against its own contrast: stricter than
    :func:`stack_rel_diff` for the far slices, whose range is small).
    """
    test = np.asarray(df_test_hz, dtype=np.float64)
    ref = np.asarray(df_ref_hz, dtype=np.float64)
    if test.ndim != 4 or ref.ndim != 4:
        raise ValueError(
            f"df stacks: got shapes {test.shape} and {ref.shape}, expected "
            "[n_views, n_heights, ny, nx]"
        )
    n_views, n_heights = ref.shape[:2]
    per_slice = stack_rel_diff(
        test.reshape(n_views * n_heights, -1), ref.reshape(n_views * n_heights, -1)
    )
    return per_slice.reshape(n_views, n_heights).max(axis=0)
