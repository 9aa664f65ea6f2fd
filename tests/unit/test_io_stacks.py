"""Readers of every stack format, closest-end rule, scan size from the ice lattice, resampling."""

from __future__ import annotations

import numpy as np
import pytest
from stack_fixtures import (
    CLUSTERS,
    PREMELT,
    blob_image,
    honeycomb_image,
    sharpening_stack,
    write_mlspm_npz,
    write_our_npz,
    write_png_stack,
    write_sxm,
)

from iceafm.io.stacks import (
    StackReadError,
    closest_first,
    estimate_pixel_size_a,
    list_stacks,
    parse_scan_size,
    read_stacks,
    resample,
    subtract_row_median,
    with_scan_size,
)

needs_shared = pytest.mark.skipif(
    not PREMELT.is_dir() or not CLUSTERS.is_dir(),
    reason=f"shared experimental images absent ({PREMELT.parent}); a clone without ../shared",
)


def test_our_npz_one_and_several_views(tmp_path):
    rng = np.random.default_rng(0)
    df = rng.normal(size=(3, 4, 16, 20)).astype(np.float32)
    heights = [3.3, 3.0, 3.2, 3.1]  # unsorted on purpose
    write_our_npz(tmp_path / "s.npz", df, heights, 0.2)
    stacks = read_stacks(tmp_path / "s.npz")
    assert [s.name for s in stacks] == ["s_v0", "s_v1", "s_v2"] == list_stacks(tmp_path / "s.npz")
    order = np.argsort(heights)
    for v, stack in enumerate(stacks):
        np.testing.assert_array_equal(stack.heights_a, np.sort(heights))
        np.testing.assert_array_equal(stack.df, df[v][order])
        assert stack.pixel_size_xy_a == (0.2, 0.2)
        assert stack.scan_size_a == pytest.approx((4.0, 3.2))
    write_our_npz(tmp_path / "one.npz", df[0], heights, 0.1)
    (one,) = read_stacks(tmp_path / "one.npz")
    assert one.name == "one" and one.df.shape == (4, 16, 20)


def test_mlspm_npz_axes_and_scan_size(tmp_path):
    df = sharpening_stack(5, shape_yx=(40, 60))[::-1]  # closest last, as far -> near
    write_mlspm_npz(tmp_path / "m.npz", df, (15.0, 10.0))
    (stack,) = read_stacks(tmp_path / "m.npz")
    assert stack.df.shape == (5, 40, 60) and stack.heights_a is None
    assert stack.pixel_size_xy_a == pytest.approx((0.25, 0.25))
    np.testing.assert_allclose(stack.df, df[::-1].astype(np.float32))  # sharpest first


def test_png_folder_numeric_order_groups_and_cell_txt(tmp_path):
    df = np.zeros((12, 48, 48))
    for k in range(12):
        df[k, :, : k + 1] = 1.0  # slice k: a bar k + 1 px wide
    write_png_stack(tmp_path / "plain", df)
    (tmp_path / "plain" / "cell.txt").write_text("L_exp\n1.2 0.96\n")
    (stack,) = read_stacks(tmp_path / "plain", closest="first")
    assert stack.name == "plain" and stack.df.shape == (12, 48, 48)
    # numeric order: 10.png and 11.png after 9.png
    assert [int((s[0] > 128).sum()) for s in stack.df] == list(range(1, 13))
    assert stack.scan_size_a == pytest.approx((12.0, 9.6))
    (given,) = read_stacks(tmp_path / "plain", scan_size_a=(20.0,))
    assert given.pixel_size_xy_a == pytest.approx((20 / 48, 20 / 48))
    write_png_stack(tmp_path / "multi", df[:3], name="a_b")
    write_png_stack(tmp_path / "multi", df[:5], name="c")
    stacks = read_stacks(tmp_path / "multi", scan_size_a=(9.6, 9.6))
    assert [(s.name, len(s.df)) for s in stacks] == [("a_b", 3), ("c", 5)]
    assert list_stacks(tmp_path / "multi") == ["a_b", "c"]


def test_sxm_file_and_folder(tmp_path):
    image = honeycomb_image((64, 80), 0.25)
    write_sxm(tmp_path / "scan.sxm", image, (20e-10, 16e-10))
    (stack,) = read_stacks(tmp_path / "scan.sxm")
    assert stack.df.shape == (1, 64, 80)
    assert stack.pixel_size_xy_a == pytest.approx((0.25, 0.25))
    np.testing.assert_allclose(stack.df[0], image.astype(np.float32))
    folder = tmp_path / "sxm"
    folder.mkdir()
    for k, s in enumerate(sharpening_stack(3, shape_yx=(64, 80), pixel_a=0.25)):
        write_sxm(folder / f"z_{k}.sxm", s, (20e-10, 16e-10))
    (stack,) = read_stacks(folder)
    assert stack.name == "z" and stack.df.shape == (3, 64, 80)
    assert stack.pixel_size_xy_a == pytest.approx((0.25, 0.25))


def test_closest_end_rule_on_synthetic_stacks():
    from iceafm.io.stacks import Stack

    df = sharpening_stack(6)
    near_last = Stack("s", df[::-1].astype(np.float32), None, (0.2, 0.2), "x")
    fixed = closest_first(near_last)
    np.testing.assert_allclose(fixed.df, df.astype(np.float32))
    assert "last" in fixed.notes[-1]
    np.testing.assert_allclose(closest_first(near_last, "first").df, near_last.df)


