"""Denoising score-matching training with per-epoch atomic checkpoints, resume and EMA weights.

An epoch is ``steps_per_epoch`` optimiser steps on batches drawn (with replacement) from the
training slabs, each randomly rotated about z, mirrored and shifted in xy (a no-op for the
equivariant net, the usual augmentation for the plain baseline), and with probability
``p_condition`` its top layer held fixed (the completion task). Every random draw of epoch ``e``
comes from generators seeded by (seed, e), so a run killed at any point and resumed from its last
checkpoint reproduces the uninterrupted run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.io import read
from ema_pytorch import EMA
from tqdm import tqdm

from iceafm.diffusion.data import collate, load_structures, surface_crop, top_layer_mask
from iceafm.diffusion.score_net import build_model, count_parameters
from iceafm.diffusion.sde import NoiseSchedule, denoising_loss, trivial_loss
from iceafm.io.atomic import atomic_path, write_json_atomic

TRAIN_KEYS = ("data", "model", "noise", "train")
"""The ``diffusion`` sub-sections that shape a trained model."""


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def config_hash(section: dict) -> str:
    """Hash of the training-relevant config (a checkpoint of another config is not resumed)."""
    shaping = {k: section[k] for k in TRAIN_KEYS}
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


def augment(atoms: Atoms, rng: np.random.Generator) -> Atoms:
    """Random rotation about z, mirror (x -> -x) and xy shift of positions and cell together."""
    angle = rng.uniform(0, 2 * np.pi)
    rot = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    if rng.random() < 0.5:
        rot = rot @ np.diag([-1.0, 1.0, 1.0])
    out = atoms.copy()
    out.positions = atoms.positions @ rot.T + np.r_[rng.uniform(-5, 5, 2), 0.0]
    out.cell = np.asarray(atoms.cell) @ rot.T
    return out


def _draw_batch(structures, section, rng):
    picks = rng.integers(0, len(structures), section["train"]["batch_size"])
    batch, masks = [], []
    for k in picks:
        atoms = augment(structures[k], rng)
        if rng.random() < section["train"]["p_condition"]:
            masks.append(top_layer_mask(atoms, section["data"]["top_a"]))
        else:
            masks.append(np.zeros(len(atoms), bool))
        batch.append(atoms)
    return collate(batch, masks)


def _new_state(section: dict, device: torch.device):
    torch.manual_seed(section["train"]["seed"])
    model = build_model(section["model"]).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=section["train"]["lr"])
    ema = EMA(model, beta=section["train"]["ema_beta"], update_after_step=0, update_every=1)
    return model, optimiser, ema


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu"):
    """(EMA model in eval mode, schedule, the diffusion config section) from a checkpoint."""
    state = torch.load(path, map_location=device, weights_only=False)
    model, _, ema = _new_state(state["config"], torch.device(device))
    ema.load_state_dict(state["ema"])
    ema.ema_model.eval()
    return ema.ema_model, NoiseSchedule.from_config(state["config"]["noise"]), state["config"]


def train(
    section: dict,
    structures: list[Atoms],
    checkpoint: str | Path,
    device: str = "auto",
    validation: list[Atoms] | None = None,
    progress: bool = True,
) -> dict:
    """Train (or resume) and checkpoint after every epoch.

    Args:
        section: the ``diffusion`` config section (data, model, noise, train).
        structures: training slabs (already cropped to ``data.depth_a``).
        checkpoint: checkpoint path; an existing one with the same config hash is resumed.
        device: ``auto``, ``cpu`` or ``cuda``.
        validation: slabs for the per-epoch validation loss (EMA weights); default: training.

    Returns:
        History: per-epoch train and validation loss, the trivial (F = 0) validation loss,
        parameter count, device.
    """
    dev = resolve_device(device)
    schedule = NoiseSchedule.from_config(section["noise"])
    model, optimiser, ema = _new_state(section, dev)
    digest = config_hash(section)
    val_slab = collate(validation or structures).to(dev)
    history = {"epochs": [], "train_loss": [], "val_loss": []}
    start = 0
    path = Path(checkpoint)
    if path.exists():
        state = torch.load(path, map_location=dev, weights_only=False)
        if state["config_hash"] == digest:
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            ema.load_state_dict(state["ema"])
            history, start = state["history"], state["epoch"]
    history.update(
        trivial_val_loss=trivial_loss(val_slab, schedule),
        parameters=count_parameters(model),
        device=str(dev),
    )
    epochs = section["train"]["epochs"]
    seed = section["train"]["seed"]
    for epoch in tqdm(
        range(start, epochs),
        desc="diffusion",
        disable=not progress,
        initial=start,
        total=epochs,
        file=sys.stderr,
    ):
        rng = np.random.default_rng([seed, epoch])
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        model.train()
        losses = []
        for _ in range(section["train"]["steps_per_epoch"]):
            slab = _draw_batch(structures, section, rng).to(dev)
            loss = denoising_loss(model, slab, schedule, generator)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimiser.step()
            ema.update()
            losses.append(float(loss.detach()))
        history["epochs"].append(epoch + 1)
        history["train_loss"].append(float(np.mean(losses)))
        history["val_loss"].append(validation_loss(ema.ema_model, val_slab, schedule))
        state = {
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "ema": ema.state_dict(),
            "epoch": epoch + 1,
            "config": section,
            "config_hash": digest,
            "history": history,
        }
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
    return history


@torch.no_grad()
def validation_loss(model, slab, schedule: NoiseSchedule, draws: int = 16, seed: int = 0) -> float:
    """Mean denoising loss over ``draws`` fixed noise draws (comparable across epochs)."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    total = sum(float(denoising_loss(model, slab, schedule, generator)) for _ in range(draws))
    return total / draws


def run_training(
    section: dict,
    structure_paths: list[str],
    reference_paths: list[str],
    state_path: str | Path,
    checkpoint_path: str | Path,
    history_path: str | Path,
    device: str = "auto",
) -> dict:
    """Rule ``diffusion``: train (resuming from ``state_path``), then publish the final state as
    ``checkpoint_path`` and the history as JSON, both atomically.

    Raises:
        DiffusionDataError: an input that is not a water slab.
    """
    depth = section["data"]["depth_a"]
    structures = load_structures(structure_paths, section["data"]["families"], depth)
    reference = load_structures(reference_paths, section["data"]["families"], depth)
    history = train(section, structures, state_path, device, validation=reference)
    with atomic_path(checkpoint_path) as tmp:
        tmp.write_bytes(Path(state_path).read_bytes())
    write_json_atomic(history_path, history)
    return history


def main(argv: list[str] | None = None) -> None:
    """``python -m iceafm.diffusion.train CONFIG.json CHECKPOINT STRUCTURE...`` (config: the
    ``diffusion`` section as JSON). Used by tests to kill and resume a real training process."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("config")
    parser.add_argument("checkpoint")
    parser.add_argument("structures", nargs="+")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    section = json.loads(Path(args.config).read_text())
    structures = [surface_crop(read(p), section["data"]["depth_a"]) for p in args.structures]
    train(section, structures, args.checkpoint, args.device, progress=False)


if __name__ == "__main__":
    main()
