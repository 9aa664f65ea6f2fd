"""Per-species non-maximum suppression radius: decoding, config and checkpoint forms."""

from __future__ import annotations

import numpy as np
import pytest

from iceafm.adapt.pipeline import AdaptConfig, finetune_config
from iceafm.models import CheckpointError, load_detector, save_detector
from iceafm.models.decode import GridGeometry, decode_grid, encode_atoms
from iceafm.models.detector import DetectorMeta, build_detector
from iceafm.models.export import main
from iceafm.models.train import TrainConfig, TrainConfigError

GEO = GridGeometry(pixel_size_a=0.25, voxel_xy_px=4, voxel_z_a=1.0, above_top_o_a=1.0)
SHAPE = (40, 40)  # px: a 10 x 10 A window, 10 x 10 voxels of 1 A
# (symbol, x, y, z in A (z below the topmost O), confidence): O2 is 1.82 A from O1 (a duplicate
# no water network has), O3 2.8 A from O1 (a real neighbour), H1-H2 1.5 A (one molecule's H)
ATOMS = [
    ("O", 2.0, 2.0, 0.0, 0.9),
    ("O", 3.8, 2.0, -0.3, 0.6),
    ("O", 2.0, 4.8, 0.0, 0.8),
    ("H", 6.0, 6.0, -0.2, 0.7),
    ("H", 7.5, 6.0, -0.2, 0.5),
]


def hand_made_grid() -> np.ndarray:
    """The label grid of ATOMS with each atom's voxel confidence set to its confidence."""
    symbols = [a[0] for a in ATOMS]
    xyz = np.array([a[1:4] for a in ATOMS])
    grid = encode_atoms(symbols, xyz, GEO, SHAPE, depth_a=3.0)
    v, p = GEO.voxel_xy_a, GEO.pixel_size_a
    for symbol, x, y, z, conf in ATOMS:
        iz = int((GEO.above_top_o_a - z) // GEO.voxel_z_a)
        iy, ix = int((y + p / 2) // v), int((x + p / 2) // v)
        assert grid[0 if symbol == "O" else 1, 0, iz, iy, ix] == 1.0
        grid[0 if symbol == "O" else 1, 0, iz, iy, ix] = conf
    return grid


@pytest.mark.parametrize(
    ("radius", "kept_o", "kept_h"),
    [
        (0.0, [0.9, 0.8, 0.6], [0.7, 0.5]),
        (1.0, [0.9, 0.8, 0.6], [0.7, 0.5]),
        ({"O": 2.2, "H": 1.0}, [0.9, 0.8], [0.7, 0.5]),
        ({"O": 1.0, "H": 1.6}, [0.9, 0.8, 0.6], [0.7]),
        (3.0, [0.9], [0.7]),
    ],
)
def test_nms_radius_per_species_keeps_the_known_atoms(radius, kept_o, kept_h):
    symbols, xyz, conf = decode_grid(hand_made_grid(), GEO, 0.3, nms_radius_a=radius)
    symbols = np.array(symbols)
    assert conf[symbols == "O"].tolist() == pytest.approx(kept_o)
    assert conf[symbols == "H"].tolist() == pytest.approx(kept_h)
    # the kept atoms sit where they were put (sub-voxel offsets decoded)
    truth = {a[4]: a[1:4] for a in ATOMS}
    for c, pos in zip(conf, xyz, strict=True):
        assert pos == pytest.approx(truth[round(c, 6)], abs=1e-5)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.0, 1.0), (0, 0.0), ({"O": 2.2, "H": 1}, {"O": 2.2, "H": 1.0})],
)
def test_train_config_takes_one_radius_or_one_per_species(value, expected):
    assert TrainConfig.from_config({"nms_radius_a": value}).nms_radius_a == expected


def test_train_config_default_keeps_the_config_hash_of_one_radius():
    assert TrainConfig.from_config({}).nms_radius_a == 1.0
    assert TrainConfig.from_config({}).hash() == TrainConfig.from_config(
        {"nms_radius_a": 1.0}
    ).hash() != TrainConfig.from_config({"nms_radius_a": {"O": 1.0, "H": 1.0}}).hash()


@pytest.mark.parametrize("value", [-1.0, "2", True, {"O": 2.2}, {"O": 2.2, "H": 1.0, "C": 1.0},
                                   {"O": 2.2, "H": -0.5}, [2.2, 1.0]])  # fmt: skip
def test_bad_train_radius_gets_one_line(value):
    with pytest.raises(TrainConfigError, match=r"^config train\.nms_radius_a") as err:
        TrainConfig.from_config({"nms_radius_a": value})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("radius", [1.0, {"O": 2.2, "H": 1.0}])
def test_checkpoints_with_one_radius_or_one_per_species_load(tmp_path, radius):
    meta = DetectorMeta(pixel_size_a=0.25, heights_a=[3.0, 3.1], geometry=GEO, nms_radius_a=radius)
    save_detector(tmp_path / "d.pt", build_detector(meta, width=4, depth=2))
    assert load_detector(tmp_path / "d.pt").meta.nms_radius_a == radius


def test_checkpoint_with_a_bad_radius_gets_one_line(tmp_path):
    meta = DetectorMeta(pixel_size_a=0.25, heights_a=[3.0], geometry=GEO, nms_radius_a={"O": 2})
    save_detector(tmp_path / "d.pt", build_detector(meta, width=4, depth=2))
    with pytest.raises(CheckpointError, match="nms_radius_a") as err:
        load_detector(tmp_path / "d.pt")
    assert "\n" not in str(err.value)


def test_export_sets_the_radius_and_records_it(tmp_path, capsys):
    meta = DetectorMeta(pixel_size_a=0.25, heights_a=[3.0], geometry=GEO, info={"name": "m"})
    save_detector(tmp_path / "d.pt", build_detector(meta, width=4, depth=2))
    main([str(tmp_path / "d.pt"), str(tmp_path / "e.pt"), "--nms-radius-a", "O=2.2,H=1.0"])
    exported = load_detector(tmp_path / "e.pt").meta
    assert exported.nms_radius_a == {"O": 2.2, "H": 1.0}
    assert exported.info["nms_radius_a_set_at_export"] == {"was": 1.0, "now": exported.nms_radius_a}
    capsys.readouterr()
    for bad in ("O=2.2", "O=x,H=1", "-1", "O:2.2,H:1"):
        with pytest.raises(SystemExit) as stop:
            main([str(tmp_path / "d.pt"), str(tmp_path / "f.pt"), "--nms-radius-a", bad])
        assert stop.value.code == 2
        message = capsys.readouterr().err.strip().splitlines()[-1]
        assert "error: --nms-radius-a: expected" in message
    assert not (tmp_path / "f.pt").exists()


def test_adapt_finetunes_inherit_the_base_radius():
    meta = DetectorMeta(pixel_size_a=0.25, heights_a=[3.0], geometry=GEO,
                        nms_radius_a={"O": 2.2, "H": 1.0})  # fmt: skip
    base = build_detector(meta, width=4, depth=2)
    config = finetune_config(AdaptConfig.from_config({}), "augment", base)
    assert config.nms_radius_a == {"O": 2.2, "H": 1.0}
