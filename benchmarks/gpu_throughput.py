"""GPU throughput of the ML stages: detector training (float32 and AMP), its loader, prediction,
one training epoch of the shipped model's config, and diffusion sampling, each with its
baseline in the same run.

    PYTHONPATH=src:benchmarks python benchmarks/gpu_throughput.py --inputs .gpu/ml \
        [--out PATH] [--quick]

Writes ``benchmarks/results/gpu_throughput.json`` (``--out``: that file instead), ``device`` the
CUDA device's name or ``cpu``:
- ``train_samples_per_s`` (float32) and ``train_amp_samples_per_s`` (``train.amp`` bf16
  autocast; float32 on the CPU), ``amp_speedup`` their ratio: optimiser steps
  (:func:`iceafm.models.train.train_step`) of the shipped detector's architecture on the same
  pre-loaded augmented batches from the same initial weights, after untimed warm-up steps;
  ``train_peak_gpu_mb`` / ``train_amp_peak_gpu_mb``; ``train_loss`` / ``train_amp_loss``, the
  mean loss over the timed steps (AMP must track float32);
- ``loader_samples_per_s``: the streaming loader alone (the model's batch size and worker
  count), ``loader_over_train`` = it / ``train_amp_samples_per_s`` (< 1: the loader starves
  the GPU); ``loader_samples_per_s_by_workers`` for more loader processes;
- ``predict_stacks_per_s``: ``Detector.detect`` one stack at a time (decoding included);
- ``train_epoch_seconds``: ``train_detector`` with the shipped model's stored train config, one
  epoch of ``train_epoch_samples`` (the config's ``samples_per_epoch``; ``--quick``: 2 batches),
  no validation: loader start, steps and the state file; ``retrain_shipped_estimate_s`` scales
  it to the config's epochs (validation excluded);
- ``diffusion_samples_per_s``: the equivariant score model's EMA weights, the diffusion
  benchmark's sampler (Heun, ``diffusion.STEPS`` steps, 19 NFE, batched, no projection) on its
  generation problems (test templates x ``SAMPLES_PER_TEMPLATE``);
  ``diffusion_plain_samples_per_s`` the same-size non-equivariant network, and their ratio.

Inputs (``--inputs DIR``, about 9 MB; ``--prepare DIR`` writes them): ``dataset/train.h5`` (48
entries of the bench dataset's train split behind the shipped model, 3 structures x 16 views:
its stack and label shapes, 10 x 64 x 64; virtually repeated x 8 for a full 384-sample epoch),
``dataset/test.h5`` (8 entries of its test split), ``diffusion/{equivariant,plain}.pt`` and
``diffusion/data/*-1??.extxyz`` (the diffusion benchmark's checkpoints and test templates).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from ase.io import read
from common import machine_info, write_result
from diffusion import N_TEST, SAMPLES_PER_TEMPLATE, STEPS
from structure_from_afm import (
    loaded_batches,
    predict_rate,
    repeated_split,
    synchronize,
    train_rate,
)

from iceafm.data.loader import split_info
from iceafm.data.store import SplitWriter, iter_entries
from iceafm.diffusion.data import surface_crop
from iceafm.diffusion.tasks import generation_problem, solve
from iceafm.diffusion.train import load_checkpoint as load_diffusion
from iceafm.io.atomic import write_json_atomic
from iceafm.models import PRETRAINED, load_detector
from iceafm.models.train import TrainConfig, resolve_device, train_detector

REPO = Path(__file__).resolve().parents[1]
BENCH_DATASET = REPO.parent / "bench_run" / "results" / "dataset"
DIFFUSION_WORK = Path(__file__).resolve().parent / "work" / "diffusion"
EPOCH_REPEATS = 8  # 48 entries x 8 = 384, the shipped config's samples_per_epoch


def subset_split(source: Path, target: Path, structures: int, views: int) -> None:
    """Copy the first ``views`` entries of each of the first ``structures`` structures of a
    split file (entries grouped by structure, as the dataset writes them) into ``target``."""
    info = split_info(source)
    with h5py.File(source, "r") as h5:
        attrs = {k: v for k, v in h5.attrs.items() if k != "split"}
        split = str(h5.attrs["split"])
    groups: dict[str, list[dict]] = {}
    for entry in iter_entries(source):
        if entry["sample_id"] not in groups and len(groups) == structures:
            break
        groups.setdefault(entry["sample_id"], []).append(entry)
    shapes = {"df": info.df_shape, "targets": info.targets_shape}
    with SplitWriter(target, split, info.chunk, shapes, attrs) as writer:
        for sample, entries in groups.items():
            kept = entries[:views]
            writer.append(
                sample,
                np.stack([e["df"] for e in kept]),
                np.stack([e["targets"] for e in kept]),
                [(e["atoms_xyz"], e["atoms_number"]) for e in kept],
            )


def prepare(inputs: Path, dataset: Path, diffusion_work: Path) -> None:
    """Write the benchmark's inputs (module docstring) under ``inputs``."""
    (inputs / "dataset").mkdir(parents=True, exist_ok=True)
    subset_split(dataset / "train.h5", inputs / "dataset" / "train.h5", 3, 16)
    subset_split(dataset / "test.h5", inputs / "dataset" / "test.h5", 1, 8)
    (inputs / "diffusion" / "data").mkdir(parents=True, exist_ok=True)
    for kind in ("equivariant", "plain"):
        shutil.copyfile(diffusion_work / f"{kind}.pt", inputs / "diffusion" / f"{kind}.pt")
    for path in diffusion_templates(diffusion_work / "data"):
        shutil.copyfile(path, inputs / "diffusion" / "data" / path.name)


