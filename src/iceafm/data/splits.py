"""Train/val/test split by structure (never by view or augmentation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

SPLITS = ("train", "val", "test")


class SplitConfigError(ValueError):
    """``dataset.fractions`` is not a set of non-negative numbers summing to 1."""


def split_samples(
    samples: Sequence[str], fractions: Mapping[str, float], seed: int
) -> dict[str, list[str]]:
    """Assign each sample id to one split, reproducibly for a given ``seed``.

    Samples are sorted, permuted with ``seed`` and cut by ``fractions`` (keys train, val, test,
    summing to 1). Every split with a positive fraction gets at least one sample when there are
    enough samples; the remainder goes to train. Lists come back sorted.
    """
    if set(fractions) != set(SPLITS) or any(f < 0 for f in fractions.values()):
        raise SplitConfigError(
            f"config dataset.fractions: expected non-negative {list(SPLITS)}, got {dict(fractions)}"
        )
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise SplitConfigError(
            f"config dataset.fractions: must sum to 1, got {sum(fractions.values())}"
        )
    ordered = sorted(samples)
    perm = np.random.default_rng(seed).permutation(len(ordered))
    counts = {}
    for name in ("val", "test"):
        n = int(round(fractions[name] * len(ordered)))
        if fractions[name] > 0 and len(ordered) >= len(SPLITS):
            n = max(n, 1)
        counts[name] = n
    counts["train"] = max(len(ordered) - counts["val"] - counts["test"], 0)
    out, start = {}, 0
    for name in ("val", "test", "train"):
        out[name] = sorted(ordered[i] for i in perm[start : start + counts[name]])
        start += counts[name]
    return {name: out[name] for name in SPLITS}
