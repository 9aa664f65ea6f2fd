"""Training loop of the detector: resumable, data parallel, deterministic on CPU for a seed.

``train_detector`` trains on ``train.h5`` (streamed, :mod:`iceafm.data.loader`), scores the
validation split each epoch and, after every epoch, writes the full state (weights, optimiser,
scheduler, AMP scaler, epoch, RNG states, config hash, history) atomically to ``state_path``.
A run that finds a state with the same config hash resumes after its last finished epoch (a
different hash raises :class:`TrainConfigError`); the result does not depend on where a run was
killed. Losses: confidence BCE (``loss.pos_weight`` on atoms) + ``loss.offset_weight`` x MSE of
the fractional offsets on the voxels that hold an atom.

Data parallel: started by ``torchrun --nproc-per-node N`` (or any launcher that sets ``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), each process takes an equal share of every
epoch; NCCL on CUDA, gloo on CPU. Mixed precision on CUDA (``train.amp``): bfloat16 autocast
(the default; no gradient scaling needed) or float16 autocast with gradient scaling; on the CPU
the same run in float32 (bit-identical to ``amp: false``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from iceafm.data.loader import (
    LATE_AUGMENTS,
    AugmentConfig,
    DatasetFileError,
    StackStream,
    random_slices,
    split_info,
)
from iceafm.io.atomic import atomic_path, write_text_atomic
from iceafm.models.assemble import HOH_ANGLE_DEG, OH_WINDOW_A
from iceafm.models.checkpoint import config_hash, load_checkpoint, save_checkpoint
from iceafm.models.decode import per_species
from iceafm.models.detector import Detector, DetectorMeta, water_settings
from iceafm.models.evaluate import evaluate_split
from iceafm.models.unet3d import DetectorNet, NetConfig
from iceafm.provenance import inputs_key

if TYPE_CHECKING:
    from iceafm.adapt.adversarial import Adversary

#: Keys that change how, not what, a run computes: left out of the config hash.
OPERATIONAL_KEYS = ("device", "workers")
#: Water-assembly keys of the decode (:mod:`iceafm.models.assemble`): left out of the hash while
#: at their defaults, so states saved before they existed stay valid.
WATER_KEYS = ("assemble_waters", "water_oh_window_a", "water_hoh_angle_deg", "water_rigid")
#: ``train.amp`` modes -> autocast dtype on CUDA (``off``: float32).
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
#: ``train.amp`` was a boolean (float16 when true) before bfloat16: the default enters the hash
#: as ``true`` and ``off`` as ``false``, so states saved before stay valid.
_AMP_HASH = {"bf16": True, "off": False}


class TrainConfigError(ValueError):
    """A ``train`` config value is invalid, or a saved state belongs to another config."""


@dataclass(frozen=True)
class TrainConfig:
    """The ``train`` config section (every key: config/README.md)."""

    name: str = "detector"
    width: int = 16
    depth: int = 3
    epochs: int = 30
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    seed: int = 0
    device: str = "auto"
    workers: int = 1
    amp: str = "bf16"
    samples_per_epoch: int | None = None
    val_samples: int = 256
    pos_weight: float = 2.0
    offset_weight: float = 1.0
    threshold: float = 0.5
    nms_radius_a: float | dict[str, float] = 1.0
    assemble_waters: bool = True
    water_oh_window_a: tuple[float, float] = OH_WINDOW_A
    water_hoh_angle_deg: tuple[float, float] = HOH_ANGLE_DEG
    water_rigid: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @classmethod
    def from_config(cls, train: dict[str, Any]) -> TrainConfig:
        """Validate the ``train`` config section; one-line errors name the key."""
        known = {f.name for f in fields(cls)}
        unknown = set(train) - known
        if unknown:
            raise TrainConfigError(f"config train: unknown key(s) {sorted(unknown)}")
        values = dict(train)
        aug = dict(values.pop("augment", {}) or {})
        aug_known = {f.name for f in fields(AugmentConfig)}
        if set(aug) - aug_known:
            raise TrainConfigError(
                f"config train.augment: unknown key(s) {sorted(set(aug) - aug_known)}"
            )
        if "nms_radius_a" in values:
            try:
                values["nms_radius_a"] = per_species(
                    values["nms_radius_a"], "config train.nms_radius_a"
                )
            except ValueError as err:
                raise TrainConfigError(str(err)) from None
        try:
            water = water_settings(values, "config train.")
        except ValueError as err:
            raise TrainConfigError(str(err)) from None
        values.update(assemble_waters=water.enabled, water_oh_window_a=water.oh_window_a,
                      water_hoh_angle_deg=water.hoh_angle_deg, water_rigid=water.rigid)  # fmt: skip
        amp = values.get("amp", "bf16")
        if amp is True or amp is False:
            values["amp"] = "bf16" if amp else "off"
        elif amp not in (*AMP_DTYPES, "off"):
            raise TrainConfigError(
                f"config train.amp: expected true, false, bf16, fp16 or off, got {amp!r}"
            )
        config = cls(**values, augment=AugmentConfig(**aug))
        for key in ("width", "depth", "epochs", "batch_size", "lr", "val_samples"):
            if not getattr(config, key) > 0:
                raise TrainConfigError(
                    f"config train.{key}: expected > 0, got {getattr(config, key)!r}"
                )
        if config.schedule not in ("cosine", "constant"):
            raise TrainConfigError(
                f"config train.schedule: expected 'cosine' or 'constant', got {config.schedule!r}"
            )
        if config.device not in ("auto", "cpu", "cuda") and not config.device.startswith("cuda:"):
            raise TrainConfigError(
                f"config train.device: expected auto, cpu, cuda or cuda:N, got {config.device!r}"
            )
        return config

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return asdict(self)

    def hash(self) -> str:
        """Hash of everything but :data:`OPERATIONAL_KEYS` (and late augmentations while off,
        :data:`WATER_KEYS` while at their defaults; ``amp`` as before bfloat16)."""
        default = TrainConfig()
        values = {
            k: v
            for k, v in self.to_dict().items()
            if k not in OPERATIONAL_KEYS and not (k in WATER_KEYS and v == getattr(default, k))
        }
        values["amp"] = _AMP_HASH.get(values["amp"], values["amp"])
        values["augment"] = {
            k: v for k, v in values["augment"].items() if v or k not in LATE_AUGMENTS
        }
        return config_hash(values)


def resolve_device(device: str) -> torch.device:
    """``auto`` -> the local CUDA device if there is one, else the CPU."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    return torch.device(device)


def amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``config.amp`` on ``device``; None (float32) off CUDA or when off."""
    return AMP_DTYPES.get(config.amp) if device.type == "cuda" else None


def train_step(
    model: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    df: torch.Tensor,
    targets: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator,
    dtype: torch.dtype | None,
    adversary: Adversary | None = None,
) -> tuple[torch.Tensor, float | None]:
    """One optimiser step on a loader batch (df [B, n_h, ny, nx] Hz, targets [B, S, 4, nz, ny,
    nx]): random slice runs, forward under autocast in ``dtype`` (None: float32) on the model's
    device, loss in float32, (scaled) backward and step. With ``adversary``, as many real crops
    go through the same forward pass and its reversed domain loss, times its weight, joins the
    detection loss (:mod:`iceafm.adapt.adversarial`). Returns the detached detection loss and
    the domain head's accuracy (None without ``adversary``)."""
    device = next(model.parameters()).device
    df = random_slices(df, config.augment.slices, config.augment.slices_min, generator)
    n = len(df)
    if adversary is not None:
        df = df[:, : adversary.max_slices]
        df = torch.cat([df, adversary.real_batch(n, df.shape[1], generator)])
    df, targets = df.to(device, non_blocking=True), targets.to(device, non_blocking=True)
    features: list[torch.Tensor] = []
    net = getattr(model, "module", model)
    hook = None
    if adversary is not None:
        hook = net.bottleneck.register_forward_hook(
            lambda _m, _i, out: features.append(out.float().mean((2, 3)))
        )
    try:
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            out = model(df)
    finally:
        if hook is not None:
            hook.remove()
    loss = detection_loss(out[:n], targets, config.pos_weight, config.offset_weight)
    total, accuracy = loss, None
    if adversary is not None:
        domain, accuracy = adversary.domain_loss(features[0][:n], features[0][n:])
        total = loss + adversary.weight * domain
    optimiser.zero_grad(set_to_none=True)
    scaler.scale(total).backward()
    scaler.step(optimiser)
    scaler.update()
    return loss.detach(), accuracy


def detection_loss(
    out: torch.Tensor, targets: torch.Tensor, pos_weight: float, offset_weight: float
) -> torch.Tensor:
    """Confidence BCE + masked offset MSE; ``out`` raw [B, S, 4, nz, ny, nx], ``targets`` same."""
    conf = targets[:, :, 0]
    bce = F.binary_cross_entropy_with_logits(
        out[:, :, 0].float(), conf, pos_weight=torch.tensor(pos_weight, device=out.device)
    )
    err = (torch.sigmoid(out[:, :, 1:].float()) - targets[:, :, 1:]).square().sum(dim=2)
    mse = (err * conf).sum() / conf.sum().clamp(min=1.0)
    return bce + offset_weight * mse


