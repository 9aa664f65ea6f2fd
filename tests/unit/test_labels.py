"""Labels from the structure, in the scan frame of each view."""

from __future__ import annotations

import numpy as np
import pytest
from afm_fixtures import flat_water, small_settings

from iceafm.afm.views import View, make_views
from iceafm.labels import (
    LabelConfigError,
    LabelParams,
    top_layer_atoms,
    voxel_targets,
    write_labels_npz,
)


def test_labels_follow_each_view():
    atoms = flat_water()
    scan = small_settings().scan
    params = LabelParams()
    base = View((4.5, 4.5), 0.0)
    moved = View((4.5 + 1.0, 4.5 - 0.4), 90.0)
    xyz0, num0 = top_layer_atoms(atoms, base, scan, params)
    xyz1, num1 = top_layer_atoms(atoms, moved, scan, params)
    assert sorted(num0.tolist()) == [1, 1, 8]
    o0, o1 = xyz0[num0 == 8][0], xyz1[num1 == 8][0]
    # O at lab (3.5, 5.0); window centre (4.5, 4.5); pixel 0 sits 3.1 A left of / below it.
    np.testing.assert_allclose(o0, [3.5 - 4.5 + 3.1, 5.0 - 4.5 + 3.1, 0.0], atol=1e-9)
    # Rotating the window by +90 deg turns lab (+dx, +dy) from its centre into scan (+dy, -dx).
    lab = atoms.positions[0, :2] - np.array(moved.center_a)
    np.testing.assert_allclose(o1[:2], [lab[1] + 3.1, -lab[0] + 3.1], atol=1e-9)


def test_periodic_images_fill_a_window_larger_than_the_cell():
    atoms = flat_water(cell_a=4.0)
    scan = small_settings(size_a=(8.0, 8.0)).scan
    xyz, numbers = top_layer_atoms(atoms, View((2.0, 2.0), 30.0), scan, LabelParams())
    assert 3 <= (numbers == 8).sum() <= 6  # 64 A^2 window / 16 A^2 cell = 4 O on average
    assert (xyz[:, :2] >= -0.1).all() and (xyz[:, :2] < 8.0).all()


def test_voxel_targets_place_confidence_and_offsets():
    scan = small_settings().scan  # 32 px of 0.2 A
    params = LabelParams(voxel_xy_px=4, voxel_z_a=1.0, depth_a=3.0, above_top_o_a=1.0)
    xyz = np.array([[1.7, 0.5, 0.0], [1.9, 0.75, 0.6]])  # an O, and an H 0.6 A above it
    out = voxel_targets(xyz[::-1], np.array([1, 8], np.uint8), scan, params)
    assert out.shape == (2, 4, 4, 8, 8)
    assert out[0, 0].sum() == 1 and out[1, 0].sum() == 1
    # O: x = 1.7 A -> (1.7 + 0.1) / 0.8 = 2.25 -> voxel 2, offset 0.25; z 0 -> layer 0 bottom.
    np.testing.assert_allclose(out[0, :, 1, 0, 2], [1.0, 0.25, 0.75, 1.0], atol=1e-6)
    np.testing.assert_allclose(out[1, :, 0, 1, 2], [1.0, 0.5, 0.0625, 0.6], atol=1e-6)


def test_labels_npz_matches_the_afm_views(tmp_path):
    atoms = flat_water()
    settings = small_settings(views=4)
    views = make_views(np.asarray(atoms.cell), settings.views, seed=5)
    write_labels_npz(tmp_path / "l.npz", atoms, views, settings.scan, LabelParams())
    with np.load(tmp_path / "l.npz") as labels:
        assert labels["targets"].shape == (4, 2, 4, 4, 8, 8)
        assert labels["atoms_offsets"].tolist()[0] == 0
        assert labels["atoms_offsets"][-1] == len(labels["atoms_xyz"])
        np.testing.assert_allclose(labels["view_rotation_deg"], [v.rotation_deg for v in views])


def test_bad_label_config_names_the_key():
    with pytest.raises(LabelConfigError, match="labels.voxel_z_a"):
        LabelParams.from_config({"voxel_z_a": 0})
