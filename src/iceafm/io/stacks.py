"""Experimental and simulated AFM stacks, every input format read into one :class:`Stack`.

Formats (:func:`read_stacks` picks by what the path is):

- our AFM npz (``results/afm/*.npz``): ``df`` [n_views, n_heights, ny, nx] or [n_heights, ny, nx]
  (Hz), ``heights_a`` [n_heights], ``pixel_size_a``; several views give one stack each, named
  ``<stem>_v<k>``. Slices are ordered by ascending height (slice 0 closest).
- ml-spm-style npz: ``data`` [nx, ny, nz], ``lengthX``, ``lengthY`` (A, the scan size: pixel size
  = lengthX / nx, as our ``window_size_a``). No heights; the closest end is detected
  (:func:`closest_first`).
- a folder of image slices, ``0.png, 1.png, ...`` (one stack named after the folder) or
  ``<name>_<k>.png`` (one stack per name), k = slice index, sorted numerically; 8- or 16-bit
  grey (colour is converted to grey). The same naming works for Nanonis ``.sxm`` files (one slice
  each). No heights; the closest end is detected. The scan size comes from the caller
  (``--scan-size-a``), else from a ``cell.txt`` in the folder (AmorAFM's format: a title line,
  then width [height] in nm), else it is estimated from the ice lattice
  (:func:`estimate_pixel_size_a`).
- one Nanonis ``.sxm`` file (through ``nanonispy2``): the first frequency-shift channel, forward
  scan, as a one-slice stack; scan size from the header (``SCAN_RANGE``, m).

Frame: ``df[k, iy, ix]`` is centred at x = ix * px, y = iy * py (A) with (px, py) =
``pixel_size_xy_a``: rows as stored in the file (row 0 first), as our AFM stage.
A file or folder that cannot be read raises :class:`StackReadError` with a one-line message
naming it and what was expected.
"""

from __future__ import annotations

import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from iceafm.io.npz import NpzFileError, open_npz

#: Lattice constant of hexagonal ice Ih (A); the O honeycomb of a basal bilayer has it as period.
ICE_LATTICE_A = 4.52
#: Extensions read as slices in a folder.
SLICE_SUFFIXES = (".png", ".sxm")
_SLICE_NAME = re.compile(r"^(?:(?P<name>.+)_)?(?P<k>\d+)$")


class StackReadError(ValueError):
    """An input file or folder is not a readable AFM stack (one-line message)."""


@dataclass
class Stack:
    """One constant-height AFM stack in its own scan frame.

    ``df``: float32 [n_h, ny, nx] (Hz, or grey levels for images), slice 0 the closest to the
    surface; ``heights_a``: [n_h] (A, ascending) or None when the source records none;
    ``pixel_size_xy_a``: (px, py) in A, or None while the scan size is unknown; ``source``: the
    file or folder read; ``notes``: what the reader assumed or changed, in words.
    """

    name: str
    df: np.ndarray
    heights_a: np.ndarray | None
    pixel_size_xy_a: tuple[float, float] | None
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def scan_size_a(self) -> tuple[float, float] | None:
        """(width, height) in A: (nx * px, ny * py), as our ``window_size_a``."""
        if self.pixel_size_xy_a is None:
            return None
        ny, nx = self.df.shape[1:]
        return nx * self.pixel_size_xy_a[0], ny * self.pixel_size_xy_a[1]


# ---------------------------------------------------------------- listing and dispatch


