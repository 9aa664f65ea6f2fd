"""Consensus completion (the per-atom mean of k raw draws, projected) and its F1 entry."""

from __future__ import annotations

import numpy as np
import pytest

from iceafm.diffusion.evaluate import _group, completion_metrics
from iceafm.diffusion.graph import mic_xy
from iceafm.diffusion.metrics import free_oxygens, validity
from iceafm.diffusion.tasks import completion_problem, consensus_completion
from iceafm.structures.ice_basal import basal_slab

BANDS = [(0.0, 4.0), (4.0, 8.0)]


@pytest.fixture(scope="module")
def problem():
    """Completion problem of a perfect ice Ih basal slab (1 x 1 cells, top 3 A fixed, to 8 A)."""
    return completion_problem(basal_slab((1, 1), 4, 10.0, 3)[0], 3.0, 8.0)


def _moved(atoms, fixed, delta):
    """A copy with the free atoms displaced by delta ([n_free, 3] or [3], A)."""
    out = atoms.copy()
    out.positions[~fixed] += delta
    return out


def test_consensus_is_the_minimum_image_mean(problem):
    """Draws displaced by +d and -d average back to the truth, also where one draw's atoms sit a
    whole cell vector away (periodic image) and outside the cell; fixed atoms are the
    problem's; no projection: exactly the mean, wrapped into the cell in x and y."""
    atoms, fixed = problem
    rng = np.random.default_rng(0)
    d = rng.normal(0.0, 0.3, (int((~fixed).sum()), 3))
    a = np.asarray(atoms.cell)[0]
    far = _moved(atoms, fixed, -d + a)  # the same as -d, one image over (x beyond the cell)
    assert (far.positions[~fixed, 0] > np.asarray(atoms.cell)[0, 0]).any()
    out = consensus_completion([_moved(atoms, fixed, d), far], problem, "none")
    wrapped = atoms.copy()
    wrapped.wrap(pbc=[True, True, False])
    assert np.allclose(out.positions, wrapped.positions, atol=1e-9)
    assert np.array_equal(out.arrays["fixed"].astype(bool), fixed)
    assert out.info["consensus_of"] == 2 and out.info["relax_steps"] == 0
    shifted = consensus_completion([_moved(atoms, fixed, [0.3, 0.0, 0.0])] * 3, problem, "none")
    gap = mic_xy(shifted.positions - wrapped.positions, np.asarray(atoms.cell))
    assert np.allclose(gap[~fixed], [0.3, 0.0, 0.0]) and np.allclose(gap[fixed], 0.0)


def test_consensus_is_projected(problem):
    """With the projection, the mean of noisy draws (0.25 A per axis) is again a valid slab of
    rigid waters, its O closer to the true O than the draws' O (the mean of 4 halves the noise;
    the projection's restraint keeps the O near it)."""
    atoms, fixed = problem
    rng = np.random.default_rng(1)
    draws = [
        _moved(atoms, fixed, rng.normal(0.0, 0.25, (int((~fixed).sum()), 3))) for _ in range(4)
    ]
    out = consensus_completion(draws, problem, "relax", 10)
    assert validity(out) and out.info["projection"] == "relax"
    assert np.allclose(out.positions[fixed], atoms.positions[fixed])
    true_o = free_oxygens(atoms, fixed)
    err = np.linalg.norm(free_oxygens(out, fixed) - true_o, axis=1)
    draw_err = [np.linalg.norm(free_oxygens(d, fixed) - true_o, axis=1).mean() for d in draws]
    assert err.mean() < 0.7 * min(draw_err) and err.max() < 0.5
    with pytest.raises(ValueError, match="no draws"):
        consensus_completion([], problem)
    with pytest.raises(ValueError, match="atom counts"):
        consensus_completion([atoms, atoms[:-3]], problem)


def test_consensus_f1_and_grouping(problem):
    """F1 of hand-made completions: draws with every free O 1.5 A off score 0 on average, one
    exact draw makes best-of-k 1, and an exact consensus scores 1; the consensus key appears
    only when a consensus is given; _group separates consensus frames from the draws."""
    atoms, fixed = problem
    off = _moved(atoms, fixed, [0.0, 0.0, 1.5])
    draws = [[off, atoms.copy()]]
    metrics = completion_metrics(draws, [problem], BANDS, 1.0, consensus=[atoms.copy()])
    for key in ("completion_o_f1_0_4", "completion_o_f1_4_8"):
        assert metrics[key] == pytest.approx(0.5)
        assert metrics[key + "_best_of_k"] == 1.0 and metrics[key + "_consensus"] == 1.0
    plain = completion_metrics([[off, off]], [problem], BANDS, 1.0)
    assert plain["completion_o_f1_4_8"] == 0.0 and "completion_o_f1_4_8_consensus" not in plain
    frames = []
    for template in range(2):
        for draw in (0, 1, -1):
            frame = atoms.copy()
            frame.info.update(template=template, draw=draw)
            if draw < 0:
                frame.info["consensus_of"] = 2
            frames.append(frame)
    groups, centres = _group(frames)
    assert [[f.info["draw"] for f in g] for g in groups] == [[0, 1], [0, 1]]
    assert [c.info["template"] for c in centres] == [0, 1]
    assert _group(frames[:2])[1] is None
