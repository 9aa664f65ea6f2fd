"""The per-bilayer order parameter tells a perfect ice slab from a melted one."""

import numpy as np
import pytest

from iceafm.md.order import Q_LIQUID, averaged_order, order_profile
from iceafm.md.simulate import MDSettings, run_trajectory
from iceafm.structures.ice_basal import basal_slab


@pytest.fixture(scope="module")
def slab():
    return basal_slab((1, 1), 4, 10.0, genice_seed=3)


def _md(slab, temperature_k, ps, tmp_path):
    atoms, bilayer = slab
    settings = MDSettings(temperature_k, equilibration_ps=ps, production_ps=1.0,
                          frame_spacing_ps=1.0)  # fmt: skip
    frames = run_trajectory(
        atoms, bilayer < 1, settings, 5, tmp_path / "c.npz", ps, "CPU", log=lambda line: None
    )
    return frames[-1]


def test_a_perfect_slab_has_no_liquid_layer(slab):
    atoms, bilayer = slab
    profile = order_profile(atoms, moving=bilayer >= 1)
    np.testing.assert_allclose(averaged_order(atoms), 1.0, atol=1e-4)  # surface molecules too
    assert profile.count.tolist() == [8, 8, 8, 8]
    assert profile.qll_bilayers == 0.0


def test_cold_ice_stays_ordered_and_a_hot_slab_melts_from_the_top(slab, tmp_path):
    """10 ps at 400 K (130 K above Tm) melts the three free bilayers' top; 4 ps at 200 K do not
    (about 5 s on one core)."""
    _, bilayer = slab
    cold = order_profile(_md(slab, 200.0, 4.0, tmp_path), moving=bilayer >= 1)
    hot = order_profile(_md(slab, 400.0, 10.0, tmp_path), moving=bilayer >= 1)
    assert cold.qll_bilayers <= 0.25
    assert (cold.q_mean > Q_LIQUID).all()
    assert hot.qll_bilayers >= 1.0  # 1.4-2 seen (PME FFT plans make runs differ slightly)
    assert hot.q_mean[-1] < Q_LIQUID < hot.q_mean[0]  # liquid on top of the fixed base
