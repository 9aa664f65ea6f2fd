"""The per-bilayer order parameter tells a perfect ice slab from a melted one."""

import numpy as np
import pytest

from iceafm.md.order import (
    Q_LIQUID,
    averaged_order,
    block_average,
    calibrated_cut,
    order_profile,
    site_distance,
)
from iceafm.md.simulate import MDSettings, run_trajectory, sample_bulk
from iceafm.structures.ice_basal import basal_slab, ice_ih_bulk


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


@pytest.fixture(scope="module")
def hot_frame(slab, tmp_path_factory):
    """The slab after 20 ps at 400 K (130 K above Tm; about 8 s on one core). Runs of the same
    seed differ (PME FFT plans change the rounding, and melting amplifies it): 1.6-3.0 bilayers
    melted in 8 runs; 10 ps gave 0.75-2.75, too close to the tests' bound of 1."""
    return _md(slab, 400.0, 20.0, tmp_path_factory.mktemp("hot"))


def test_a_perfect_slab_has_no_liquid_layer(slab):
    atoms, bilayer = slab
    profile = order_profile(atoms, moving=bilayer >= 1)
    np.testing.assert_allclose(averaged_order(atoms), 1.0, atol=1e-4)  # surface molecules too
    assert profile.count.tolist() == [8, 8, 8, 8]
    assert profile.qll_bilayers == 0.0


def test_cold_ice_stays_ordered_and_a_hot_slab_melts_from_the_top(slab, hot_frame, tmp_path):
    """The hot slab's three free bilayers melt from the top; 4 ps at 200 K do not (about 2 s)."""
    _, bilayer = slab
    cold = order_profile(_md(slab, 200.0, 4.0, tmp_path), moving=bilayer >= 1)
    hot = order_profile(hot_frame, moving=bilayer >= 1)
    assert cold.qll_bilayers <= 0.25
    assert (cold.q_mean > Q_LIQUID).all()
    assert hot.qll_bilayers >= 1.0
    assert hot.q_mean[-1] < Q_LIQUID < hot.q_mean[0]  # liquid on top of the fixed base


def test_a_cut_calibrated_on_bulk_ice_separates_the_perfect_slab_from_the_melted_one(
    slab, hot_frame
):
    """The liquid cut from 4 ps of bulk ice Ih at 250 K (64 molecules, about 5 s) lies between
    bulk ice and the melt; the site distance agrees (ice on its sites, the melt off them)."""
    atoms, bilayer = slab
    bulk = ice_ih_bulk((1, 1), 2, genice_seed=1)
    frames = sample_bulk(bulk, 250.0, 2.0, 4.0, 1.0, seed=3)
    q_bulk = np.concatenate([averaged_order(f) for f in frames])
    cut = calibrated_cut(q_bulk, 0.01)
    assert np.mean(q_bulk < cut) == pytest.approx(0.01, abs=0.01)
    assert 0.8 < cut < 0.95  # bulk ice at 250 K: median about 0.95
    assert order_profile(atoms, moving=bilayer >= 1, q_cut=cut).qll_bilayers == 0.0
    hot = order_profile(hot_frame, moving=bilayer >= 1, q_cut=cut)
    assert hot.qll_bilayers >= 1.0 and hot.q_mean[-1] < cut
    sites = atoms.positions[::3]
    np.testing.assert_allclose(site_distance(atoms, sites), 0.0, atol=1e-9)
    top = bilayer == bilayer.max()
    assert np.median(site_distance(hot_frame, sites)[top]) > 1.0  # the melt left its sites


def test_site_distance_is_periodic_laterally_and_block_errors_shrink_with_averaging(slab):
    atoms, _ = slab
    moved = atoms.copy()
    moved.positions[:3] += [atoms.cell.lengths()[0] - 0.3, 0.0, 0.4]  # across the x boundary
    assert site_distance(moved, atoms.positions[::3])[0] == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    mean, sem = block_average(1.0 + rng.normal(0, 1, 10_000), 5)
    assert mean == pytest.approx(1.0, abs=3 * 0.01) and sem == pytest.approx(0.01, rel=0.7)
    with pytest.raises(ValueError, match="n_blocks = 5"):
        block_average(np.ones(3), 5)