def _slice_groups(folder: Path) -> dict[str, list[tuple[int, Path]]]:
    """Slice files of a folder grouped by stack name: {name: [(k, path), ...] sorted by k}."""
    groups: dict[str, list[tuple[int, Path]]] = defaultdict(list)
    for path in folder.iterdir():
        if path.suffix.lower() not in SLICE_SUFFIXES or not path.is_file():
            continue
        match = _SLICE_NAME.match(path.stem)
        if match is None:
            continue
        name = match["name"] or folder.name
        groups[name].append((int(match["k"]), path))
    if not groups:
        raise StackReadError(
            f"{folder}: no slice files; expected 0.png, 1.png, ... or <name>_<k>.png (or .sxm)"
        )
    for name, items in groups.items():
        items.sort()
        ks = [k for k, _ in items]
        if len(set(ks)) != len(ks):
            raise StackReadError(f"{folder}: stack {name!r} has a slice index twice ({ks})")
        missing = sorted(set(range(ks[0], ks[-1] + 1)) - set(ks))
        if missing:
            raise StackReadError(
                f"{folder}: stack {name!r} misses slice(s) {missing}; expected consecutive k"
            )
        if len({p.suffix.lower() for _, p in items}) > 1:
            raise StackReadError(f"{folder}: stack {name!r} mixes .png and .sxm slices")
    return dict(sorted(groups.items()))


