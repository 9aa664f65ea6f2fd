"""Real ppafm scans of a flat water molecule: shapes, units, contrast, alignment, views."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from afm_fixtures import flat_water, small_settings
from ppafm import common as ppu

from iceafm.afm.errors import AfmConfigError
from iceafm.afm.forcefield import build_force_field, slab_z_range
from iceafm.afm.params import CantileverParams, TipRanges, settings_from_config
from iceafm.afm.scan import fz_to_df, simulate_stacks
from iceafm.afm.stack import simulate_structure
from iceafm.afm.views import View, lab_to_scan, make_views


def test_fz_to_df_matches_ppafm():
    rng = np.random.default_rng(0)
    fz = rng.normal(size=(3, 4, 25))
    cantilever = CantileverParams(f0_hz=25000.0, k0_n_m=1800.0, amplitude_a=1.0)
    ours = fz_to_df(fz, 0.1, cantilever)
    theirs = ppu.Fz2df(fz, dz=0.1, k0=1800.0, f0=25000.0, amplitude=1.0)
    # ppafm rounds eV/A^2 -> N/m as 16.0217656; we use its eVA_Nm (16.0217662).
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.fixture(scope="module")
def water_stack():
    atoms = flat_water()
    # LJ only: the geometry alone decides where features sit (charges shift them physically).
    settings = small_settings(electrostatics="none", views=3)
    return atoms, settings, simulate_structure(atoms, settings, seed=11)


def test_stack_shape_units_and_heights(water_stack):
    atoms, settings, stack = water_stack
    assert stack.df_hz.shape == (3, 6, 32, 32)
    assert stack.df_hz.dtype == np.float32
    assert np.isfinite(stack.df_hz).all()
    # A CO tip 3-3.5 A above water: a few Hz, never kHz (unit slip) nor 0 (no signal).
    assert 0.5 < np.abs(stack.df_hz).max() < 200
    np.testing.assert_allclose(settings.scan.heights_a, 2.9 + 0.1 * np.arange(6))
    assert stack.z_top_a == pytest.approx(5.0)


def test_contrast_grows_as_the_tip_approaches(water_stack):
    atoms, settings, stack = water_stack
    spread = stack.df_hz[0].std(axis=(1, 2))  # per height, ascending
    assert spread[0] > 2 * spread[-1]
    ix, iy = np.rint(lab_to_scan(stack.views[0], settings.scan, atoms.positions[0, :2]) / 0.2)
    over_oxygen = stack.df_hz[0, :, int(iy), int(ix)]
    assert np.all(np.diff(over_oxygen) < 0)  # Pauli repulsion grows as the tip comes down


def test_the_oxygen_sits_on_the_bright_spot_in_every_view(water_stack):
    atoms, settings, stack = water_stack
    for view, image in zip(stack.views, stack.df_hz[:, 0], strict=True):
        iy, ix = np.unravel_index(np.argmax(image), image.shape)
        peak = np.array([ix, iy]) * settings.scan.pixel_size_a
        cell = np.asarray(atoms.cell)[:2, :2]
        images = [
            lab_to_scan(view, settings.scan, atoms.positions[0, :2] + i * cell[0] + j * cell[1])
            for i in (-1, 0, 1)
            for j in (-1, 0, 1)
        ]
        # the periodic image of the O nearest the peak
        oxygen = min(images, key=lambda p: np.linalg.norm(p - peak))
        assert np.linalg.norm(oxygen - peak) / settings.scan.pixel_size_a <= 2.0


def test_a_lattice_shift_gives_the_same_image():
    atoms = flat_water()
    settings = small_settings(electrostatics="point_charges")
    shifted = atoms.copy()
    shifted.translate(atoms.cell[0] - atoms.cell[1])
    a = simulate_structure(atoms, settings, seed=0).df_hz
    b = simulate_structure(shifted, settings, seed=0).df_hz
    np.testing.assert_allclose(a, b, atol=1e-3 * np.abs(a).max())


def test_moving_and_rotating_the_sample_with_the_view_keeps_the_image():
    atoms = flat_water()
    settings = small_settings(electrostatics="point_charges")
    z_top = atoms.positions[:, 2].max()
    z_range = slab_z_range(z_top, settings.scan.heights_a, settings.cantilever.amplitude_a)
    view = make_views(np.asarray(atoms.cell), settings.views, seed=0)[0]
    ff = build_force_field(atoms, "point_charges", "dz2", 0.71, z_range, 0.1)
    ref = simulate_stacks(ff, z_top, [view], [settings.tip], settings.cantilever, settings.scan)

    moved = atoms.copy()
    moved.rotate(35.0, "z", center=(0, 0, 0), rotate_cell=True)
    moved.translate([1.3, -0.7, 0.0])
    centre = np.array(view.center_a)
    rot = np.deg2rad(35.0)
    centre = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]]) @ centre
    moved_view = View((centre[0] + 1.3, centre[1] - 0.7), 35.0)
    ff_moved = build_force_field(moved, "point_charges", "dz2", 0.71, z_range, 0.1)
    out = simulate_stacks(
        ff_moved, z_top, [moved_view], [settings.tip], settings.cantilever, settings.scan
    )
    # Same physics; only the force-field grid samples differ (0.1 A trilinear interpolation).
    assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max()


def test_a_negative_tip_is_pushed_off_the_oxygen_towards_its_lone_pairs():
    """SPC/E charges: the O (-0.85 e) repels the CO tip's -0.1 e, the H (+0.42 e) attract it,
    so the bright spot moves from the O away from the two H (here: towards -y)."""
    atoms = flat_water()
    settings = small_settings(electrostatics="point_charges", min_height_a=3.3)
    stack = simulate_structure(atoms, settings, seed=0)
    iy, ix = np.unravel_index(np.argmax(stack.df_hz[0, 0]), stack.df_hz.shape[2:])
    ox, oy = lab_to_scan(stack.views[0], settings.scan, atoms.positions[0, :2]) / 0.2
    assert abs(ix - ox) <= 2 and iy < oy - 2


def test_tip_ranges_give_each_view_its_own_reproducible_tip():
    """afm.tip_ranges: each view is scanned with its drawn tip (charge, stiffness), exactly as a
    fixed-tip scan of that view with that tip; the draws repeat for the same seed."""
    atoms = flat_water()
    fixed = small_settings(electrostatics="point_charges", views=3, n_heights=3)
    ranged = replace(fixed, tip_ranges=TipRanges(charge_e=(-0.2, 0.2), klat_n_m=(0.15, 0.35)))
    stack = simulate_structure(atoms, ranged, seed=5)
    charges = [t.charge_e for t in stack.tips]
    assert len(set(charges)) == 3 and all(-0.2 <= q <= 0.2 for q in charges)
    assert all(0.15 <= t.klat_n_m <= 0.35 for t in stack.tips)
    assert [t.charge_e for t in simulate_structure(atoms, ranged, seed=5).tips] == charges
    assert stack.tips[0].multipole == fixed.tip.multipole
    for i, tip in enumerate(stack.tips):
        alone = simulate_structure(atoms, replace(fixed, tip=tip), seed=5).df_hz[i]
        np.testing.assert_allclose(stack.df_hz[i], alone, rtol=1e-5, atol=1e-6)
    # the tip's charge shapes the image: a different draw, a different stack
    plain = simulate_structure(atoms, fixed, seed=5)
    assert all(t == fixed.tip for t in plain.tips)
    assert np.abs(stack.df_hz - plain.df_hz).max() > 0.05 * np.abs(plain.df_hz).max()


def test_tip_ranges_config_errors_name_the_key():
    base = {"tip": {}, "scan": {}, "views": {}}
    ok = settings_from_config({**base, "tip_ranges": {"charge_e": [-0.2, 0.1]}})
    assert ok.tip_ranges.charge_e == (-0.2, 0.1) and ok.tip_ranges.klat_n_m is None
    assert not settings_from_config(base).tip_ranges.enabled
    with pytest.raises(AfmConfigError, match=r"afm.tip_ranges.charge_e: expected \[low, high\]"):
        settings_from_config({**base, "tip_ranges": {"charge_e": [0.2, -0.2]}})
    with pytest.raises(AfmConfigError, match="afm.tip_ranges: unknown key"):
        settings_from_config({**base, "tip_ranges": {"sigma_a": [0.5, 1.0]}})
