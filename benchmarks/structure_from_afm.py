"""Structure-from-AFM detector (issue 8): accuracy on the test split, throughput and memory.

    .venv/bin/python benchmarks/structure_from_afm.py --dataset /path/to/results/dataset \
        [--model src/iceafm/models/pretrained/detector.pt] [--baseline-model OTHER.pt]

Writes ``benchmarks/results/structure_from_afm.json``:
- accuracy of the model on ``test.h5`` (AmorAFM's protocol made exact, iceafm.metrics.detection):
  ``O.f1_0_1.5``, ``O.f1_1.5_3.0``, ``H.*``, ``O.precision``, ``O.recall``, ``success_rate``,
  ``*.f1_0_1.5_at_0.35A``, ``n_test_stacks``;
- ``train_samples_per_s``: optimiser steps of the model's own architecture on augmented batches;
  ``loader_samples_per_s``: the streaming loader alone (same augmentations, the model's batch
  size and worker count), its baseline in the same run;
- ``predict_stacks_per_s``: ``Detector.detect`` one stack at a time (decoding included);
- ``train_peak_rss_mb_1x`` / ``_4x``: peak RSS (process + loader workers) of one training epoch
  over ``train.h5`` and over an HDF5 file that references the same data 4 times (virtual
  datasets), each in a fresh subprocess; a narrow network (width 4) keeps the 4x epoch short,
  so the numbers measure the data pipeline's memory, which must not grow with the dataset;
- ``amorafm_agreement_o_f1``, ``amorafm_shift_a``: O F1 at 1.0 A against AmorAFM's published
  prediction on the real premelting surface, after shift registration
  (iceafm.metrics.agreement, iceafm.predict), and ``*_chance``: the same for the prediction's O
  moved to random positions (same count, none within 2.4 A of another, the shipped O NMS
  radius; mean of 5 draws);
- ``real_n_o``, ``real_energy_distance_d_oo`` / ``_hbond`` (and ``*_surface``): O found on each
  shared real stack and the label-free energy distances of the predictions against
  benchmarks/domain_adaptation.py's headline reference (pooled; premelting surface alone);
- ``baseline`` (``--baseline-model``): the accuracy, agreement and real-image keys of another
  detector on the same test split and images, in the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from common import machine_info, write_result

from iceafm.data.loader import SplitInfo, StackStream, split_info
from iceafm.models import PRETRAINED, load_detector
from iceafm.models.evaluate import evaluate_split
from iceafm.models.train import TrainConfig, amp_dtype, train_step
from iceafm.models.unet3d import DetectorNet, NetConfig

REPO = Path(__file__).resolve().parents[1]
SURFACE = REPO.parent / "shared" / "data" / "experimental" / "amorafm_ice_surface"

_RSS_CHILD = """
import json, resource, sys, torch
torch.set_num_threads(1)
from iceafm.models.train import TrainConfig, train_detector
config = TrainConfig.from_config(json.loads(sys.argv[1]))
train_detector(config, sys.argv[2], None, sys.argv[3], sys.argv[4], progress=False)
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"peak_rss_mb": (own + workers) / 1024}))
"""


def repeated_split(source: Path, target: Path, times: int) -> None:
    """An HDF5 split that references ``source``'s entries ``times`` times (virtual datasets; no
    data copied), with the atom offsets rebuilt."""
    with h5py.File(source, "r") as src, h5py.File(target, "w") as out:
        for key, value in src.attrs.items():
            out.attrs[key] = value
        for name in ("df", "targets", "atoms_xyz", "atoms_number", "sample_id", "view"):
            ds = src[name]
            layout = h5py.VirtualLayout((times * ds.shape[0], *ds.shape[1:]), dtype=ds.dtype)
            vsource = h5py.VirtualSource(ds)
            for k in range(times):
                layout[k * ds.shape[0] : (k + 1) * ds.shape[0]] = vsource
            out.create_virtual_dataset(name, layout)
        offsets = src["atoms_offsets"][:]
        n_atoms = offsets[-1]
        out["atoms_offsets"] = np.concatenate(
            [offsets[:1]] + [offsets[1:] + k * n_atoms for k in range(times)]
        )


def peak_rss_mb(split: Path, config: dict, work: Path) -> float:
    """Peak RSS (MB) of one training epoch over ``split`` in a fresh subprocess."""
    tag = split.stem
    proc = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, json.dumps(config), str(split),
         str(work / f"{tag}.pt"), str(work / f"{tag}.csv")],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["peak_rss_mb"])


def loaded_batches(
    train_split: Path, config: TrainConfig, n_batches: int, workers: int | None = None
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], float]:
    """The first ``n_batches`` augmented batches of the split's streaming loader (the model's
    batch size; ``workers`` loader processes, None: the model's) and its samples per second."""
    stream = StackStream(train_split, config.batch_size, seed=0, augment=config.augment)
    loader = torch.utils.data.DataLoader(
        stream,
        batch_size=config.batch_size,
        num_workers=config.workers if workers is None else workers,
    )
    t0, n_loaded, batches = time.perf_counter(), 0, []
    for k, (df, targets) in enumerate(loader):
        n_loaded += len(df)
        batches.append((df, targets))
        if k + 1 == n_batches:
            break
    return batches, n_loaded / (time.perf_counter() - t0)


