"""Synthetic AFM stacks in every input format of ``iceafm predict``, and a tiny detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers import EXPERIMENTAL
from PIL import Image

#: The shared real images (README there); tests that need them skip when absent.
PREMELT = EXPERIMENTAL / "amorafm_ice_surface"
CLUSTERS = EXPERIMENTAL / "ice_clusters_styletrans"


def blob_image(shape_yx, pixel_a, centres_xy_a, sigma_a=0.6) -> np.ndarray:
    """Sum of Gaussians (height 1, sigma ``sigma_a`` A) centred at ``centres_xy_a`` [n, 2] (A),
    pixel (iy, ix) at (ix p, iy p)."""
    ny, nx = shape_yx
    yy, xx = np.meshgrid(np.arange(ny) * pixel_a, np.arange(nx) * pixel_a, indexing="ij")
    image = np.zeros(shape_yx)
    for cx, cy in np.atleast_2d(centres_xy_a):
        image += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma_a**2))
    return image


def honeycomb_points(size_a: float, a_lattice=4.52, angle_deg=7.0) -> np.ndarray:
    """[n, 2] (A) O positions of a honeycomb of lattice constant ``a_lattice`` A (a basal ice
    bilayer seen from above), rotated by ``angle_deg`` (from +x towards +y), in [-2, size + 2]^2."""
    a1 = a_lattice * np.array([1.0, 0.0])
    a2 = a_lattice * np.array([0.5, np.sqrt(3) / 2])
    basis = [np.zeros(2), (a1 + a2) / 3]
    m = int(size_a / a_lattice) * 2 + 4
    pts = np.array([i * a1 + j * a2 + b for i in range(-m, m) for j in range(-m, m) for b in basis])
    t = np.deg2rad(angle_deg)
    pts = pts @ np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    return pts[np.all((pts > -2) & (pts < size_a + 2), axis=1)]


def honeycomb_image(shape_yx, pixel_a, a_lattice=4.52, nn_sigma=0.5, angle_deg=7.0, seed=0):
    """A basal-ice-like image: Gaussians on :func:`honeycomb_points`, with a little noise."""
    rng = np.random.default_rng(seed)
    pts = honeycomb_points(max(shape_yx) * pixel_a, a_lattice, angle_deg)
    image = blob_image(shape_yx, pixel_a, pts, nn_sigma)
    return image + 0.05 * rng.standard_normal(shape_yx)


def sharpening_stack(n: int, shape_yx=(96, 96), pixel_a=0.2) -> np.ndarray:
    """[n, ny, nx] honeycomb slices blurred more with the slice index (slice 0 the sharpest)."""
    from scipy import ndimage

    base = honeycomb_image(shape_yx, pixel_a)
    return np.stack([ndimage.gaussian_filter(base, 0.5 + 1.5 * k) for k in range(n)])


def write_png_stack(folder: Path, stack: np.ndarray, name: str | None = None) -> None:
    """8-bit PNGs ``<k>.png`` (or ``<name>_<k>.png``), each min-max scaled (as the real ones)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, image in enumerate(stack):
        grey = (image - image.min()) / (np.ptp(image) + 1e-12) * 255
        stem = f"{name}_{k}" if name else f"{k}"
        Image.fromarray(grey.astype(np.uint8)).save(folder / f"{stem}.png")


def write_sxm(path: Path, image: np.ndarray, scan_m: tuple[float, float]) -> None:
    """A minimal Nanonis .sxm: header (as Nanonis writes it) and one frequency-shift channel,
    forward and backward, big-endian float32."""
    ny, nx = image.shape
    header = (
        ":NANONIS_VERSION:\n2\n"
        ":SCAN_PIXELS:\n"
        f"       {nx}       {ny}\n"
        ":SCAN_TIME:\n 1.000E+0 1.000E+0\n"
        ":SCAN_RANGE:\n"
        f"           {scan_m[0]:.6E}           {scan_m[1]:.6E}\n"
        ":SCAN_OFFSET:\n 0.000E+0 0.000E+0\n"
        ":SCAN_DIR:\nup\n"
        ":BIAS:\n0.000E+0\n"
        ":ACQ_TIME:\n 12.0\n"
        ":DATA_INFO:\n"
        "\tChannel\tName\tUnit\tDirection\tCalibration\tOffset\n"
        "\t18\tOC_M1_Freq._Shift\tHz\tboth\t1.000E+0\t0.000E+0\n"
        "\n:SCANIT_END:\n\n\n"
    )
    data = np.stack([image, image[:, ::-1]]).astype(">f4")[None]  # [chan, dir, ny, nx]
    path.write_bytes(header.encode() + b"\x1a\x04" + data.tobytes())


def write_our_npz(path: Path, df: np.ndarray, heights_a, pixel_a: float) -> None:
    """Our AFM npz keys (a subset of results/afm/*.npz)."""
    np.savez_compressed(
        path,
        df=df.astype(np.float32),
        heights_a=np.asarray(heights_a, dtype=np.float64),
        pixel_size_a=np.float64(pixel_a),
        failed=np.bool_(False),
    )


def write_mlspm_npz(path: Path, df: np.ndarray, scan_a: tuple[float, float]) -> None:
    """ml-spm-style npz: ``data`` [nx, ny, nz], ``lengthX``, ``lengthY`` (A)."""
    np.savez(path, data=df.transpose(2, 1, 0), lengthX=scan_a[0], lengthY=scan_a[1])


def tiny_detector_path(path: Path, pixel_a=0.2, n_slices=6, threshold=0.55) -> Path:
    """An untrained width-4 detector through the model package's public API, saved to ``path``."""
    from iceafm.models import DetectorMeta, GridGeometry, build_detector, save_detector

    meta = DetectorMeta(
        pixel_size_a=pixel_a,
        heights_a=[3.0 + 0.2 * k for k in range(n_slices)],
        geometry=GridGeometry(pixel_a, 4, 1.0, 1.0),
        threshold=threshold,
        info={"name": "tiny-untrained-test"},
    )
    save_detector(path, build_detector(meta, width=4, depth=2, seed=1))
    return path
