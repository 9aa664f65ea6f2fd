"""``iceafm predict`` end to end on every input format (tiny untrained detector), slice choice,
one-line errors, AmorAFM registration."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from ase.io import read
from stack_fixtures import (
    CLUSTERS,
    PREMELT,
    sharpening_stack,
    tiny_detector_path,
    write_mlspm_npz,
    write_our_npz,
    write_png_stack,
    write_sxm,
)

from iceafm.cli import main
from iceafm.io.stacks import Stack
from iceafm.metrics.agreement import amorafm_agreement, random_o_layer, register_shift
from iceafm.predict import PredictError, configured_stack, select_slices


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_detector_path(tmp_path_factory.mktemp("model") / "tiny.pt")


def _check_outputs(out, stem, scan_a):
    atoms = read(out / f"{stem}.extxyz")
    assert (out / f"{stem}.png").stat().st_size > 1000
    for key in ("model", "input", "resampling", "slices_used", "frame"):
        assert key in atoms.info
    conf = atoms.arrays["confidence"]
    assert len(conf) == len(atoms) and np.all((conf >= 0) & (conf <= 1))
    if len(atoms):
        xy = atoms.positions[:, :2]
        assert np.all(xy > -1.0) and np.all(xy < np.asarray(scan_a) + 1.0)
        o = atoms.positions[np.array(atoms.get_chemical_symbols()) == "O"]
        if len(o):
            assert o[:, 2].max() == pytest.approx(0.0, abs=1e-6)  # z relative to topmost O
    assert list(out.glob(".*.part")) == []
    return atoms


def test_predict_every_format(tmp_path, tiny_model, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    df = sharpening_stack(6, shape_yx=(48, 64), pixel_a=0.25)
    write_our_npz(inputs / "ours.npz", df, [3.0 + 0.2 * k for k in range(6)], 0.25)
    views = np.stack([df, df[:, ::-1]])
    write_our_npz(inputs / "views.npz", views, [3.2, 3.4, 3.6, 3.8, 4.0, 5.0], 0.2)
    write_mlspm_npz(inputs / "mlspm.npz", df[::-1], (16.0, 12.0))
    write_png_stack(inputs / "pngs", df, name="flake")
    write_sxm(inputs / "scan.sxm", df[0], (16e-10, 12e-10))
    out = tmp_path / "out"
    argv = ["predict", *(str(p) for p in sorted(inputs.iterdir())), "--out", str(out),
            "--model", str(tiny_model), "--scan-size-a", "16", "12"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for stem, scan in (("ours", (16, 12)), ("views_v0", (12.8, 9.6)), ("views_v1", (12.8, 9.6)),
                       ("mlspm", (16, 12)), ("flake", (16, 12)), ("scan", (16, 12))):
        atoms = _check_outputs(out, stem, scan)
        assert f"{stem}.extxyz" in printed
        assert atoms.cell.lengths()[:2] == pytest.approx(scan)
    assert "nearest slices" in read(out / "views_v0.extxyz").info["slices_used"]
    assert "no heights recorded" in read(out / "flake.extxyz").info["slices_used"]


def test_select_slices_nearest_and_refusal():
    stack = Stack("s", np.zeros((5, 8, 8), np.float32), np.array([2.8, 3.0, 3.2, 3.4, 3.6]),
                  (0.2, 0.2), "s.npz")
    idx, how = select_slices(stack, np.array([3.0, 3.1, 3.35, 4.0]), 4)
    assert idx.tolist() == [1, 1, 3, 4] and "max mismatch 0.40" in how
    far = Stack("s", stack.df, stack.heights_a + 5.0, (0.2, 0.2), "s.npz")
    with pytest.raises(PredictError, match="do not overlap"):
        select_slices(far, np.array([3.0, 3.2]), 2)
    no_heights = Stack("p", stack.df, None, (0.2, 0.2), "p")
    assert select_slices(no_heights, np.array([3.0, 3.2, 3.4]), 3)[0].tolist() == [0, 1, 2]
    assert select_slices(no_heights, np.arange(8.0), 8)[0].tolist() == [0, 1, 2, 3, 4]


def test_bad_inputs_one_line_exit_2(tmp_path, tiny_model, capsys):
    good = tmp_path / "good.npz"
    write_our_npz(good, np.zeros((2, 8, 8)), [3.0, 3.1], 0.2)
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(good.read_bytes()[:80])
    gaps = tmp_path / "gaps"
    write_png_stack(gaps, sharpening_stack(3, (32, 32)))
    (gaps / "1.png").unlink()
    far = tmp_path / "far.npz"
    write_our_npz(far, sharpening_stack(2, (32, 32)), [9.0, 9.5], 0.2)
    bad_model = tmp_path / "bad.pt"
    bad_model.write_bytes(b"junk")
    m = ["--model", str(tiny_model)]
    cases = [
        ([str(truncated), *m], "trunc.npz"),
        ([str(gaps), "--scan-size-a", "8", *m], "misses slice"),
        ([str(tmp_path / "nowhere"), *m], "no such file or folder"),
        ([str(gaps), "--scan-size-a", "0", *m], "--scan-size-a"),
        ([str(far), *m], "do not overlap"),
        ([str(good), "--model", str(bad_model)], "bad.pt"),
        ([str(good), "--closest", "middle", *m], "--closest"),
        ([str(good), "--refine", "0", *m], "--refine"),
    ]
    for args, expected in cases:
        with pytest.raises(SystemExit) as exit_info:
            raise SystemExit(main(["predict", *args, "--out", str(tmp_path / "o")]))
        err = capsys.readouterr().err
        assert exit_info.value.code == 2, (args, err)
        assert "Traceback" not in err and err.count("\n") == 1, err
        assert expected in err, err
    # and as a process: exit status 2, one line on stderr, no traceback
    proc = subprocess.run(
        [sys.executable, "-m", "iceafm.cli", "predict", str(truncated), "--out", str(tmp_path), *m],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "trunc.npz" in proc.stderr


@pytest.mark.skipif(not PREMELT.is_dir(), reason=f"shared experimental images absent ({PREMELT})")
def test_predict_shared_real_images(tmp_path, tiny_model):
    """The shipped real images through the CLI: the premelting surface (cell.txt) and one
    cluster stack (scan size given), each to extxyz + png in its own frame."""
    out = tmp_path / "out"
    assert main(["predict", str(PREMELT), "--out", str(out), "--model", str(tiny_model)]) == 0
    atoms = _check_outputs(out, "amorafm_ice_surface", (70.0, 70.0))
    assert "cell.txt" in atoms.info["reader_notes"]
    jiang = tmp_path / "jiang"
    jiang.mkdir()
    for png in CLUSTERS.glob("Ying_Jiang_7_*.png"):
        (jiang / png.name).symlink_to(png)
    argv = ["predict", str(jiang), "--out", str(out), "--model", str(tiny_model),
            "--scan-size-a", "25"]
    assert main(argv) == 0
    atoms = _check_outputs(out, "Ying_Jiang_7", (25.0, 25.0))
    assert "detected by sharpness: last" in atoms.info["reader_notes"]


def test_registration_recovers_a_known_shift():
    rng = np.random.default_rng(4)
    ref = np.column_stack([rng.uniform(0, 45, (150, 2)), rng.uniform(-1.0, 0.0, 150)])
    shift = np.array([11.37, 6.82])
    ours = ref.copy()
    ours[:, :2] += shift + rng.normal(scale=0.15, size=(150, 2))
    ours = ours[rng.random(150) > 0.1]  # 10 % missed
    extra = np.column_stack([rng.uniform(0, 70, (200, 2)), rng.uniform(-1.0, 0.0, 200)])
    extra = extra[~np.all((extra[:, :2] > shift) & (extra[:, :2] < shift + 45), axis=1)]
    found, f1 = register_shift(np.vstack([ours, extra]), ref, (70.0, 70.0))
    np.testing.assert_allclose(found, shift, atol=0.15)
    assert f1 > 0.9


def test_amorafm_agreement_one_call(tmp_path):
    from ase import Atoms
    from ase.io import write

    rng = np.random.default_rng(5)
    ref_o = np.column_stack([rng.uniform(0, 45, (120, 2)), rng.uniform(1.0, 2.5, 120)])
    write(tmp_path / "ref.xyz", Atoms("O120", ref_o, cell=[45, 45, 3]), format="extxyz")
    ours = ref_o.copy()
    ours[:, :2] += [20.0, 3.5]
    ours[:, 2] -= ours[:, 2].max()
    atoms = Atoms(f"O120H{len(ours)}", np.vstack([ours, ours + [0.5, 0, -0.3]]),
                  cell=[70, 70, 0])
    write(tmp_path / "ours.extxyz", atoms, format="extxyz")
    result = amorafm_agreement(tmp_path / "ours.extxyz", tmp_path / "ref.xyz",
                               figure_path=tmp_path / "agree.png")
    assert result["amorafm_agreement_o_f1"] == pytest.approx(1.0)
    np.testing.assert_allclose(result["amorafm_shift_a"], [20.0, 3.5], atol=0.06)
    assert (tmp_path / "agree.png").stat().st_size > 1000


def test_agreement_comes_with_its_chance_level(tmp_path):
    """A perfect prediction scores 1 against a chance level far below; a random O layer of the
    same count and spacing scores about its chance level (the registration alone finds that)."""
    from ase import Atoms
    from ase.io import write

    ref = random_o_layer(np.zeros((90, 3)) + [0, 0, 2.0], (45.0, 45.0), 2.2, seed=11)
    write(tmp_path / "ref.xyz", Atoms("O90", ref, cell=[45, 45, 3]), format="extxyz")
    for name, ours in (("exact", ref + [12.0, 7.0, -2.0]),
                       ("random", random_o_layer(ref, (70.0, 70.0), 2.2, seed=12))):
        write(tmp_path / f"{name}.extxyz", Atoms("O90", ours, cell=[70, 70, 0]), format="extxyz")
    exact = amorafm_agreement(tmp_path / "exact.extxyz", tmp_path / "ref.xyz", chance_draws=3)
    assert exact["amorafm_agreement_o_f1"] == pytest.approx(1.0)
    assert 0.05 < exact["amorafm_agreement_o_f1_chance"] < 0.5
    random = amorafm_agreement(tmp_path / "random.extxyz", tmp_path / "ref.xyz", chance_draws=3)
    assert random["amorafm_agreement_o_f1"] < exact["amorafm_agreement_o_f1_chance"] + 0.1
    skipped = amorafm_agreement(tmp_path / "exact.extxyz", tmp_path / "ref.xyz", chance_draws=0)
    assert skipped["amorafm_agreement_o_f1_chance"] is None


@pytest.mark.skipif(not PREMELT.is_dir(), reason=f"shared experimental images absent ({PREMELT})")
def test_refined_prediction_keeps_every_water_and_settles_its_contacts(tmp_path):
    """``--refine 2`` on the premelting surface (shipped model): the same O, each within 0.5 A
    of its detection, H moved with their O, and fewer O-O contacts below 2.5 A (closer than
    water's O sit) than the raw prediction has."""
    from scipy.spatial import cKDTree

    runs = {}
    for name, extra in (("raw", []), ("refined", ["--refine", "2"])):
        assert main(["predict", str(PREMELT), "--out", str(tmp_path / name), *extra]) == 0
        runs[name] = read(tmp_path / name / "amorafm_ice_surface.extxyz")
    raw, refined = runs["raw"], runs["refined"]
    assert raw.info["refinement"] == "none"
    assert "2 eV/A^2, H orientation detected" in refined.info["refinement"]
    o_raw = raw.positions[np.array(raw.get_chemical_symbols()) == "O"]
    o_ref = refined.positions[np.array(refined.get_chemical_symbols()) == "O"]
    assert len(o_ref) == len(o_raw) > 50
    assert o_ref[:, 2].max() == pytest.approx(0.0, abs=1e-9)  # z still from the topmost O
    assert cKDTree(o_raw).query(o_ref)[0].max() < 0.5
    is_o = np.array(refined.get_chemical_symbols()) == "O"
    assert (refined.arrays["molecule"][is_o] == np.arange(len(o_ref))).all()

    def close(o):
        return int((cKDTree(o).query(o, k=2)[0][:, 1] < 2.5).sum())

    assert close(o_ref) < 0.5 * close(o_raw)


def test_the_shipped_decode_keeps_waters_o_o_bound():
    from iceafm.metrics.label_free import WATER_OO_MIN_A
    from iceafm.models import load_detector
    from iceafm.models.decode import for_species

    assert for_species(load_detector().meta.nms_radius_a, "O") == WATER_OO_MIN_A


def test_console_script_help():
    proc = subprocess.run([sys.executable, "-m", "iceafm.cli", "predict", "--help"],
                          capture_output=True, text=True, check=True)
    assert "--scan-size-a" in proc.stdout


def test_orientation_diagnostic_finds_a_flipped_reference(tmp_path):
    from ase import Atoms
    from ase.io import write

    rng = np.random.default_rng(6)
    ref_o = np.column_stack([rng.uniform(0, 45, (80, 2)), rng.uniform(1.0, 2.5, 80)])
    write(tmp_path / "ref.xyz", Atoms("O80", ref_o, cell=[45, 45, 3]), format="extxyz")
    ours = ref_o.copy()
    ours[:, 1] = 45.0 - ours[:, 1]  # the reference is y-mirrored with respect to our frame
    ours[:, :2] += [3.0, 4.0]
    atoms = Atoms("O80", ours, cell=[50, 50, 0])
    write(tmp_path / "ours.extxyz", atoms, format="extxyz")
    result = amorafm_agreement(tmp_path / "ours.extxyz", tmp_path / "ref.xyz",
                               all_orientations=True)
    by = result["o_f1_by_orientation"]
    assert by["flip_y"] == pytest.approx(1.0) and by["identity"] < 0.5


def test_configured_stack_scan_size_precedence(tmp_path):
    """predict_real: per-stack config > recorded (cell.txt) > assumed > ice-lattice estimate."""
    from stack_fixtures import honeycomb_image

    lattice = np.stack([honeycomb_image((200, 200), 0.15, seed=s) for s in range(2)])
    write_png_stack(tmp_path / "cell", lattice)
    (tmp_path / "cell" / "cell.txt").write_text("L_exp\n3. 3.\n")
    write_png_stack(tmp_path / "bare", lattice, name="bare")
    section = {"inputs": ["cell", "bare"], "closest": "first", "scan_size_a": {},
               "assumed_scan_size_a": [25.0, 25.0]}

    def scan(name, **edit):
        return configured_stack({**section, **edit}, tmp_path, name).scan_size_a

    assert scan("cell") == pytest.approx((30.0, 30.0))
    assert scan("cell", scan_size_a={"cell": [20.0]}) == pytest.approx((20.0, 20.0))
    assert scan("bare") == pytest.approx((25.0, 25.0))
    assert scan("bare", assumed_scan_size_a=None) == pytest.approx((30.0, 30.0), rel=0.03)
    with pytest.raises(ValueError, match="no stack 'other'"):
        configured_stack(section, tmp_path, "other")


@pytest.mark.parametrize("angle_deg", [7.0, 22.0])
def test_lattice_angles_of_image_and_points_agree(angle_deg):
    from stack_fixtures import honeycomb_image, honeycomb_points

    from iceafm.io.stacks import lattice_angle_deg
    from iceafm.metrics.agreement import points_lattice_angle_deg

    image = honeycomb_image((200, 200), 0.15, angle_deg=angle_deg)[None]
    points = honeycomb_points(30.0, angle_deg=angle_deg)
    from_image, from_points = lattice_angle_deg(image), points_lattice_angle_deg(points)
    assert abs((from_image - from_points + 30) % 60 - 30) <= 1.0
    assert abs((from_points - angle_deg) % 60 - 30) <= 1.0  # shell 30 deg from the rows
