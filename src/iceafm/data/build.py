"""Assemble the split files and the exclusion manifest from per-sample AFM and label files."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from iceafm.data.splits import SPLITS, split_samples
from iceafm.data.store import SplitWriter
from iceafm.io.atomic import write_json_atomic
from iceafm.io.npz import open_npz


class DatasetInputError(ValueError):
    """An AFM or label file is inconsistent with its partner or with the campaign's settings."""


@dataclass(frozen=True)
class DatasetParams:
    """``dataset`` config: split ``fractions`` (train/val/test), split ``seed``, ``shard_size``
    (entries per HDF5 chunk and per write)."""

    fractions: Mapping[str, float]
    seed: int = 0
    shard_size: int = 8

    @classmethod
    def from_config(cls, dataset: dict[str, Any]) -> DatasetParams:
        """Validate the ``dataset`` config section."""
        params = cls(
            fractions=dict(dataset.get("fractions", {"train": 0.8, "val": 0.1, "test": 0.1})),
            seed=int(dataset.get("seed", 0)),
            shard_size=int(dataset.get("shard_size", 8)),
        )
        if params.shard_size < 1:
            raise DatasetInputError(
                f"config dataset.shard_size: expected >= 1, got {params.shard_size}"
            )
        return params


def _check_pair(sample: str, afm: Any, labels: Any, afm_path: Path, label_path: Path) -> None:
    for key in ("view_center_a", "view_rotation_deg"):
        if not np.allclose(afm[key], labels[key], atol=1e-6):
            raise DatasetInputError(
                f"{sample}: {key} differs between {afm_path} and {label_path} (stale file?)"
            )


def build_dataset(
    samples: Sequence[str],
    afm_paths: Sequence[str | os.PathLike],
    label_paths: Sequence[str | os.PathLike],
    split_paths: Mapping[str, str | os.PathLike],
    manifest_path: str | os.PathLike,
    params: DatasetParams,
) -> dict[str, Any]:
    """Write one HDF5 file per split and a JSON manifest; return the manifest.

    Samples whose AFM npz says ``failed`` are excluded and listed with their reason. The split
    is drawn over the remaining structures. Only one structure's arrays are held at a time
    (plus up to ``shard_size`` buffered entries).
    """
    afm_by_sample = dict(zip(samples, map(Path, afm_paths), strict=True))
    labels_by_sample = dict(zip(samples, map(Path, label_paths), strict=True))
    excluded, valid = {}, []
    entry_shapes, attrs = None, None
    for sample in samples:
        with open_npz(afm_by_sample[sample]) as afm:
            if bool(afm["failed"]):
                excluded[sample] = str(afm["reason"])
                continue
            valid.append(sample)
            if entry_shapes is None:
                with open_npz(labels_by_sample[sample]) as labels:
                    entry_shapes = {
                        "df": afm["df"].shape[1:],
                        "targets": labels["targets"].shape[1:],
                    }
                    attrs = {
                        "heights_a": afm["heights_a"],
                        "pixel_size_a": float(afm["pixel_size_a"]),
                        "voxel_size_a": labels["voxel_size_a"],
                        "species": [str(s) for s in labels["species"]],
                        "afm_settings_json": str(afm["settings_json"]),
                        "labels_settings_json": str(labels["settings_json"]),
                    }
    splits = split_samples(valid, params.fractions, params.seed)
    for split in SPLITS:
        with SplitWriter(
            split_paths[split], split, params.shard_size, entry_shapes or {}, attrs or {}
        ) as writer:
            for sample in splits[split]:
                with (
                    open_npz(afm_by_sample[sample]) as afm,
                    open_npz(labels_by_sample[sample]) as lab,
                ):
                    _check_pair(sample, afm, lab, afm_by_sample[sample], labels_by_sample[sample])
                    offsets = lab["atoms_offsets"]
                    atoms = [
                        (lab["atoms_xyz"][a:b], lab["atoms_number"][a:b])
                        for a, b in zip(offsets[:-1], offsets[1:], strict=True)
                    ]
                    writer.append(sample, afm["df"], lab["targets"], atoms)
    manifest = {
        "splits": splits,
        "excluded": [{"sample": s, "reason": r} for s, r in sorted(excluded.items())],
        "n_included": len(valid),
        "n_excluded": len(excluded),
        "fractions": dict(params.fractions),
        "seed": params.seed,
    }
    write_json_atomic(manifest_path, manifest)
    return manifest