def diffusion_templates(folder: Path) -> list[Path]:
    """The diffusion benchmark's held-out generation templates (``N_TEST`` per kind)."""
    return [
        folder / f"{kind}-{seed:03d}.extxyz"
        for kind, n in N_TEST.items()
        for seed in range(100, 100 + n)
    ]


def diffusion_rate(
    checkpoint: Path, templates: list[Path], per_template: int, device: torch.device
) -> tuple[float, int, int]:
    """(samples per second, NFE per sample, samples) of batched Heun sampling (``STEPS``
    steps, no projection) from the checkpoint's EMA weights, after an untimed 2-step
    warm-up on the same problems."""
    model, schedule, section = load_diffusion(checkpoint, device)
    depth_a = section["data"]["depth_a"]
    problems = [
        generation_problem(surface_crop(read(path), depth_a), depth_a)
        for path in templates
        for _ in range(per_template)
    ]
    solve(model, schedule, problems, depth_a, 2, "heun", 1, device)
    synchronize(device)
    t0 = time.perf_counter()
    samples, nfe = solve(model, schedule, problems, depth_a, STEPS, "heun", 0, device)
    synchronize(device)
    return len(samples) / (time.perf_counter() - t0), nfe, len(samples)


def peak_gpu_mb(device: torch.device) -> float | None:
    """Peak CUDA memory allocated since the last reset (MB); None on the CPU."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def detector_keys(
    inputs: Path, model: Path, device: torch.device, n_batches: int, workers: list[int],
    epoch_samples: int | None, work: Path,
) -> dict:  # fmt: skip
    """The detector's keys of the record (module docstring)."""
    detector = load_detector(model, device=str(device))
    config = TrainConfig.from_config(json.loads(detector.info["train_config_json"]))
    record: dict = {"model": str(model), "train_config": config.to_dict()}
    train_split = work / "train_x8.h5"
    repeated_split((inputs / "dataset" / "train.h5").resolve(), train_split, EPOCH_REPEATS)
    info = split_info(train_split)
    batches, loader_rate = loaded_batches(train_split, config, n_batches)
    rates, losses = {}, {}
    for amp in ("off", config.amp if config.amp != "off" else "bf16"):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        run_config = dataclasses.replace(config, amp=amp)
        rates[amp], losses[amp] = train_rate(batches, info, run_config, device, warmup=3)
        record[f"train_{'amp_' if amp != 'off' else ''}peak_gpu_mb"] = peak_gpu_mb(device)
    amp = next(a for a in rates if a != "off")
    record.update(
        train_samples_per_s=rates["off"],
        train_amp_samples_per_s=rates[amp],
        train_amp_mode=amp,
        amp_speedup=rates[amp] / rates["off"],
        train_loss=losses["off"],
        train_amp_loss=losses[amp],
        train_batches_timed=len(batches),
        batch_size=config.batch_size,
        loader_samples_per_s=loader_rate,
        loader_workers=config.workers,
        loader_over_train=loader_rate / rates[amp],
    )
    record["loader_samples_per_s_by_workers"] = {
        str(n): loaded_batches(train_split, config, n_batches, workers=n)[1]
        for n in workers
        if n != config.workers
    } | {str(config.workers): loader_rate}
    predict_rate(detector, inputs / "dataset" / "test.h5", 2)  # warm-up
    record["predict_stacks_per_s"] = predict_rate(detector, inputs / "dataset" / "test.h5", 8)
    samples = epoch_samples or config.samples_per_epoch or info.n
    epoch_config = dataclasses.replace(
        config, epochs=1, samples_per_epoch=samples, device=str(device)
    )
    t0 = time.perf_counter()
    train_detector(
        epoch_config, train_split, None, work / "epoch.pt", work / "epoch.csv", progress=False
    )
    seconds = time.perf_counter() - t0
    total = config.epochs * (config.samples_per_epoch or info.n)
    record.update(
        train_epoch_seconds=seconds,
        train_epoch_samples=samples,
        train_epoch_steps=-(-samples // config.batch_size),
        retrain_shipped_estimate_s=seconds * total / samples,
        retrain_shipped_samples=total,
    )
    return record


def save(record: dict, out: Path | None) -> None:
    """Write the record atomically to ``out`` (None: ``benchmarks/results/gpu_throughput.json``)."""
    if out:
        write_json_atomic(out, record)
    else:
        write_result("gpu_throughput", record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=Path, default=REPO / ".gpu" / "ml")
    parser.add_argument("--model", type=Path, default=PRETRAINED)
    parser.add_argument("--out", type=Path, help="result file (default: benchmarks/results/)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--quick", action="store_true", help="few batches, short epoch (CPU)")
    parser.add_argument("--prepare", action="store_true",
                        help="write the inputs under --inputs and stop")  # fmt: skip
    parser.add_argument("--source-dataset", type=Path, default=BENCH_DATASET)
    parser.add_argument("--diffusion-work", type=Path, default=DIFFUSION_WORK)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.inputs, args.source_dataset, args.diffusion_work)
        return
    t_start = time.perf_counter()
    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    record = machine_info(("torch", "e3nn", "h5py"))
    record["device"] = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    record["inputs"] = str(args.inputs)
    record["quick"] = args.quick
    n_batches, workers = (3, [1]) if args.quick else (48, [1, 4, 8])
    with tempfile.TemporaryDirectory() as tmp:
        record.update(
            detector_keys(args.inputs, args.model, device, n_batches, workers,
                          16 if args.quick else None, Path(tmp))
        )  # fmt: skip
    save(record, args.out)  # the detector's keys survive a failure in the diffusion part
    templates = diffusion_templates(args.inputs / "diffusion" / "data")
    per_template = 1 if args.quick else SAMPLES_PER_TEMPLATE
    if args.quick:
        templates = templates[:: len(templates) - 1]  # one ice, one premelt
    rates = {}
    for kind in ("equivariant", "plain"):
        ckpt = args.inputs / "diffusion" / f"{kind}.pt"
        rates[kind], nfe, n = diffusion_rate(ckpt, templates, per_template, device)
    record.update(
        diffusion_samples_per_s=rates["equivariant"],
        diffusion_plain_samples_per_s=rates["plain"],
        diffusion_equivariant_over_plain=rates["equivariant"] / rates["plain"],
        diffusion_nfe=nfe,
        diffusion_samples=n,
        diffusion_sampler=f"heun, {STEPS} steps, batched, no projection",
    )
    record["total_seconds"] = time.perf_counter() - t_start
    print(json.dumps({k: v for k, v in record.items() if k != "train_config"}, indent=1))
    save(record, args.out)


if __name__ == "__main__":
    main()