def _lr_lambda(schedule: str, warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def _rng_states() -> dict[str, Any]:
    # numpy / python RNGs are never used unseeded here: the loader and the slice draws derive
    # their generators from (seed, epoch, position), so torch's own states are all there is
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"].cpu())
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in states["cuda"]])


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _write_csv(path: Path, history: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]) if history else ["epoch"])
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(path, buffer.getvalue())


def train_detector(
    config: TrainConfig,
    train_path: str | os.PathLike,
    val_path: str | os.PathLike | None,
    state_path: str | os.PathLike,
    log_csv: str | os.PathLike,
    progress: bool = True,
    init_state: dict[str, torch.Tensor] | None = None,
    adversary: Adversary | None = None,
) -> Detector:
    """Train (or resume) and return the trained detector; see the module docstring. The state
    file doubles as a detector checkpoint (:func:`iceafm.models.load_detector` reads it).
    ``init_state``: network weights to start from (fine-tuning; a saved state still wins).
    ``adversary``: domain-adversarial training (:func:`train_step`); its head trains with the
    network and is saved in the state, and the log gains ``domain_accuracy``."""
    rank, world = _distributed()
    device = resolve_device(config.device)
    info = split_info(train_path)
    meta = DetectorMeta(
        pixel_size_a=info.pixel_size_a,
        heights_a=list(info.heights_a),
        geometry=info.geometry,
        depth_a=info.depth_a,
        threshold=config.threshold,
        nms_radius_a=config.nms_radius_a,
        water=water_settings(config.to_dict()),
        info={
            "name": config.name,
            "config_hash": config.hash(),
            "dataset": str(train_path),
            "train_config_json": json.dumps(config.to_dict(), sort_keys=True),
        },
    )
    torch.manual_seed(config.seed)
    net_config = NetConfig(
        width=config.width,
        depth=config.depth,
        voxel_xy_px=info.geometry.voxel_xy_px,
        n_species=info.targets_shape[0],
        n_z=info.targets_shape[2],
    )
    net = DetectorNet(net_config).to(device)
    if init_state is not None:
        net.load_state_dict(init_state)
    model = (
        torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None
        )
        if world > 1
        else net
    )
    stream = StackStream(
        train_path,
        config.batch_size,
        seed=config.seed,
        augment=config.augment,
        rank=rank,
        world=world,
        max_samples=config.samples_per_epoch,
    )
    steps_per_epoch = stream.n_batches()
    if adversary is not None:
        adversary.to(device)
    params = [*net.parameters(), *(adversary.parameters() if adversary is not None else ())]
    optimiser = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        _lr_lambda(
            config.schedule,
            max(1, int(config.warmup_epochs * steps_per_epoch)),
            config.epochs * steps_per_epoch,
        ),
    )
    dtype = amp_dtype(config, device)
    # bfloat16 has float32's exponent range: only float16 needs gradient scaling
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    state_path, log_csv = Path(state_path), Path(log_csv)
    if state_path.exists():
        state = load_checkpoint(state_path, map_location=device)
        saved_hash = state["meta"]["info"].get("config_hash")
        if saved_hash != config.hash():
            raise TrainConfigError(
                f"{state_path}: saved state has config hash {saved_hash}, this run "
                f"{config.hash()}; delete the file to start over"
            )
        net.load_state_dict(state["model_state"])
        ts = state["train_state"]
        optimiser.load_state_dict(ts["optimiser"])
        scheduler.load_state_dict(ts["scheduler"])
        if ts["scaler"]:  # empty when saved without float16 scaling (CPU, bf16)
            scaler.load_state_dict(ts["scaler"])
        _set_rng_states(ts["rng"])
        if adversary is not None:
            adversary.load_state_dict(ts["adversary"])
        history = ts["history"]
        start_epoch = ts["epoch"] + 1
    loader = DataLoader(
        stream,
        batch_size=config.batch_size,
        num_workers=config.workers,
        persistent_workers=False,
        pin_memory=device.type == "cuda",
    )
    detector = Detector(net, meta, device)
    for epoch in range(start_epoch, config.epochs):
        stream.set_epoch(epoch)
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
        model.train()
        t0, loss_sum, n_seen, accuracies = time.perf_counter(), 0.0, 0, []
        bar = tqdm(
            loader,
            total=steps_per_epoch,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            disable=not progress or rank != 0,
            mininterval=5.0,
            file=sys.stderr,
        )
        for df, targets in bar:
            loss, accuracy = train_step(
                model, optimiser, scaler, df, targets, config, generator, dtype, adversary
            )
            scheduler.step()
            if accuracy is not None:
                accuracies.append(accuracy)
            loss_sum += float(loss) * len(df)
            n_seen += len(df)
            bar.set_postfix(loss=f"{loss_sum / n_seen:.4f}")
        seconds = time.perf_counter() - t0
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / max(n_seen, 1),
            "lr": scheduler.get_last_lr()[0],
            "seconds": round(seconds, 2),
            "samples_per_s": round(n_seen * world / seconds, 3),
        }
        if accuracies:
            row["domain_accuracy"] = sum(accuracies) / len(accuracies)
        if rank == 0:
            net.eval()
            if val_path is not None and Path(val_path).exists():
                result = evaluate_split(detector, val_path, max_stacks=config.val_samples)
                for species in ("O", "H"):
                    row[f"val_{species}_f1"] = result["cutoff_1A"][species]["overall"]["f1"]
            net.train()
            history.append(row)
            meta.info["epochs_done"] = epoch + 1
            save_checkpoint(
                state_path,
                {
                    "net": net_config.to_dict(),
                    "model_state": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                    "meta": meta.to_dict(),
                    "train_state": {
                        "optimiser": optimiser.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "scaler": scaler.state_dict(),
                        "epoch": epoch,
                        "rng": _rng_states(),
                        "history": history,
                        "config": config.to_dict(),
                        **({"adversary": adversary.state_dict()} if adversary is not None else {}),
                    },
                },
            )
            _write_csv(log_csv, history)
        if world > 1:
            dist.barrier()
    if rank == 0 and start_epoch >= config.epochs:
        _write_csv(log_csv, history)  # a finished state: the log of the run it holds
    net.eval()
    return detector