@needs_shared
def test_shared_real_images_read_with_closest_slice_first():
    (premelt,) = read_stacks(PREMELT)
    assert premelt.df.shape == (14, 472, 472)
    assert premelt.scan_size_a == pytest.approx((70.0, 70.0))  # cell.txt, nm -> A
    assert "first" in premelt.notes[-1]  # sharp honeycomb at 0.png, blurred at 13.png
    clusters = read_stacks(CLUSTERS)
    assert len(clusters) == 9
    assert {s.name for s in clusters} >= {"Chen_CO", "Ying_Jiang_7"}
    assert all(s.pixel_size_xy_a is None for s in clusters)
    jiang7 = next(s for s in clusters if s.name == "Ying_Jiang_7")
    assert "last" in jiang7.notes[-1]  # Ying_Jiang_7_8.png is the sharpest


@needs_shared
def test_scan_size_from_ice_lattice_on_premelting_surface():
    """Recorded 70 x 70 A (cell.txt); the lattice estimate lands within 2 % (measured -0.8 %)."""
    (premelt,) = read_stacks(PREMELT)
    pixel, note = estimate_pixel_size_a(premelt.df)
    assert pixel * 472 == pytest.approx(70.0, rel=0.02), note


@pytest.mark.parametrize("pixel_a", [0.12, 0.3])
def test_scan_size_from_ice_lattice_on_synthetic_honeycomb(pixel_a):
    df = np.stack([honeycomb_image((256, 256), pixel_a, seed=s) for s in range(2)])
    # ~8 lattice periods across at 0.12 A: the spectral resolution limits this to a few %
    assert estimate_pixel_size_a(df)[0] == pytest.approx(pixel_a, rel=0.03)


def test_no_lattice_asks_for_the_scan_size(tmp_path):
    rng = np.random.default_rng(3)
    write_png_stack(tmp_path / "noise", rng.normal(size=(3, 64, 64)))
    (stack,) = read_stacks(tmp_path / "noise")
    with pytest.raises(StackReadError, match="--scan-size-a"):
        with_scan_size(stack)


def test_resample_keeps_the_frame():
    """An atom-like blob at a known (x, y) comes back at the same place in A after resampling
    from 0.13 A to 0.2 A pixels (and from 0.3 A up to 0.2 A)."""
    for pixel_in, shape in ((0.13, (90, 110)), (0.3, (40, 50))):
        centre = np.array([7.31, 5.17])
        image = blob_image(shape, pixel_in, centre, sigma_a=0.7)[None]
        out = resample(image, (pixel_in, pixel_in), 0.2)[0]
        assert out.shape[0] == int(np.floor((shape[0] - 1) * pixel_in / 0.2 + 1e-6)) + 1
        yy, xx = np.indices(out.shape) * 0.2
        w = np.clip(out, 0, None) ** 4
        found = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()
        np.testing.assert_allclose(found, centre, atol=0.03)


def test_row_median_removes_scan_line_offsets():
    image = honeycomb_image((40, 40), 0.2)
    offsets = np.random.default_rng(1).normal(scale=5.0, size=(40, 1))
    fixed = subtract_row_median((image + offsets)[None])[0]
    reference = subtract_row_median(image[None])[0]
    np.testing.assert_allclose(fixed, reference, atol=1e-4)


def test_bad_inputs_one_line(tmp_path):
    cases = {}
    good = tmp_path / "good.npz"
    write_our_npz(good, np.zeros((2, 8, 8)), [3.0, 3.1], 0.2)
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(good.read_bytes()[:100])
    cases[truncated] = "truncated or corrupt npz"
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    cases[tmp_path / "other.npz"] = "without 'df'"
    gaps = tmp_path / "gaps"
    write_png_stack(gaps, np.random.default_rng(0).normal(size=(3, 8, 8)))
    (gaps / "1.png").unlink()
    cases[gaps] = r"misses slice\(s\) \[1\]"
    mixed = tmp_path / "mixed"
    write_png_stack(mixed, np.zeros((2, 8, 8)) + np.arange(8))
    write_png_stack(tmp_path / "big", np.zeros((1, 9, 9)) + np.arange(9))
    (tmp_path / "big" / "0.png").rename(mixed / "2.png")
    cases[mixed] = "mixes slice sizes"
    notimage = tmp_path / "notimage"
    notimage.mkdir()
    (notimage / "0.png").write_text("hello")
    cases[notimage] = "not a readable image"
    cases[tmp_path / "missing"] = "no such file or folder"
    (tmp_path / "x.txt").write_text("x")
    cases[tmp_path / "x.txt"] = "unknown input"
    (tmp_path / "bad.sxm").write_text("not nanonis")
    cases[tmp_path / "bad.sxm"] = "not a readable Nanonis"
    empty = tmp_path / "empty"
    empty.mkdir()
    cases[empty] = "no slice files"
    for path, pattern in cases.items():
        with pytest.raises(StackReadError, match=pattern) as info:
            read_stacks(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)
    for bad in ([0.0], [1, 2, 3], ["x"], [-5.0, 3.0]):
        with pytest.raises(StackReadError, match="--scan-size-a"):
            parse_scan_size(bad)


def test_png_bit_depths_and_colour(tmp_path):
    from PIL import Image

    ramp = np.tile(np.arange(32, dtype=np.uint16) * 2000, (16, 1))
    folder = tmp_path / "depths"
    folder.mkdir()
    Image.fromarray(ramp).save(folder / "0.png")  # 16-bit grey
    rgb = np.stack([ramp // 256] * 3, axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(folder / "1.png")  # colour -> grey
    (stack,) = read_stacks(folder, scan_size_a=(6.4, 3.2), closest="first")
    assert stack.df.shape == (2, 16, 32) and stack.df.dtype == np.float32
    np.testing.assert_allclose(stack.df[0, 0], ramp[0])
    np.testing.assert_allclose(stack.df[1, 0], ramp[0] // 256, atol=1)