def _npz_member_shape(path: Path, key: str) -> tuple[int, ...]:
    """Shape of array ``key`` in an npz, from its header only (no decompression of the data)."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as handle:
        version = np.lib.format.read_magic(handle)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, _ = read_header(handle)
    return tuple(shape)


def stack_files(path: str | Path) -> dict[str, list[Path]]:
    """{stack name: the files it is read from} for ``path`` (what :func:`read_stacks` returns,
    in the same order), reading no pixels: a folder's slices (and its ``cell.txt``), or the file.
    """
    path = Path(path)
    if path.is_dir():
        cell = [path / "cell.txt"] if (path / "cell.txt").is_file() else []
        return {name: [p for _, p in items] + cell for name, items in _slice_groups(path).items()}
    if not path.exists():
        raise StackReadError(f"{path}: no such file or folder; expected an npz, .sxm or a folder")
    if path.suffix.lower() == ".npz":
        try:
            with zipfile.ZipFile(path) as archive:
                keys = {name[:-4] for name in archive.namelist()}
            if "df" in keys:
                shape = _npz_member_shape(path, "df")
                if len(shape) == 4 and shape[0] > 1:
                    return {f"{path.stem}_v{k}": [path] for k in range(shape[0])}
        except (OSError, zipfile.BadZipFile, ValueError, KeyError) as err:
            raise StackReadError(f"{path}: not a readable npz ({err})") from None
    return {path.stem: [path]}


def list_stacks(path: str | Path) -> list[str]:
    """Names of the stacks :func:`read_stacks` would return for ``path``, reading no pixels."""
    return list(stack_files(path))


def read_stacks(
    path: str | Path,
    scan_size_a: tuple[float, ...] | None = None,
    closest: str = "auto",
) -> list[Stack]:
    """Read every stack in ``path`` (an npz, an .sxm, or a folder of slices); see the module.

    ``scan_size_a``: (W,) or (W, H) in A for inputs that record no scan size (image folders,
    overriding a ``cell.txt``); ignored with a note where the file records its own.
    ``closest``: where the closest slice is in inputs without heights: ``first``, ``last`` or
    ``auto`` (:func:`closest_first`).
    """
    path = Path(path)
    scan = parse_scan_size(scan_size_a) if scan_size_a is not None else None
    if closest not in ("auto", "first", "last"):
        raise StackReadError(f"closest: expected auto, first or last, got {closest!r}")
    if path.is_dir():
        stacks = [
            _read_slice_folder(path, name, items, scan)
            for name, items in _slice_groups(path).items()
        ]
    elif not path.exists():
        raise StackReadError(f"{path}: no such file or folder; expected an npz, .sxm or a folder")
    elif path.suffix.lower() == ".npz":
        stacks = _read_npz(path)
    elif path.suffix.lower() == ".sxm":
        df, pixel_xy, notes = _read_sxm(path)
        stacks = [Stack(path.stem, df[None], None, pixel_xy, str(path), notes)]
    else:
        raise StackReadError(
            f"{path}: unknown input; expected an .npz (ours or ml-spm), an .sxm, or a folder of "
            "<k>.png / <name>_<k>.png slices"
        )
    out = []
    for stack in stacks:
        if stack.heights_a is None:
            stack = closest_first(stack, closest)
        if scan is not None and not path.is_dir():
            stack.notes.append(f"--scan-size-a ignored: {path.name} records its own pixel size")
        out.append(stack)
    return out


def parse_scan_size(values: tuple[float, ...] | list[float]) -> tuple[float, float]:
    """(W,) or (W, H) in A, each finite and > 0 -> (W, H); anything else raises."""
    try:
        floats = [float(v) for v in values]
    except (TypeError, ValueError):
        floats = []
    if len(floats) not in (1, 2) or not all(np.isfinite(v) and v > 0 for v in floats):
        raise StackReadError(
            f"--scan-size-a: expected one or two positive numbers (A), got {list(values)!r}"
        )
    return (floats[0], floats[-1])


# ---------------------------------------------------------------- readers


def _read_npz(path: Path) -> list[Stack]:
    try:
        with open_npz(path) as npz:
            data = {key: npz[key] for key in npz.files}
    except NpzFileError as err:
        raise StackReadError(str(err)) from None
    if "df" in data:
        return _read_our_npz(path, data)
    if "data" in data:
        return [_read_mlspm_npz(path, data)]
    raise StackReadError(
        f"{path}: npz without 'df' (ours: df, heights_a, pixel_size_a) or 'data' "
        "(ml-spm: data, lengthX, lengthY)"
    )


def _read_our_npz(path: Path, data: dict[str, np.ndarray]) -> list[Stack]:
    if "failed" in data and bool(data["failed"]):
        raise StackReadError(f"{path}: an AFM placeholder of a failed structure ({data['reason']})")
    for key in ("heights_a", "pixel_size_a"):
        if key not in data:
            raise StackReadError(
                f"{path}: key {key!r} missing; expected df, heights_a, pixel_size_a"
            )
    df = np.asarray(data["df"], dtype=np.float32)
    heights = np.asarray(data["heights_a"], dtype=np.float64).ravel()
    pixel = float(data["pixel_size_a"])
    if df.ndim == 3:
        df = df[None]
    if df.ndim != 4 or df.shape[1] != len(heights) or min(df.shape) < 1:
        raise StackReadError(
            f"{path}: df has shape {data['df'].shape}; expected [n_views, n_heights, ny, nx] or "
            f"[n_heights, ny, nx] with n_heights = len(heights_a) = {len(heights)}"
        )
    if not (np.isfinite(pixel) and pixel > 0) or not np.all(np.isfinite(heights)):
        raise StackReadError(f"{path}: pixel_size_a {pixel} / heights_a not finite and > 0")
    order = np.argsort(heights, kind="stable")
    notes = ["heights from the file; slices sorted by ascending height"]
    names = [path.stem] if df.shape[0] == 1 else [f"{path.stem}_v{k}" for k in range(len(df))]
    return [
        Stack(name, df[v][order], heights[order], (pixel, pixel), str(path), list(notes))
        for v, name in enumerate(names)
    ]


def _read_mlspm_npz(path: Path, data: dict[str, np.ndarray]) -> Stack:
    arr = np.asarray(data["data"])
    if arr.ndim != 3 or min(arr.shape) < 1 or not np.issubdtype(arr.dtype, np.number):
        raise StackReadError(f"{path}: 'data' has shape {arr.shape}; expected [nx, ny, nz]")
    try:
        length = (float(data["lengthX"]), float(data["lengthY"]))
    except KeyError as err:
        raise StackReadError(
            f"{path}: ml-spm npz without {err}; expected lengthX, lengthY (A)"
        ) from None
    if not all(np.isfinite(v) and v > 0 for v in length):
        raise StackReadError(f"{path}: lengthX/lengthY {length} not finite and > 0 (A)")
    df = np.ascontiguousarray(arr.transpose(2, 1, 0), dtype=np.float32)  # [nz, ny, nx]
    pixel = (length[0] / df.shape[2], length[1] / df.shape[1])
    notes = ["ml-spm npz: data[x, y, z] -> df[z, y, x]; pixel = lengthX / nx"]
    return Stack(path.stem, df, None, pixel, str(path), notes)


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode in ("L", "I", "I;16", "F"):
                return np.asarray(image, dtype=np.float32)
            return np.asarray(image.convert("L"), dtype=np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise StackReadError(f"{path}: not a readable image ({err})") from None


def _read_sxm(path: Path) -> tuple[np.ndarray, tuple[float, float], list[str]]:
    """First frequency-shift channel (forward) of a Nanonis .sxm: (df [ny, nx], (px, py), notes)."""
    import nanonispy2 as nap

    try:
        scan = nap.read.Scan(str(path))
        channels = list(scan.signals)
        freq = [c for c in channels if "freq" in c.lower()]
        if not freq:
            raise StackReadError(
                f"{path}: no frequency-shift channel among {channels}; expected one named *Freq*"
            )
        df = np.asarray(scan.signals[freq[0]]["forward"], dtype=np.float32)
        width_m, height_m = (float(v) for v in scan.header["scan_range"][:2])
    except StackReadError:
        raise
    except Exception as err:  # nanonispy2 raises bare errors on damaged headers/data
        raise StackReadError(
            f"{path}: not a readable Nanonis .sxm ({type(err).__name__}: {err})"
        ) from None
    ny, nx = df.shape
    pixel = (width_m * 1e10 / nx, height_m * 1e10 / ny)
    if not all(np.isfinite(v) and v > 0 for v in pixel) or not np.all(np.isfinite(df)):
        raise StackReadError(f"{path}: scan range or data not finite (NaN: an unfinished scan?)")
    notes = [f"sxm channel {freq[0]!r}, forward scan; scan size from SCAN_RANGE"]
    return df, pixel, notes


def _read_cell_txt(folder: Path) -> tuple[float, float] | None:
    """Scan size (A) from AmorAFM's ``cell.txt`` (a title line, then width [height] in nm):
    width along the image columns (x), height along its rows (y). AmorAFM's own reader
    (``DetectDataset.read_cell_info``) swaps the two numbers but also turns the image by 270
    degrees, which puts the same lengths on the same image axes."""
    path = folder / "cell.txt"
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    try:
        values = [float(v) * 10.0 for v in lines[1].split()]
        return parse_scan_size(values)
    except (IndexError, ValueError):
        raise StackReadError(
            f"{path}: expected a title line, then width [height] in nm (e.g. '7. 7.')"
        ) from None


def _read_slice_folder(
    folder: Path, name: str, items: list[tuple[int, Path]], scan: tuple[float, float] | None
) -> Stack:
    notes = [f"slices {items[0][1].name} .. {items[-1][1].name} in the order of k"]
    pixel_sxm: tuple[float, float] | None = None
    if items[0][1].suffix.lower() == ".sxm":
        slices = []
        for _, path in items:
            df, pixel_sxm, _ = _read_sxm(path)
            slices.append(df)
        notes.append("sxm: first frequency-shift channel, forward scan, scan size from the header")
    else:
        slices = [_read_png(path) for _, path in items]
    shapes = {s.shape for s in slices}
    if len(shapes) > 1:
        raise StackReadError(f"{folder}: stack {name!r} mixes slice sizes {sorted(shapes)}")
    df = np.stack(slices).astype(np.float32)
    ny, nx = df.shape[1:]
    pixel: tuple[float, float] | None
    if scan is not None:
        pixel = (scan[0] / nx, scan[1] / ny)
        notes.append(f"scan size {scan[0]:g} x {scan[1]:g} A given by the caller")
    elif pixel_sxm is not None:
        pixel = pixel_sxm
    elif (cell := _read_cell_txt(folder)) is not None:
        pixel = (cell[0] / nx, cell[1] / ny)
        notes.append(f"scan size {cell[0]:g} x {cell[1]:g} A from cell.txt")
    else:
        pixel = None
    return Stack(name, df, None, pixel, str(folder), notes)


# ---------------------------------------------------------------- preprocessing


def sharpness(image: np.ndarray) -> float:
    """Feature sharpness of one slice (dimensionless): sigma^2 <|grad G_sigma * I|^2> / var.

    ``G_sigma`` is a Gaussian of sigma = max(ny, nx) / 64 px, which keeps the atomic features and
    drops pixel noise (8-bit far slices are noise-dominated at the pixel scale). Larger = sharper.
    """
    sigma = max(image.shape) / 64.0
    smooth = ndimage.gaussian_filter(np.asarray(image, dtype=np.float64), sigma)
    std = smooth.std()
    if std == 0:
        return 0.0
    gy, gx = np.gradient((smooth - smooth.mean()) / std)
    return float(np.mean(gx**2 + gy**2) * sigma**2)


def closest_first(stack: Stack, closest: str = "auto") -> Stack:
    """Return ``stack`` with its closest slice first (for stacks without heights).

    Rule (``auto``): contrast sharpens as the tip approaches, so the end whose two outermost
    slices have the larger mean :func:`sharpness` is the closest. On the shared images this
    puts slice 0 first for the premelting surface (sharp honeycomb at 0, blurred at 13) and the
    last slice first for the ice clusters (Ying_Jiang_4 is flat within 10%: ambiguous).
    ``first``/``last`` override it.
    """
    n = len(stack.df)
    if closest == "auto" and n > 1:
        m = min(2, n // 2)
        first = np.mean([sharpness(s) for s in stack.df[:m]])
        last = np.mean([sharpness(s) for s in stack.df[-m:]])
        closest = "last" if last > first else "first"
        note = f"closest end detected by sharpness: {closest} ({first:.3f} first, {last:.3f} last)"
    else:
        note = f"closest end: {closest if n > 1 else 'single slice'} (given)"
    df = stack.df[::-1].copy() if closest == "last" else stack.df
    return replace(stack, df=df, notes=[*stack.notes, note])


def normalise_slices(df: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Each slice of ``df`` [n, ny, nx] to zero mean and unit standard deviation (float32)."""
    df = np.asarray(df, dtype=np.float32)
    mean = df.mean(axis=(1, 2), keepdims=True)
    std = df.std(axis=(1, 2), keepdims=True)
    return (df - mean) / (std + eps)