def train_rate(
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    info: SplitInfo,
    config: TrainConfig,
    device: torch.device | None = None,
    warmup: int = 0,
) -> tuple[float, float]:
    """(samples per second, mean loss) of optimiser steps
    (:func:`iceafm.models.train.train_step`, the model's architecture freshly initialised,
    ``config.amp`` on ``device``) over ``batches``,
    after ``warmup`` untimed steps on the first batches (the loss read back every step, as
    the training loop does). ``device`` None: the CPU."""
    device = device or torch.device("cpu")
    torch.manual_seed(0)
    net = DetectorNet(
        NetConfig(config.width, config.depth, info.geometry.voxel_xy_px, info.targets_shape[0],
                  info.targets_shape[2])
    ).to(device)  # fmt: skip
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr)
    dtype = amp_dtype(config, device)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    generator = torch.Generator().manual_seed(0)
    for df, targets in batches[:warmup]:
        train_step(net, optimiser, scaler, df, targets, config, generator, dtype)
    synchronize(device)
    t0, n_trained, loss_sum = time.perf_counter(), 0, 0.0
    for df, targets in batches:
        loss, _ = train_step(net, optimiser, scaler, df, targets, config, generator, dtype)
        loss_sum += float(loss)
        n_trained += len(df)
    synchronize(device)
    return n_trained / (time.perf_counter() - t0), loss_sum / len(batches)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued kernels (CUDA), so a timer sees the work done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(train_split: Path, config: TrainConfig, n_batches: int) -> tuple[float, float]:
    """(train_samples_per_s, loader_samples_per_s) on ``n_batches`` batches of the split (CPU)."""
    batches, loader_rate = loaded_batches(train_split, config, n_batches)
    return train_rate(batches, split_info(train_split), config)[0], loader_rate


def predict_rate(detector, test_split: Path, n: int) -> float:
    """Stacks per second through ``detector.detect`` (one at a time)."""
    from iceafm.data.loader import iter_split

    stacks = [e["df"] for e, _ in zip(iter_split(test_split), range(n), strict=False)]
    t0 = time.perf_counter()
    for df in stacks:
        detector.detect(df)
    return len(stacks) / (time.perf_counter() - t0)


#: The test-split keys that other benchmarks report per split (O and H F1 per depth band,
#: precision, recall).
SPLIT_KEYS = ("O.f1_0_1.5", "O.f1_1.5_3.0", "O.precision", "O.recall",
              "H.f1_0_1.5", "H.f1_1.5_3.0", "H.precision", "H.recall")  # fmt: skip


def amorafm_keys(detector) -> dict:
    """Agreement with AmorAFM's published prediction on the real premelting surface, with its
    chance level, through iceafm.predict and iceafm.metrics.agreement."""
    from iceafm.io.stacks import read_stacks, with_scan_size
    from iceafm.metrics.agreement import amorafm_agreement
    from iceafm.predict import predict_stack

    stack = with_scan_size(read_stacks(SURFACE)[0])
    prediction = predict_stack(detector, stack, "benchmark")
    result = amorafm_agreement(prediction, SURFACE / "amorafm_prediction.xyz", stack=stack)
    return {k: result[k] for k in result if k.startswith("amorafm_") or k.startswith("n_")}