def run_training(
    train: dict[str, Any],
    train_path: str | os.PathLike,
    val_path: str | os.PathLike | None,
    state_dir: str | os.PathLike,
    log_csv: str | os.PathLike,
    checkpoint_path: str | os.PathLike,
    threads: int = 1,
) -> None:
    """Rule ``train``: validate the ``train`` config, train (resuming from
    ``state_dir/<config hash>-<inputs key>.pt``, so an edited config or a remade dataset split
    starts afresh and a killed job on the same files continues;
    :func:`iceafm.provenance.inputs_key`) and copy the final state to ``checkpoint_path``
    atomically. With several visible
    GPUs (device auto/cuda) the training runs under ``torchrun``, one process per GPU."""
    config = TrainConfig.from_config(train)
    splits = [p for p in (train_path, val_path) if p and Path(p).exists()]
    state_path = Path(state_dir) / f"{config.hash()}-{inputs_key(splits)}.pt"
    torch.set_num_threads(max(1, threads))
    n_gpus = torch.cuda.device_count() if config.device in ("auto", "cuda") else 0
    if n_gpus > 1 and "WORLD_SIZE" not in os.environ:
        subprocess.run(
            [
                sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc-per-node={n_gpus}", "-m", "iceafm.models.train",
                "--config-json", json.dumps(train), "--train", str(train_path),
                "--val", str(val_path or ""), "--state", str(state_path),
                "--log-csv", str(log_csv),
            ],
            check=True,
        )  # fmt: skip
    else:
        train_detector(config, train_path, val_path, state_path, log_csv)
    with atomic_path(checkpoint_path) as tmp:
        shutil.copyfile(state_path, tmp)


def main(argv: list[str] | None = None) -> None:
    """``python -m iceafm.models.train`` (under torchrun for data parallelism)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-json", required=True, help="the train config section, JSON")
    parser.add_argument("--train", required=True, help="train split (HDF5)")
    parser.add_argument("--val", default="", help="validation split (HDF5), optional")
    parser.add_argument("--state", required=True, help="resumable state file")
    parser.add_argument("--log-csv", required=True, help="per-epoch CSV log")
    args = parser.parse_args(argv)
    try:
        config = TrainConfig.from_config(json.loads(args.config_json))
    except (TrainConfigError, TypeError, json.JSONDecodeError) as err:
        raise SystemExit(f"error: {err}") from None
    try:
        train_detector(config, args.train, args.val or None, args.state, args.log_csv)
    except DatasetFileError as err:  # truncated or foreign split file: one line, no traceback
        raise SystemExit(f"error: {err}") from None
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
