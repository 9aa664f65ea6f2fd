"""Chunked, compressed HDF5 split files, written incrementally (bounded memory).

Layout of ``results/dataset/{split}.h5`` (N entries = structures x views):
``df`` float32 [N, n_heights, ny, nx] (Hz); ``targets`` float32 [N, n_species, 4, n_z, ny_l,
nx_l]; ``atoms_xyz`` float32 [M, 3] (A, scan frame; see :mod:`iceafm.labels`);
``atoms_number`` uint8 [M]; ``atoms_offsets`` int64 [N + 1] (entry i owns atom rows
offsets[i]:offsets[i+1]); ``sample_id`` str [N]; ``view`` int32 [N]. Attributes: ``heights_a``,
``pixel_size_a``, ``voxel_size_a``, ``species``, ``afm_settings_json``,
``labels_settings_json``, ``split``. Chunks hold ``shard_size`` entries along N (gzip + shuffle).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from iceafm.io.atomic import atomic_path


class DatasetShapeError(ValueError):
    """A sample's stack or target shape differs from the first sample's in the same split."""


class SplitWriter:
    """Append (structure, views) entries to one split file, flushing every ``shard_size`` rows.

    Use as a context manager; the file appears under its final name only on a clean exit.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        split: str,
        shard_size: int,
        entry_shapes: dict[str, tuple[int, ...]],
        attrs: dict[str, Any],
    ):
        """``entry_shapes``: per-entry shapes of ``df`` and ``targets`` (without the N axis)."""
        self._final = Path(path)
        self._entry_shapes = entry_shapes
        self._split = split
        self._shard = shard_size
        self._attrs = attrs
        self._buffer: list[tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray], str]]
        self._buffer = []
        self._n_buffered = 0
        self._n_written = 0
        self._n_atoms = 0

    def __enter__(self) -> SplitWriter:
        self._atomic = atomic_path(self._final)
        tmp = self._atomic.__enter__()
        self._h5 = h5py.File(tmp, "w")
        self._h5.attrs["split"] = self._split
        for key, value in self._attrs.items():
            self._h5.attrs[key] = value
        self._h5.create_dataset("atoms_offsets", data=np.zeros(1, np.int64), maxshape=(None,))
        self._h5.create_dataset("atoms_xyz", (0, 3), np.float32, maxshape=(None, 3), chunks=True)
        self._h5.create_dataset("atoms_number", (0,), np.uint8, maxshape=(None,), chunks=True)
        str_dtype = h5py.string_dtype()
        self._h5.create_dataset("sample_id", (0,), str_dtype, maxshape=(None,), chunks=True)
        self._h5.create_dataset("view", (0,), np.int32, maxshape=(None,), chunks=True)
        for name, shape in self._entry_shapes.items():
            self._h5.create_dataset(
                name,
                (0, *shape),
                np.float32,
                maxshape=(None, *shape),
                chunks=(self._shard, *shape),
                compression="gzip",
                compression_opts=4,
                shuffle=True,
            )
        return self

    def append(
        self,
        sample: str,
        df_hz: np.ndarray,
        targets: np.ndarray,
        atoms: list[tuple[np.ndarray, np.ndarray]],
    ) -> None:
        """Add all views of one structure: ``df_hz`` [V, n_h, ny, nx], ``targets`` [V, ...],
        ``atoms`` one (xyz [m, 3], numbers [m]) pair per view."""
        if not len(df_hz) == len(targets) == len(atoms):
            raise DatasetShapeError(
                f"{sample}: {len(df_hz)} AFM views, {len(targets)} label views, "
                f"{len(atoms)} atom lists"
            )
        for name, data in (("df", df_hz), ("targets", targets)):
            if data.shape[1:] != self._entry_shapes[name]:
                raise DatasetShapeError(
                    f"{sample}: {name} shape {data.shape[1:]}, expected {self._entry_shapes[name]}"
                )
        self._buffer.append((df_hz, targets, [a[0] for a in atoms], [a[1] for a in atoms], sample))
        self._n_buffered += len(df_hz)
        if self._n_buffered >= self._shard:
            self.flush()

    def flush(self) -> None:
        """Write the buffered entries to the file."""
        if not self._buffer:
            return
        df = np.concatenate([b[0] for b in self._buffer]).astype(np.float32)
        targets = np.concatenate([b[1] for b in self._buffer]).astype(np.float32)
        xyz = [x for b in self._buffer for x in b[2]]
        numbers = [n for b in self._buffer for n in b[3]]
        samples = [b[4] for b in self._buffer for _ in range(len(b[0]))]
        views = [v for b in self._buffer for v in range(len(b[0]))]
        n0, n1 = self._n_written, self._n_written + len(df)
        for name, data in (("df", df), ("targets", targets)):
            self._h5[name].resize(n1, axis=0)
            self._h5[name][n0:n1] = data
        for name, data in (("sample_id", samples), ("view", views)):
            self._h5[name].resize(n1, axis=0)
            self._h5[name][n0:n1] = data
        counts = np.array([len(x) for x in xyz], dtype=np.int64)
        a0, a1 = self._n_atoms, self._n_atoms + int(counts.sum())
        self._h5["atoms_xyz"].resize(a1, axis=0)
        self._h5["atoms_xyz"][a0:a1] = np.concatenate(xyz).reshape(-1, 3)
        self._h5["atoms_number"].resize(a1, axis=0)
        self._h5["atoms_number"][a0:a1] = np.concatenate(numbers)
        self._h5["atoms_offsets"].resize(n1 + 1, axis=0)
        self._h5["atoms_offsets"][n0 + 1 : n1 + 1] = a0 + np.cumsum(counts)
        self._n_written, self._n_atoms = n1, a1
        self._buffer, self._n_buffered = [], 0

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.flush()
            self._h5.close()
        except BaseException as err:
            # the temporary file must go whatever failed: never leave a .part behind
            self._atomic.__exit__(type(err), err, err.__traceback__)
            raise
        self._atomic.__exit__(exc_type, exc, tb)


def iter_entries(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Yield the entries of a split file one by one: df, targets, atoms_xyz, atoms_number,
    sample_id, view (arrays as described in the module docstring, without the N axis)."""
    with h5py.File(path, "r") as h5:
        offsets = h5["atoms_offsets"][:]
        for i in range(len(h5["sample_id"])):
            a0, a1 = offsets[i], offsets[i + 1]
            yield {
                "df": h5["df"][i],
                "targets": h5["targets"][i],
                "atoms_xyz": h5["atoms_xyz"][a0:a1],
                "atoms_number": h5["atoms_number"][a0:a1],
                "sample_id": h5["sample_id"][i].decode(),
                "view": int(h5["view"][i]),
            }
