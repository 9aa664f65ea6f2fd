"""Streaming training data from the HDF5 splits of :mod:`iceafm.data.store`.

:class:`StackStream` is a :class:`torch.utils.data.IterableDataset` that opens the file in each
worker process (h5py handles do not survive a fork), reads whole HDF5 chunks (``shard_size``
entries) and keeps only the chunk it is reading, so memory does not grow with the dataset. Each
epoch visits the chunks in a random order and the entries of a chunk in a random order; the
epoch's sample order is cut into batches that are dealt round-robin to the DataLoader workers and
evenly to the distributed ranks, and every random draw of a sample's augmentation is seeded by
(seed, epoch, position in the epoch), so the batches do not depend on the number of workers.

Augmentations (:class:`AugmentConfig`) keep the labels consistent: lateral moves (the eight
rotations/flips of the square grid, integer-pixel shifts) move the atoms with the image and the
targets are re-encoded from the atoms by :func:`iceafm.labels.voxel_targets`; noise of random
amplitude, a background gradient and a cutout change only the image. Random subsets of
consecutive height slices are drawn per batch by :func:`random_slices` (the network takes any
number of slices).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from iceafm.models.decode import GridGeometry, encode_atoms

_SYMBOL = {8: "O", 1: "H"}


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentations (``train.augment`` config).

    rot_flip: apply one of the 8 rotations/flips of the square image (ny == nx) at random.
    shift_px: lateral shift up to this many pixels along x and y (uncovered pixels get the slice
    mean). noise: maximum std of Gaussian noise, as a fraction of each slice's std (the amplitude
    is drawn uniformly in [0, noise] per stack). gradient: maximum background-plane amplitude
    across the window, as a fraction of the slice std. cutout: probability of one rectangle
    (each side up to a quarter of the window) set to the slice mean. slices: probability
    that a batch uses a random run of consecutive slices instead of all; slices_min: the fewest.
    Experiment-like artifacts (off at 0; :data:`LATE_AUGMENTS`, used by ``adapt`` method
    ``augment``): drift_px: maximum slow-scan drift, a lateral x shift growing linearly from 0 at
    row 0 to up to this many pixels at the last row (sub-pixel, linear interpolation);
    scan_lines: probability of scan-line artifacts, per-row offsets of random std up to 0.3 of the
    slice std on a random 10 % of the rows; quantise: probability that each slice is min-max
    scaled to 8 bits (256 grey levels) as the published experimental PNGs are.
    """

    rot_flip: bool = True
    shift_px: int = 6
    noise: float = 0.1
    gradient: float = 0.3
    cutout: float = 0.3
    slices: float = 0.3
    slices_min: int = 6
    drift_px: float = 0.0
    scan_lines: float = 0.0
    quantise: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return asdict(self)


#: Augmentations added after the first trained models: left out of a config hash while off, so
#: training states saved before they existed still resume.
LATE_AUGMENTS = ("drift_px", "scan_lines", "quantise")


@dataclass(frozen=True)
class SplitInfo:
    """What a split file holds: ``n`` entries of ``df`` [n_heights, ny, nx] and ``targets``
    [n_species, 4, n_z, ny_l, nx_l]; ``chunk`` entries per HDF5 chunk; heights (A), pixel size
    (A), label geometry and ``depth_a`` (A) from the file's attributes."""

    path: str
    n: int
    df_shape: tuple[int, ...]
    targets_shape: tuple[int, ...]
    chunk: int
    heights_a: tuple[float, ...]
    pixel_size_a: float
    geometry: GridGeometry
    depth_a: float


class DatasetFileError(ValueError):
    """A split file is missing or is not a dataset split."""