def real_image_keys(detector) -> dict:
    """The detector on every shared real stack, read as the demo config's predict_real section
    reads them (benchmarks/domain_adaptation.py's reader): O found per stack (``real_n_o``), and
    the label-free energy distances of the predictions against that benchmark's headline
    reference (the top 3 A of the held-out premelting-surface MD): pooled over every stack
    (``real_energy_distance_*``) and on the premelting surface alone (``*_surface``)."""
    from domain_adaptation import (
        IMAGES,
        PREDICT_REAL,
        SURFACE_STACKS,
        label_free_values,
        thermal_reference,
    )

    from iceafm.io.stacks import stack_files
    from iceafm.predict import configured_stack, predict_stack

    reference = thermal_reference(float(detector.meta.depth_a))
    found, structures, surface = {}, [], []
    for entry in PREDICT_REAL["inputs"]:
        for name in stack_files(IMAGES / entry):
            p = predict_stack(detector, configured_stack(PREDICT_REAL, IMAGES, name), "benchmark")
            structures.append((p.symbols, p.positions_a))
            if name in SURFACE_STACKS:
                surface.append(structures[-1])
            found[name] = p.symbols.count("O")
    pooled, alone = label_free_values(structures, reference), label_free_values(surface, reference)
    keys = ("energy_distance_d_oo", "energy_distance_hbond")
    return {
        "real_n_o": found,
        **{f"real_{k}": pooled[k] for k in keys},
        **{f"real_{k}_surface": alone[k] for k in keys},
    }


def accuracy_keys(detector, test_split: Path) -> dict:
    """The test-split summary, the AmorAFM agreement and the real-image keys of ``detector``."""
    return {
        **evaluate_split(detector, test_split)["summary"],
        **amorafm_keys(detector),
        **real_image_keys(detector),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path("results/dataset"))
    parser.add_argument("--model", type=Path, default=PRETRAINED)
    parser.add_argument("--batches", type=int, default=12, help="batches for the throughputs")
    parser.add_argument("--baseline-model", type=Path,
                        help="another detector scored on the same test split and real images "
                             "in the same run (baseline)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)
    detector = load_detector(args.model)
    train_config = TrainConfig.from_config(
        json.loads(detector.info.get("train_config_json", "{}"))
    )
    record = machine_info(("torch", "h5py"))
    record["model"] = str(args.model)
    record["model_info"] = detector.info
    record["dataset"] = str(args.dataset)
    result = evaluate_split(detector, args.dataset / "test.h5")
    record.update(result["summary"])
    record["metrics"] = {k: v for k, v in result.items() if k.startswith("cutoff_")}
    train_rate, loader_rate = throughput(args.dataset / "train.h5", train_config, args.batches)
    record["train_samples_per_s"] = train_rate
    record["loader_samples_per_s"] = loader_rate
    record["loader_over_train"] = loader_rate / train_rate
    record["predict_stacks_per_s"] = predict_rate(detector, args.dataset / "test.h5", 32)
    rss_config = {**train_config.to_dict(), "width": 4, "depth": 2, "epochs": 1, "name": "rss"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        repeated = work / "train_4x.h5"
        repeated_split((args.dataset / "train.h5").resolve(), repeated, 4)
        record["train_peak_rss_mb_1x"] = peak_rss_mb(args.dataset / "train.h5", rss_config, work)
        record["train_peak_rss_mb_4x"] = peak_rss_mb(repeated, rss_config, work)
    record["rss_ratio_4x_over_1x"] = record["train_peak_rss_mb_4x"] / record["train_peak_rss_mb_1x"]
    record.update(amorafm_keys(detector))
    record.update(real_image_keys(detector))
    if args.baseline_model:
        record["baseline"] = {"model": str(args.baseline_model),
                              **accuracy_keys(load_detector(args.baseline_model),
                                              args.dataset / "test.h5")}  # fmt: skip
    record["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    print(json.dumps({k: v for k, v in record.items() if k != "metrics"}, indent=1, default=str))
    write_result("structure_from_afm", record)


if __name__ == "__main__":
    main()