def subtract_row_median(df: np.ndarray) -> np.ndarray:
    """Remove scan-line offsets: subtract each row's median, slice by slice (df [n, ny, nx])."""
    df = np.asarray(df, dtype=np.float32)
    return df - np.median(df, axis=2, keepdims=True)


def resampled_shape(shape_yx: tuple[int, int], pixel_xy_a: tuple[float, float], target_a: float):
    """(ny, nx) on the ``target_a`` grid inside the input: n = floor((n_in - 1) p / t) + 1."""
    ny, nx = shape_yx
    return (
        int(np.floor((ny - 1) * pixel_xy_a[1] / target_a + 1e-6)) + 1,
        int(np.floor((nx - 1) * pixel_xy_a[0] / target_a + 1e-6)) + 1,
    )


def resample(df: np.ndarray, pixel_xy_a: tuple[float, float], target_a: float) -> np.ndarray:
    """Resample ``df`` [n, ny, nx] from pixels (px, py) A to square pixels of ``target_a`` A.

    Output pixel (iy, ix) is centred at (ix * target, iy * target) A, the same frame as the input
    (input pixel (iy, ix) at (ix * px, iy * py)), so positions in A need no conversion. Cubic
    B-spline interpolation (``scipy.ndimage.map_coordinates``, order 3, edges 'nearest'); when
    an axis is downsampled by a factor f > 1 it is first smoothed by a Gaussian of sigma =
    (f - 1) / 2 input pixels (the anti-aliasing of ``skimage.transform.rescale``).
    """
    df = np.asarray(df, dtype=np.float32)
    ny_out, nx_out = resampled_shape(df.shape[1:], pixel_xy_a, target_a)
    fy, fx = target_a / pixel_xy_a[1], target_a / pixel_xy_a[0]
    sigma = (0.0, max(0.0, (fy - 1) / 2), max(0.0, (fx - 1) / 2))
    if sigma[1] or sigma[2]:
        df = ndimage.gaussian_filter(df, sigma, mode="nearest")
    yy, xx = np.meshgrid(np.arange(ny_out) * fy, np.arange(nx_out) * fx, indexing="ij")
    return np.stack(
        [ndimage.map_coordinates(s, [yy, xx], order=3, mode="nearest") for s in df]
    ).astype(np.float32)


