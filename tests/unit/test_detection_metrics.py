"""Detection metrics on hand-made cases: matching, bands, duplicates, empty predictions."""

from __future__ import annotations

import numpy as np
import pytest

from iceafm.metrics.detection import DetectionScorer, band_index, flat_metrics, match_atoms


def _score(pred_sym, pred_xyz, true_sym, true_xyz):
    scorer = DetectionScorer()
    scorer.add(pred_sym, np.array(pred_xyz, float), true_sym, np.array(true_xyz, float))
    return scorer.result()


def test_perfect_prediction_scores_one_everywhere():
    sym = ["O", "O", "H"]
    xyz = [[0, 0, 0], [3, 0, -2.0], [1, 0, 0.5]]
    r = _score(sym, xyz, sym, xyz)
    flat = flat_metrics(r)
    assert all(flat[k] == 1.0 for k in ("O.f1_0_1.5", "O.f1_1.5_3.0", "H.f1_0_1.5", "success_rate"))
    assert r["cutoff_1A"]["H"]["overall"]["tp"] == 1


def test_optimal_matching_beats_greedy():
    # greedy (closest pair first) pairs p0-t1 (0.1 A) and leaves p1 and t0 at 1.2 A: 1 TP;
    # the optimal one-to-one assignment within 1 A finds 2 TP.
    true = np.array([[0.0, 0, 0], [0.9, 0, 0]])
    pred = np.array([[0.8, 0, 0], [1.7, 0, 0]])
    rows, cols = match_atoms(pred, true, 1.0)
    assert len(rows) == 2 and sorted(zip(rows, cols, strict=True)) == [(0, 0), (1, 1)]


def test_duplicates_count_as_false_positives():
    r = _score(["O", "O"], [[0, 0, 0], [0.1, 0, 0]], ["O"], [[0, 0, 0]])
    o = r["cutoff_1A"]["O"]["overall"]
    assert (o["tp"], o["fp"], o["fn"]) == (1, 1, 0)
    assert o["precision"] == 0.5 and o["recall"] == 1.0
    assert r["success_rate"] == 0.0


def test_empty_prediction_and_empty_truth():
    r = _score([], np.zeros((0, 3)), ["O", "H"], [[0, 0, 0], [1, 0, 0]])
    assert r["cutoff_1A"]["O"]["overall"]["f1"] == 0.0
    assert r["cutoff_1A"]["H"]["overall"]["fn"] == 1
    r = _score([], np.zeros((0, 3)), [], np.zeros((0, 3)))
    assert r["cutoff_1A"]["O"]["overall"]["f1"] == 1.0 and r["success_rate"] == 1.0


def test_bands_and_atoms_above_the_top_o():
    assert band_index(np.array([0.8, 0.0, -1.49, -1.5, -2.9, -3.5])).tolist() == [0, 0, 0, 1, 1, 1]
    # a dangling H 0.9 A above the topmost O is missed, a deep O found, a shallow O missed
    true_sym = ["H", "O", "O"]
    true_xyz = [[0, 0, 0.9], [5, 5, -2.2], [2, 2, 0.0]]
    r = _score(["O"], [[5, 5.2, -2.2]], true_sym, true_xyz)
    h_shallow = r["cutoff_1A"]["H"]["0_1.5"]
    assert (h_shallow["tp"], h_shallow["fn"]) == (0, 1)
    assert r["cutoff_1A"]["O"]["1.5_3"]["f1"] == 1.0
    assert r["cutoff_1A"]["O"]["0_1.5"]["recall"] == 0.0


def test_pair_across_a_band_edge_is_not_split_and_strict_cutoff():
    # true O at depth 1.45 (band 0), predicted at depth 1.6 (band 1), 0.15 A apart + 0.4 A in x
    r = _score(["O"], [[0.4, 0, -1.6]], ["O"], [[0, 0, -1.45]])
    band0, band1 = r["cutoff_1A"]["O"]["0_1.5"], r["cutoff_1A"]["O"]["1.5_3"]
    assert (band0["tp"], band0["fn"], band1["fp"]) == (1, 0, 0)
    strict = r["cutoff_0.35A"]["O"]
    assert (strict["overall"]["tp"], strict["0_1.5"]["fn"], strict["1.5_3"]["fp"]) == (0, 1, 1)


def test_counts_are_summed_over_stacks():
    scorer = DetectionScorer()
    scorer.add(["O"], np.array([[0.0, 0, 0]]), ["O"], np.array([[0.0, 0, 0]]))
    scorer.add([], np.zeros((0, 3)), ["O", "O", "O"], np.array([[0.0, 0, 0]] * 3))
    r = scorer.result()
    assert r["cutoff_1A"]["O"]["overall"]["recall"] == pytest.approx(0.25)
    assert r["success_rate"] == 0.5 and r["n_stacks"] == 2