def split_info(path: str | os.PathLike) -> SplitInfo:
    """Read a split file's shapes and attributes (no data)."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            df, targets = h5["df"], h5["targets"]
            labels = json.loads(h5.attrs["labels_settings_json"])["labels"]
            pixel = float(h5.attrs["pixel_size_a"])
            return SplitInfo(
                path=str(path),
                n=int(df.shape[0]),
                df_shape=tuple(int(s) for s in df.shape[1:]),
                targets_shape=tuple(int(s) for s in targets.shape[1:]),
                chunk=int(df.chunks[0]) if df.chunks else 16,
                heights_a=tuple(float(h) for h in np.asarray(h5.attrs["heights_a"])),
                pixel_size_a=pixel,
                geometry=GridGeometry(
                    pixel_size_a=pixel,
                    voxel_xy_px=int(labels["voxel_xy_px"]),
                    voxel_z_a=float(labels["voxel_z_a"]),
                    above_top_o_a=float(labels["above_top_o_a"]),
                ),
                depth_a=float(labels["depth_a"]),
            )
    except (OSError, KeyError) as err:
        raise DatasetFileError(
            f"{path}: not a dataset split file ({type(err).__name__}: {err}); expected the "
            "HDF5 layout of iceafm.data.store"
        ) from None


def _read_chunk(h5: h5py.File, start: int, stop: int) -> dict[str, Any]:
    offsets = h5["atoms_offsets"][start : stop + 1]
    return {
        "start": start,
        "df": h5["df"][start:stop],
        "targets": h5["targets"][start:stop],
        "offsets": offsets - offsets[0],
        "xyz": h5["atoms_xyz"][offsets[0] : offsets[-1]],
        "number": h5["atoms_number"][offsets[0] : offsets[-1]],
    }


def spread_entries(n: int, n_max: int | None) -> np.ndarray:
    """Indices of up to ``n_max`` (None: all) of a split's ``n`` entries, spread evenly from the
    first to the last, ascending. A split stores each structure's views one after another, so
    its first ``n_max`` entries can all be views of one structure."""
    if n_max is None or n_max >= n:
        return np.arange(n)
    return np.linspace(0, n - 1, max(n_max, 0)).round().astype(np.int64)


def iter_split(
    path: str | os.PathLike, max_entries: int | None = None
) -> Iterator[dict[str, Any]]:
    """Entries of a split file in order (``max_entries``: only that many, spread over the split
    by :func:`spread_entries`), reading one chunk at a time and skipping chunks without a wanted
    entry: dicts with ``df`` [n_heights, ny, nx] (Hz), ``targets``, ``symbols`` [m], ``xyz_a``
    [m, 3] (A, labels frame), ``index``."""
    info = split_info(path)
    wanted = spread_entries(info.n, max_entries)
    with h5py.File(path, "r") as h5:
        for start in range(0, info.n, info.chunk):
            stop = min(start + info.chunk, info.n)
            here = wanted[(wanted >= start) & (wanted < stop)]
            if not len(here):
                continue
            chunk = _read_chunk(h5, start, stop)
            for index in here:
                k = int(index) - start
                a0, a1 = chunk["offsets"][k], chunk["offsets"][k + 1]
                yield {
                    "index": int(index),
                    "df": chunk["df"][k],
                    "targets": chunk["targets"][k],
                    "symbols": [_SYMBOL[int(n)] for n in chunk["number"][a0:a1]],
                    "xyz_a": chunk["xyz"][a0:a1].astype(np.float64),
                }


def epoch_order(n: int, chunk: int, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """Entry indices of one epoch: chunks in random order, entries of each chunk shuffled."""
    starts = np.arange(0, n, chunk)
    if not shuffle:
        return np.arange(n)
    rng = np.random.default_rng([seed, epoch, 0])
    parts = []
    for start in rng.permutation(starts):
        parts.append(start + rng.permutation(min(chunk, n - start)))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def background_plane(ny: int, nx: int, angle_rad: float) -> np.ndarray:
    """[ny, nx] plane rising along the direction ``angle_rad`` (from the x axis) by
    cos + sin of it across the window (pixel units scaled to 0-1), minus 0.5: the ``gradient``
    augmentation's background at unit amplitude."""
    yy, xx = np.mgrid[0:ny, 0:nx]
    return np.cos(angle_rad) * xx / max(nx - 1, 1) + np.sin(angle_rad) * yy / max(ny - 1, 1) - 0.5