def _hann_spectrum(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    image = (image - image.mean()) / (image.std() + 1e-12)
    window = np.hanning(image.shape[0])[:, None] * np.hanning(image.shape[1])[None, :]
    return np.abs(np.fft.fftshift(np.fft.fft2(image * window))) ** 2


def _whitened_spectrum(df: np.ndarray, n_slices: int) -> np.ndarray:
    """Power spectrum (Hann window) of the ``n_slices`` closest slices, summed, over its radial
    mean (so a featureless ring is ~1), square N x N with N = min(ny, nx), centred at N // 2."""
    n = min(df.shape[1:])
    power = sum(_hann_spectrum(s[:n, :n]) for s in df[:n_slices])
    c = n // 2
    ky, kx = np.indices(power.shape)
    rbin = np.round(np.hypot(ky - c, kx - c)).astype(int)
    radial = np.bincount(rbin.ravel(), power.ravel()) / np.bincount(rbin.ravel())
    return ndimage.gaussian_filter(power / radial[rbin], 1.0)


def _lattice_score(white: np.ndarray, k_f: float, theta: np.ndarray, k_max: float) -> np.ndarray:
    """Sum of (whitened power - 1) over the reciprocal points of a hexagonal lattice of first
    shell radius ``k_f`` (cycles per image) rotated by each ``theta`` (rad), 3 <= |G| <= k_max."""
    c = white.shape[0] // 2
    m = int(np.ceil(2 * k_max / k_f)) + 1
    h, k = np.meshgrid(np.arange(-m, m + 1), np.arange(-m, m + 1), indexing="ij")
    gx = k_f * (h + 0.5 * k).ravel()
    gy = k_f * (np.sqrt(3) / 2 * k).ravel()
    keep = (np.hypot(gx, gy) >= 3) & (np.hypot(gx, gy) <= k_max)
    gx, gy = gx[keep], gy[keep]
    cos, sin = np.cos(theta)[:, None], np.sin(theta)[:, None]
    xs, ys = c + cos * gx - sin * gy, c + sin * gx + cos * gy
    return (ndimage.map_coordinates(white, [ys, xs], order=1) - 1.0).sum(axis=1)


def hexagonal_ring(df: np.ndarray, n_slices: int = 5) -> tuple[float, float]:
    """First reciprocal shell of the hexagonal lattice in the closest slices of ``df`` [n, ny, nx].

    1. The strongest six-fold ring of the whitened spectrum (:func:`_whitened_spectrum`): for each
       radius k (cycles per image, 0.5 steps, 4 .. N / 6) the best-rotation mean of six points
       60 degrees apart over the ring mean (the six-fold score).
    2. That ring may be a higher shell of the lattice (ratios 1, sqrt 3, 2, sqrt 7, 3): of the
       fundamentals k / ratio, keep the one whose whole reciprocal lattice (every rotation) has
       the largest summed excess power (:func:`_lattice_score`), each refined within +-5 %; a
       sub-harmonic puts points between the peaks, where the whitened power is below 1, and
       loses; a higher shell misses the peaks of the lower ones.
    Returns (k_first_shell, six-fold score of the strongest ring); score ~1: no six-fold order.
    """
    white = _whitened_spectrum(df, n_slices)
    n = white.shape[0]
    c = n // 2
    angles = np.deg2rad(np.arange(0.0, 60.0, 1.0))[:, None] + np.pi / 3 * np.arange(6)[None, :]
    best = (0.0, 0.0)
    for k in np.arange(4.0, n / 6, 0.5):
        ring = ndimage.map_coordinates(
            white, [c + k * np.sin(angles), c + k * np.cos(angles)], order=1
        )
        score = float(ring.mean(axis=1).max() / ring.mean())
        if score > best[1]:
            best = (float(k), score)
    theta = np.deg2rad(np.arange(0.0, 60.0, 0.5))
    fundamentals = [best[0] / r for r in (1, np.sqrt(3), 2, np.sqrt(7), 3) if best[0] / r >= 3]
    # each candidate refined within +-5 % (a 1 % error misplaces the far lattice points)
    candidates = [k_f * f for k_f in fundamentals for f in np.linspace(0.95, 1.05, 51)]
    scores = [_lattice_score(white, k_f, theta, n / 4).max() for k_f in candidates]
    return float(candidates[int(np.argmax(scores))]), best[1]


def lattice_angle_deg(df: np.ndarray) -> float:
    """Orientation (degrees in [0, 60)) of the first reciprocal shell of the hexagonal lattice in
    the closest slices of ``df`` [n, ny, nx] (:func:`hexagonal_ring`), measured from +x towards
    +y (row index) in the image frame; the real-space lattice rows lie 30 degrees from it."""
    k_f, _ = hexagonal_ring(df)
    white = _whitened_spectrum(df, 5)
    theta = np.deg2rad(np.arange(0.0, 60.0, 0.5))
    scores = _lattice_score(white, k_f, theta, white.shape[0] / 4)
    return float(np.rad2deg(theta[int(np.argmax(scores))]))


def estimate_pixel_size_a(df: np.ndarray, min_score: float = 2.0) -> tuple[float, str]:
    """Pixel size (A) of a stack of ice from its lattice: (pixel_size_a, note).

    The first reciprocal shell k_f (:func:`hexagonal_ring`, cycles per N-pixel image) of a
    hexagonal lattice of constant a is at plane spacing a * sqrt(3) / 2, so
    pixel = a * sqrt(3) / 2 * k_f / N with a = 4.52 A (ice Ih, the period of the basal O
    honeycomb). Checked on the premelting surface (7 x 7 nm recorded): see
    tests/unit/test_io_stacks.py. Raises :class:`StackReadError` when the six-fold score is below
    ``min_score`` (no lattice: small clusters, strong disorder).
    """
    n = min(df.shape[1:])
    k, score = hexagonal_ring(df)
    if score < min_score or k == 0:
        raise StackReadError(
            f"no ice lattice found to estimate the scan size (six-fold score {score:.2f} < "
            f"{min_score}); give the scan size (--scan-size-a W [H], A)"
        )
    pixel = ICE_LATTICE_A * np.sqrt(3) / 2 * k / n
    note = (
        f"scan size estimated from the ice lattice: first reciprocal shell k = {k:.2f} per "
        f"{n} px (six-fold score {score:.1f}), a = {ICE_LATTICE_A} A -> {pixel:.4f} A/px"
    )
    return float(pixel), note


def with_given_scan_size(stack: Stack, scan_a: tuple[float, ...], origin: str) -> Stack:
    """``stack`` with scan size ``scan_a`` (W [, H] in A) from ``origin`` (said in the notes)."""
    width, height = parse_scan_size(scan_a)
    ny, nx = stack.df.shape[1:]
    note = f"scan size {width:g} x {height:g} A from {origin}"
    return replace(stack, pixel_size_xy_a=(width / nx, height / ny), notes=[*stack.notes, note])


def with_scan_size(stack: Stack) -> Stack:
    """``stack`` with its pixel size, estimated from the ice lattice when not known."""
    if stack.pixel_size_xy_a is not None:
        return stack
    try:
        pixel, note = estimate_pixel_size_a(stack.df)
    except StackReadError as err:
        raise StackReadError(f"{stack.source} ({stack.name}): {err}") from None
    return replace(stack, pixel_size_xy_a=(pixel, pixel), notes=[*stack.notes, note])
