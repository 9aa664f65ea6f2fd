"""Checkpoint files of the detector: atomic save, validated load, config hash.

A file is a ``torch.save`` dict with ``format`` = :data:`FORMAT`, ``version``, ``net``
(:class:`iceafm.models.unet3d.NetConfig` as a dict), ``model_state``, ``meta`` (pixel size,
heights, label geometry, decode settings, training config hash, metrics, ...) and, for training
checkpoints, ``train_state`` (optimiser, scheduler, AMP scaler, epoch, RNG states).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from iceafm.io.atomic import atomic_path

FORMAT = "iceafm-detector"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, foreign or of another version (one-line message
    naming the file and what was expected)."""


def config_hash(config: dict[str, Any]) -> str:
    """SHA-256 (hex, first 16 characters) of a JSON-able config, key order ignored."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` (without ``format``/``version``, which are added) atomically."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": VERSION, **payload}, tmp)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read and validate a checkpoint; raise :class:`CheckpointError` with one line otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file (expected an {FORMAT} .pt file)")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except (
        EOFError,
        RuntimeError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        ValueError,
        OSError,
        AttributeError,
        ModuleNotFoundError,
        IndexError,
        KeyError,
        TypeError,
    ) as err:
        reason = (str(err).splitlines() or [""])[0].split(". ")[0][:120]
        raise CheckpointError(
            f"{path}: not a readable torch checkpoint ({type(err).__name__}: {reason}); "
            f"expected an {FORMAT} file written by iceafm"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an {FORMAT} checkpoint (foreign file)")
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: {FORMAT} version {data.get('version')!r}, expected {VERSION}"
        )
    missing = {"net", "model_state", "meta"} - set(data)
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {sorted(missing)}")
    return data
