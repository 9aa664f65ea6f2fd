"""Water assembly of the decode (iceafm.models.assemble): hand-made peaks with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.io import read
from stack_fixtures import PREMELT

from iceafm.cli import main
from iceafm.models.assemble import WaterSettings, assemble_waters, assign_hydrogens
from iceafm.models.decode import GridGeometry, encode_atoms
from iceafm.models.detector import DetectorMeta, build_detector, load_detector, save_detector
from iceafm.models.export import main as export_main
from iceafm.models.train import TrainConfig, TrainConfigError
from iceafm.structures.water import ANGLE_HOH_DEG, R_OH_A

HALF = np.radians(104.5 / 2)
HALF_ANGLE = np.radians(ANGLE_HOH_DEG / 2)


def bond(angle_rad: float, length: float = 0.98) -> np.ndarray:
    """An H position at ``length`` A from an O at the origin, in the xz plane."""
    return length * np.array([np.sin(angle_rad), 0.0, np.cos(angle_rad)])


def test_three_candidates_keep_the_best_two() -> None:
    o = np.zeros((1, 3))
    h = np.array([bond(-HALF), bond(HALF), bond(HALF, 1.05) + [0.0, 0.3, 0.0]])
    owner = assign_hydrogens(o, h, np.array([0.9, 0.8, 0.3]))
    assert owner.tolist() == [0, 0, -1]  # the least confident, least ideal one is dropped


def test_h_between_two_o_goes_to_one() -> None:
    o = np.array([[0.0, 0.0, 0.0], [2.2, 0.0, 0.0]])
    h = np.array([[1.0, 0.1, 0.0]])  # 1.0 A from the first O, 1.2 A from the second
    symbols, xyz, conf, molecule = assemble_waters(
        ["O", "O", "H"], np.vstack([o, h]), np.array([0.9, 0.9, 0.7])
    )
    assert symbols == ["O", "H", "O"]  # each H right after its O: it went to the closer O
    assert molecule.tolist() == [0, 0, 1]
    # rigid geometry: a lone H keeps its direction at the O-H bond length
    np.testing.assert_allclose(xyz[1], R_OH_A * h[0] / np.linalg.norm(h[0]))
    np.testing.assert_allclose(xyz[[0, 2]], o)  # the O stay where they were found
    assert conf.tolist() == [0.9, 0.7, 0.9]


def test_far_h_is_dropped_and_o_keeps_what_it_has() -> None:
    xyz = np.array([[0.0, 0.0, 0.0], bond(HALF), [2.5, 0.0, 0.0]])
    symbols, out, _, molecule = assemble_waters(
        ["O", "H", "H"], xyz, np.array([0.9, 0.6, 0.99]), WaterSettings(rigid=False)
    )
    assert symbols == ["O", "H"]  # no H invented for the O with one H candidate
    np.testing.assert_allclose(out, xyz[:2])  # rigid off: H where the peaks were
    assert molecule.tolist() == [0, 0]


def test_rigid_geometry_keeps_the_pair_plane_and_bisector() -> None:
    """Two H at 1.2 and 0.8 A, 80 deg apart around a tilted bisector -> O-H 0.9572 A, H-O-H
    104.52 deg, same bisector and plane; the O does not move."""
    o = np.array([1.0, 2.0, 3.0])
    tilt = np.radians(30.0)
    h = o + np.array([bond(tilt + np.radians(40), 1.2), bond(tilt - np.radians(40), 0.8)])
    symbols, out, _, _ = assemble_waters(
        ["O", "H", "H"], np.vstack([o, h]), np.array([1, 0.9, 0.8])
    )
    assert symbols == ["O", "H", "H"]
    np.testing.assert_allclose(out[0], o)
    bonds = out[1:] - o
    np.testing.assert_allclose(np.linalg.norm(bonds, axis=1), [R_OH_A, R_OH_A])
    cos = bonds[0] @ bonds[1] / R_OH_A**2
    np.testing.assert_allclose(np.degrees(np.arccos(cos)), ANGLE_HOH_DEG)
    bisector = bonds.sum(0) / np.linalg.norm(bonds.sum(0))
    np.testing.assert_allclose(bisector, bond(tilt, 1.0), atol=1e-12)  # still 30 deg from z
    np.testing.assert_allclose(bonds[:, 1], 0.0, atol=1e-12)  # still in the xz plane
    assert np.linalg.norm(bonds[0] - bond(tilt + HALF_ANGLE, R_OH_A)) < 1e-9  # first H, first side


def test_angle_check_swaps_in_a_valid_partner() -> None:
    o = np.zeros((1, 3))
    # the two most confident H are on opposite sides (180 deg); the third makes 104.5 deg
    h = np.array([bond(0.0), bond(np.pi), bond(np.radians(104.5))])
    owner = assign_hydrogens(o, h, np.array([0.9, 0.8, 0.5]))
    assert owner.tolist() == [0, -1, 0]
    # alone, the opposite pair keeps only its better H
    assert assign_hydrogens(o, h[:2], np.array([0.9, 0.8])).tolist() == [0, -1]


def test_each_o_at_most_two_h_on_a_crowded_patch() -> None:
    rng = np.random.default_rng(0)
    o = rng.uniform(0, 10, (20, 3))
    h = rng.uniform(0, 10, (200, 3))
    owner = assign_hydrogens(o, h, rng.uniform(0, 1, 200))
    counts = np.bincount(owner[owner >= 0], minlength=len(o))
    assert counts.max() <= 2
    dist = np.linalg.norm(h[owner >= 0] - o[owner[owner >= 0]], axis=1)
    assert dist.min() >= 0.5 and dist.max() <= 1.5


def test_raw_flag_bypasses() -> None:
    xyz = np.array([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0], bond(HALF), [2.5, 0.0, 0.0]])
    conf = np.array([0.9, 0.8, 0.6, 0.99])
    symbols, out, c, molecule = assemble_waters(
        ["O", "O", "H", "H"], xyz, conf, WaterSettings(enabled=False)
    )
    assert symbols == ["O", "O", "H", "H"]
    np.testing.assert_array_equal(out, xyz)
    np.testing.assert_array_equal(c, conf)
    assert molecule.tolist() == [0, 1, -1, -1]


GEO = GridGeometry(pixel_size_a=0.25, voxel_xy_px=4, voxel_z_a=1.0, above_top_o_a=1.0)


def test_detector_decode_assembles_unless_disabled(tmp_path) -> None:
    meta = DetectorMeta(pixel_size_a=0.25, heights_a=[3.0, 3.1], geometry=GEO, threshold=0.5)
    det = build_detector(meta, width=4, depth=2)
    o = np.array([4.1, 4.1, -0.1])
    atoms = np.array([o, o + bond(HALF), o + [3.0, 0.2, -0.5], o + [0.2, 3.0, -0.5]])
    grid = encode_atoms(["O", "H", "H", "H"], atoms, GEO, (40, 40), 3.0)
    found = det.decode(grid)
    assert found.symbols == ["O", "H"]
    assert found.molecule.tolist() == [0, 0]
    assert found.decode["assemble_waters"] is True and found.decode["water_rigid"] is True
    det.meta.water = WaterSettings(enabled=False)
    raw = det.decode(grid)
    assert sorted(raw.symbols) == ["H", "H", "H", "O"]
    assert raw.decode["assemble_waters"] is False
    save_detector(tmp_path / "d.pt", det)  # the setting travels with the checkpoint
    assert load_detector(tmp_path / "d.pt").meta.water == WaterSettings(enabled=False)


def test_export_turns_the_rigid_geometry_off(tmp_path, capsys) -> None:
    """A file without water settings decodes rigid; ``--no-rigid-waters`` stores it off, and the
    exported detector then leaves a lone H where its peak is."""
    meta = DetectorMeta(pixel_size_a=0.25, heights_a=[3.0, 3.1], geometry=GEO, threshold=0.5)
    save_detector(tmp_path / "d.pt", build_detector(meta, width=4, depth=2))
    export_main([str(tmp_path / "d.pt"), str(tmp_path / "r.pt")])
    export_main([str(tmp_path / "d.pt"), str(tmp_path / "n.pt"), "--no-rigid-waters"])
    capsys.readouterr()
    rigid, loose = load_detector(tmp_path / "r.pt"), load_detector(tmp_path / "n.pt")
    assert rigid.meta.water.rigid is True and loose.meta.water.rigid is False
    o = np.array([4.1, 4.1, -0.1])
    grid = encode_atoms(["O", "H"], np.array([o, o + bond(HALF, 1.2)]), GEO, (40, 40), 3.0)
    for det, length in ((rigid, R_OH_A), (loose, 1.2)):
        found = det.decode(grid)
        assert found.symbols == ["O", "H"]
        bond_a = np.linalg.norm(found.positions_a[1] - found.positions_a[0])
        assert bond_a == pytest.approx(length, abs=1e-3 if det is rigid else 0.1)


def test_train_config_water_keys() -> None:
    default = TrainConfig.from_config({})
    assert default.assemble_waters is True
    # at their defaults the keys leave the hash as before they existed
    same = TrainConfig.from_config({"water_oh_window_a": [0.5, 1.5], "assemble_waters": True})
    assert same.hash() == default.hash()
    assert TrainConfig.from_config({"assemble_waters": False}).hash() != default.hash()
    assert default.water_rigid is True
    assert TrainConfig.from_config({"water_rigid": False}).hash() != default.hash()
    with pytest.raises(
        TrainConfigError, match=r"^config train\.water_rigid: expected true or false"
    ):
        TrainConfig.from_config({"water_rigid": "yes"})
    with pytest.raises(TrainConfigError, match=r"^config train\.water_oh_window_a") as err:
        TrainConfig.from_config({"water_oh_window_a": [1.5, 0.5]})
    assert "\n" not in str(err.value)


@pytest.mark.skipif(not PREMELT.is_dir(), reason=f"shared experimental images absent ({PREMELT})")
def test_predict_records_molecules_and_raw_flag_bypasses(tmp_path) -> None:
    """The shipped model on the real premelting surface: every O keeps at most two H, each H
    right after its O on the rigid water geometry (O-H 0.9572 A, pairs at 104.52 deg);
    ``--raw-decode`` keeps every peak (same O)."""
    assert main(["predict", str(PREMELT), "--out", str(tmp_path / "a")]) == 0
    assert main(["predict", str(PREMELT), "--out", str(tmp_path / "r"), "--raw-decode"]) == 0
    atoms = read(tmp_path / "a" / "amorafm_ice_surface.extxyz")
    raw = read(tmp_path / "r" / "amorafm_ice_surface.extxyz")
    assert json.loads(atoms.info["decode"])["assemble_waters"] is True
    assert json.loads(raw.info["decode"])["assemble_waters"] is False
    sym, molecule = np.array(atoms.get_chemical_symbols()), atoms.arrays["molecule"]
    is_o = sym == "O"
    assert np.bincount(molecule[~is_o], minlength=is_o.sum()).max() <= 2
    for k in np.unique(molecule[~is_o]):
        owner = np.nonzero(is_o & (molecule == k))[0][0]
        bonds = atoms.positions[~is_o & (molecule == k)] - atoms.positions[owner]
        np.testing.assert_allclose(np.linalg.norm(bonds, axis=1), R_OH_A, atol=1e-6)
        if len(bonds) == 2:
            cos = bonds[0] @ bonds[1] / R_OH_A**2
            np.testing.assert_allclose(np.degrees(np.arccos(cos)), ANGLE_HOH_DEG, atol=1e-4)
    raw_sym = np.array(raw.get_chemical_symbols())
    np.testing.assert_allclose(
        np.sort(atoms.positions[is_o], axis=0), np.sort(raw.positions[raw_sym == "O"], axis=0)
    )
    assert (~is_o).sum() < (raw_sym == "H").sum()