def augment_sample(
    df: np.ndarray,
    symbols: list[str],
    xyz_a: np.ndarray,
    targets: np.ndarray,
    info: SplitInfo,
    config: AugmentConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """One augmented (df [n_h, ny, nx], targets) pair; targets are re-encoded from the moved
    atoms whenever the image moved."""
    df = np.array(df, dtype=np.float32, copy=True)
    n_h, ny, nx = df.shape
    p = info.pixel_size_a
    xyz = np.array(xyz_a, dtype=np.float64).reshape(-1, 3)
    moved = False
    if config.rot_flip:
        k = int(rng.integers(8 if ny == nx else 4))
        if k & 1:
            df, xyz[:, 0], moved = df[:, :, ::-1], (nx - 1) * p - xyz[:, 0], True
        if k & 2:
            df, xyz[:, 1], moved = df[:, ::-1, :], (ny - 1) * p - xyz[:, 1], True
        if k & 4:
            df, xyz, moved = df.transpose(0, 2, 1), xyz[:, [1, 0, 2]], True
        df = np.ascontiguousarray(df)
    mean = df.mean(axis=(1, 2), keepdims=True)
    std = df.std(axis=(1, 2), keepdims=True) + 1e-12
    if config.shift_px:
        dx, dy = (int(v) for v in rng.integers(-config.shift_px, config.shift_px + 1, 2))
        if dx or dy:
            shifted = np.broadcast_to(mean, df.shape).copy()
            ys, yd = slice(max(0, -dy), ny - max(0, dy)), slice(max(0, dy), ny - max(0, -dy))
            xs, xd = slice(max(0, -dx), nx - max(0, dx)), slice(max(0, dx), nx - max(0, -dx))
            shifted[:, yd, xd] = df[:, ys, xs]
            df, moved = shifted, True
            xyz[:, 0] += dx * p
            xyz[:, 1] += dy * p
            half = 0.5 * p
            keep = (
                (xyz[:, 0] >= -half)
                & (xyz[:, 0] < nx * p - half)
                & (xyz[:, 1] >= -half)
                & (xyz[:, 1] < ny * p - half)
            )
            xyz, symbols = xyz[keep], [s for s, k in zip(symbols, keep, strict=True) if k]
    if config.noise:
        sigma = rng.uniform(0.0, config.noise)
        df += (sigma * std * rng.standard_normal(df.shape)).astype(np.float32)
    if config.gradient:
        angle, amp = rng.uniform(0, 2 * np.pi), rng.uniform(-config.gradient, config.gradient)
        df += (amp * std * background_plane(ny, nx, angle)[None]).astype(np.float32)
    if config.cutout and rng.random() < config.cutout:
        h, w = int(rng.integers(1, ny // 4 + 2)), int(rng.integers(1, nx // 4 + 2))
        y0, x0 = int(rng.integers(0, ny - h + 1)), int(rng.integers(0, nx - w + 1))
        df[:, y0 : y0 + h, x0 : x0 + w] = mean
    df = experimental_artifacts(df, config, rng)
    if moved:
        targets = encode_atoms(symbols, xyz, info.geometry, (ny, nx), info.depth_a)
    return df, np.asarray(targets, dtype=np.float32)


def experimental_artifacts(
    df: np.ndarray, config: AugmentConfig, rng: np.random.Generator
) -> np.ndarray:
    """Drift, scan-line offsets and 8-bit quantisation of ``config`` (see
    :class:`AugmentConfig`) on df [n_h, ny, nx]; image only (drift keeps row 0 in place and moves
    the atoms less than ``drift_px`` pixels, so the labels are kept). No draw when all are off."""
    n_h, ny, nx = df.shape
    if config.drift_px:
        amp = rng.uniform(-config.drift_px, config.drift_px)
        shift = amp * np.arange(ny) / max(ny - 1, 1)  # [ny] px, x shift of each row
        x = np.arange(nx)[None, :] - shift[:, None]
        lo = np.clip(np.floor(x).astype(int), 0, nx - 1)
        hi = np.clip(lo + 1, 0, nx - 1)
        frac = np.clip(x - np.floor(x), 0.0, 1.0).astype(np.float32)
        rows = np.arange(ny)[:, None]
        df = df[:, rows, lo] * (1 - frac) + df[:, rows, hi] * frac
    if config.scan_lines and rng.random() < config.scan_lines:
        std = df.std(axis=(1, 2), keepdims=True) + 1e-12
        rows = rng.random(ny) < 0.1
        offsets = rng.uniform(0, 0.3) * rng.standard_normal(ny) * rows
        df = df + (std * offsets[None, :, None]).astype(np.float32)
    if config.quantise and rng.random() < config.quantise:
        lo = df.min(axis=(1, 2), keepdims=True)
        span = df.max(axis=(1, 2), keepdims=True) - lo + 1e-12
        df = np.round((df - lo) / span * 255.0) / 255.0 * span + lo
    return np.asarray(df, dtype=np.float32)


def random_slices(
    df: torch.Tensor, probability: float, min_count: int, generator: torch.Generator
) -> torch.Tensor:
    """With ``probability``, a random run of ``n`` consecutive slices (n uniform in
    [min_count, n_slices], the same for the batch) starting at a random slice per sample:
    [B, n_slices, ny, nx] -> [B, n, ny, nx]; else ``df`` itself."""
    b, n_slices = df.shape[:2]
    if probability <= 0 or float(torch.rand(1, generator=generator)) >= probability:
        return df
    lo = max(1, min(min_count, n_slices))
    n = int(torch.randint(lo, n_slices + 1, (1,), generator=generator))
    starts = torch.randint(0, n_slices - n + 1, (b,), generator=generator)
    index = starts[:, None] + torch.arange(n)[None, :]
    return torch.gather(df, 1, index[:, :, None, None].expand(b, n, *df.shape[2:]))


class StackStream(IterableDataset):
    """(df [n_h, ny, nx] float32 Hz, targets [n_species, 4, n_z, ny_l, nx_l]) pairs of a split,
    streamed chunk by chunk (see the module docstring). Call :meth:`set_epoch` before each
    epoch. ``rank``/``world`` split the epoch evenly over distributed processes (the remainder
    of ``world * batch_size`` entries is dropped when ``world > 1``); ``max_samples`` caps an
    epoch (None: all entries)."""

    def __init__(
        self,
        path: str | os.PathLike,
        batch_size: int,
        seed: int = 0,
        augment: AugmentConfig | None = None,
        shuffle: bool = True,
        rank: int = 0,
        world: int = 1,
        max_samples: int | None = None,
    ):
        super().__init__()
        self.info = split_info(path)
        self.batch_size = batch_size
        self.seed = seed
        self.augment = augment
        self.shuffle = shuffle
        self.rank, self.world = rank, world
        self.max_samples = max_samples
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order and augmentations the next iteration yields."""
        self.epoch = epoch

    def _rank_order(self) -> np.ndarray:
        order = epoch_order(self.info.n, self.info.chunk, self.seed, self.epoch, self.shuffle)
        if self.max_samples is not None:
            order = order[: self.max_samples]
        if self.world > 1:
            per_rank = len(order) // (self.world * self.batch_size) * self.batch_size
            order = order[self.rank * per_rank : (self.rank + 1) * per_rank]
        return order

    def __len__(self) -> int:
        """Entries this rank yields per epoch."""
        return len(self._rank_order())

    def n_batches(self) -> int:
        """Batches this rank yields per epoch (the last one may be short)."""
        return math.ceil(len(self) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        worker = get_worker_info()
        n_workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        order = self._rank_order()
        base = self.rank * len(order)
        cached: dict[str, Any] | None = None
        with h5py.File(self.info.path, "r") as h5:
            for b in range(worker_id, math.ceil(len(order) / self.batch_size), n_workers):
                for pos in range(b * self.batch_size, min((b + 1) * self.batch_size, len(order))):
                    index = int(order[pos])
                    start = index - index % self.info.chunk
                    if cached is None or cached["start"] != start:
                        cached = _read_chunk(h5, start, min(start + self.info.chunk, self.info.n))
                    yield self._sample(cached, index - start, base + pos)

    def _sample(self, chunk: dict[str, Any], k: int, pos: int) -> tuple[torch.Tensor, ...]:
        df, targets = chunk["df"][k], chunk["targets"][k]
        if self.augment is not None:
            a0, a1 = chunk["offsets"][k], chunk["offsets"][k + 1]
            symbols = [_SYMBOL[int(n)] for n in chunk["number"][a0:a1]]
            rng = np.random.default_rng([self.seed, self.epoch, pos, 1])
            df, targets = augment_sample(
                df, symbols, chunk["xyz"][a0:a1], targets, self.info, self.augment, rng
            )
        return torch.from_numpy(np.ascontiguousarray(df)), torch.from_numpy(targets)
