"""Atom-detection metrics: AmorAFM's protocol made exact.

Per species (O, H) and stack, predicted and true atoms are paired by an optimal one-to-one
assignment (:func:`scipy.optimize.linear_sum_assignment`, minimum total distance) restricted to
pairs closer than the cutoff (1.0 A as AmorAFM, 0.35 A as Priante et al.). A matched pair is a
true positive, an unmatched prediction a false positive, an unmatched true atom a false negative.

Depth bands: depth = -z, z relative to the topmost O (the labels' convention), so atoms above the
topmost O have depth < 0 and count in the first band; atoms deeper than the last band's end count
in the last band. The matching is done once over all depths; a true positive and a false negative
count in the band of the true atom, a false positive in the band of the predicted one, so no pair
is split at a band edge. Counts are summed over stacks before precision / recall / F1 (micro
average). Success rate: share of stacks with no false positive and no false negative of either
species at the first cutoff (AmorAFM's SUC).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from iceafm.labels import SPECIES

#: Depth bands (A below the topmost O): [0, 1.5) and [1.5, 3.0].
BANDS_A: tuple[tuple[float, float], ...] = ((0.0, 1.5), (1.5, 3.0))
CUTOFFS_A: tuple[float, ...] = (1.0, 0.35)


def match_atoms(
    pred_xyz_a: np.ndarray, true_xyz_a: np.ndarray, cutoff_a: float
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one pairs closer than ``cutoff_a`` (A): (pred_index [k], true_index [k]).

    Among all assignments it maximises the number of pairs within the cutoff, then minimises their
    total distance (pairs beyond the cutoff cost more than any set of valid pairs)."""
    pred = np.asarray(pred_xyz_a, dtype=np.float64).reshape(-1, 3)
    true = np.asarray(true_xyz_a, dtype=np.float64).reshape(-1, 3)
    if not len(pred) or not len(true):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    dist = np.linalg.norm(pred[:, None, :] - true[None, :, :], axis=-1)
    big = 1.0 + cutoff_a * (min(len(pred), len(true)) + 1)
    cost = np.where(dist < cutoff_a, dist, big)
    rows, cols = linear_sum_assignment(cost)
    ok = dist[rows, cols] < cutoff_a
    return rows[ok].astype(np.int64), cols[ok].astype(np.int64)


def band_index(z_a: np.ndarray, bands: Sequence[tuple[float, float]] = BANDS_A) -> np.ndarray:
    """Band of each atom from its z (A, relative to the topmost O): [n] int in [0, len(bands))."""
    depth = -np.asarray(z_a, dtype=np.float64)
    edges = np.array([b[1] for b in bands[:-1]])
    return np.searchsorted(edges, depth, side="right").astype(np.int64)


@dataclass
class Counts:
    """True positives, false positives, false negatives."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, tp: int, fp: int, fn: int) -> None:
        """Accumulate counts."""
        self.tp += tp
        self.fp += fp
        self.fn += fn

    def scores(self) -> dict[str, float]:
        """precision, recall, f1 (1.0 where nothing was predicted and nothing was there), and
        the counts."""
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else float(self.fn == 0)
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else float(self.fp == 0)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        return {"precision": p, "recall": r, "f1": f1, "tp": self.tp, "fp": self.fp, "fn": self.fn}


@dataclass
class DetectionScorer:
    """Accumulates stacks; :meth:`result` gives the metrics."""

    cutoffs_a: tuple[float, ...] = CUTOFFS_A
    bands_a: tuple[tuple[float, float], ...] = BANDS_A
    _counts: dict[tuple[str, float, int | None], Counts] = field(default_factory=dict)
    _n_stacks: int = 0
    _n_success: int = 0

    def _get(self, species: str, cutoff: float, band: int | None) -> Counts:
        return self._counts.setdefault((species, cutoff, band), Counts())

    def add(
        self,
        pred_symbols: Sequence[str],
        pred_xyz_a: np.ndarray,
        true_symbols: Sequence[str],
        true_xyz_a: np.ndarray,
    ) -> None:
        """Score one stack: symbols [n] ('O'/'H'), positions [n, 3] (A; x, y in the scan frame,
        z relative to the topmost O), predicted and true."""
        pred_sym, true_sym = np.asarray(pred_symbols), np.asarray(true_symbols)
        pred_xyz = np.asarray(pred_xyz_a, dtype=np.float64).reshape(-1, 3)
        true_xyz = np.asarray(true_xyz_a, dtype=np.float64).reshape(-1, 3)
        perfect = True
        for species in SPECIES:
            p, t = pred_xyz[pred_sym == species], true_xyz[true_sym == species]
            p_band, t_band = band_index(p[:, 2], self.bands_a), band_index(t[:, 2], self.bands_a)
            for k, cutoff in enumerate(self.cutoffs_a):
                rows, cols = match_atoms(p, t, cutoff)
                tp, fp, fn = len(rows), len(p) - len(rows), len(t) - len(cols)
                self._get(species, cutoff, None).add(tp, fp, fn)
                if k == 0 and (fp or fn):
                    perfect = False
                fp_mask = np.ones(len(p), bool)
                fp_mask[rows] = False
                fn_mask = np.ones(len(t), bool)
                fn_mask[cols] = False
                for b in range(len(self.bands_a)):
                    self._get(species, cutoff, b).add(
                        int(np.sum(t_band[cols] == b)),
                        int(np.sum(p_band[fp_mask] == b)),
                        int(np.sum(t_band[fn_mask] == b)),
                    )
        self._n_stacks += 1
        self._n_success += perfect

    def result(self) -> dict[str, object]:
        """Nested metrics: ``{species: {"overall" | "<lo>_<hi>": {precision, recall, f1, tp,
        fp, fn}}}`` per cutoff under ``"cutoff_<c>A"``, plus ``success_rate`` (at the first
        cutoff) and ``n_stacks``."""
        out: dict[str, object] = {"n_stacks": self._n_stacks}
        out["success_rate"] = self._n_success / self._n_stacks if self._n_stacks else 0.0
        for cutoff in self.cutoffs_a:
            per_species = {}
            for species in SPECIES:
                entry = {"overall": self._get(species, cutoff, None).scores()}
                for b, (lo, hi) in enumerate(self.bands_a):
                    entry[f"{lo:g}_{hi:g}"] = self._get(species, cutoff, b).scores()
                per_species[species] = entry
            out[f"cutoff_{cutoff:g}A"] = per_species
        return out


def flat_metrics(result: dict[str, object]) -> dict[str, float]:
    """The benchmark's flat keys from :meth:`DetectionScorer.result`: ``O.f1_0_1.5``,
    ``O.f1_1.5_3.0``, ``O.precision``, ``O.recall`` (1.0 A), ``O.f1_0_1.5_at_0.35A`` (same for
    H), ``success_rate``, ``n_test_stacks``."""
    flat: dict[str, float] = {}
    at1, at035 = result["cutoff_1A"], result.get("cutoff_0.35A")
    for species in SPECIES:
        s = at1[species]
        flat[f"{species}.f1_0_1.5"] = s["0_1.5"]["f1"]
        flat[f"{species}.f1_1.5_3.0"] = s["1.5_3"]["f1"]
        flat[f"{species}.precision"] = s["overall"]["precision"]
        flat[f"{species}.recall"] = s["overall"]["recall"]
        if at035 is not None:
            flat[f"{species}.f1_0_1.5_at_0.35A"] = at035[species]["0_1.5"]["f1"]
    flat["success_rate"] = result["success_rate"]
    flat["n_test_stacks"] = result["n_stacks"]
    return flat
