"""Paired bootstrap over units (stacks, structures, problems) of the difference of two
statistics computed on the same units.

Each resample draws ``n_units`` unit indices with replacement (one draw shared by both sides,
so unit-to-unit variation cancels in the difference) and evaluates both statistics on it; the
interval is the percentile interval of the resampled differences. A statistic is any function
of an index array (a unit may appear several times): a mean of per-unit values
(:func:`mean_statistic`) or a value of the pooled contents of the drawn units (for example an
energy distance of their concatenated properties).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Statistic = Callable[[np.ndarray], float]


def mean_statistic(values: Sequence[float]) -> Statistic:
    """The statistic ``indices -> mean(values[indices])`` of per-unit ``values`` [n_units]."""
    array = np.asarray(values, dtype=np.float64)
    return lambda indices: float(array[indices].mean())


def paired_bootstrap(
    statistic_a: Statistic,
    statistic_b: Statistic,
    n_units: int,
    n_resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float | int | list[float]]:
    """The difference a - b on all ``n_units`` units and its paired bootstrap interval.

    Returns ``diff`` (a - b on every unit once), ``ci`` [low, high] (the ``level`` percentile
    interval of the resampled differences), ``fraction_positive`` (of the resampled differences
    > 0), ``n_units``, ``n_resamples`` and ``n_valid`` (resamples where both statistics are
    finite; the others, e.g. an energy distance of a draw without any value in range, are left
    out). Deterministic for a given ``seed``.
    """
    if n_units < 1:
        raise ValueError(f"paired_bootstrap: n_units must be >= 1, got {n_units}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"paired_bootstrap: level must lie in (0, 1), got {level}")
    everything = np.arange(n_units)
    diff = statistic_a(everything) - statistic_b(everything)
    draws = np.random.default_rng(seed).integers(0, n_units, (n_resamples, n_units))
    boot = np.array([statistic_a(d) - statistic_b(d) for d in draws], dtype=np.float64)
    boot = boot[np.isfinite(boot)]
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(boot, [tail, 100.0 - tail]) if len(boot) else (np.nan, np.nan)
    return {
        "diff": float(diff),
        "ci": [float(low), float(high)],
        "fraction_positive": float((boot > 0).mean()) if len(boot) else float("nan"),
        "n_units": int(n_units),
        "n_resamples": int(n_resamples),
        "n_valid": int(len(boot)),
    }
