"""Training: a run killed with SIGKILL resumes to the same weights; DDP on 2 gloo processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
import torch.multiprocessing as mp
from ml_fixtures import build_ml_dataset

from iceafm.models.checkpoint import load_checkpoint
from iceafm.models.train import TrainConfig, TrainConfigError, train_detector

CONFIG = {"width": 4, "depth": 2, "epochs": 5, "batch_size": 2, "lr": 2e-3, "val_samples": 2,
          "augment": {"slices": 0.5, "slices_min": 3, "cutout": 0.5}}  # fmt: skip


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    return build_ml_dataset(tmp_path_factory.getbasetemp() / "ml_dataset")


def _train_command(splits, state, workers):
    code = (
        "import json, sys, torch; torch.set_num_threads(1)\n"
        "from iceafm.models.train import TrainConfig, train_detector\n"
        "c = TrainConfig.from_config(json.loads(sys.argv[1]))\n"
        "train_detector(c, sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], False)\n"
    )
    config = json.dumps({**CONFIG, "workers": workers})
    log = str(state).replace(".pt", ".csv")
    return [sys.executable, "-c", code, config, str(splits["train"]), str(splits["val"]),
            str(state), log]  # fmt: skip


def _epoch(state):
    try:
        return load_checkpoint(state)["train_state"]["epoch"]
    except Exception:  # noqa: BLE001 - not written yet
        return -1


def test_killed_run_resumes_to_the_same_weights(splits, tmp_path):
    reference = tmp_path / "reference.pt"
    subprocess.run(_train_command(splits, reference, workers=0), check=True)
    killed = tmp_path / "killed.pt"
    proc = subprocess.Popen(_train_command(splits, killed, workers=1))
    while _epoch(killed) < 1 and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    stopped_at = _epoch(killed)
    assert 1 <= stopped_at < CONFIG["epochs"] - 1, "the run finished before it could be killed"
    subprocess.run(_train_command(splits, killed, workers=1), check=True)
    a, b = load_checkpoint(reference), load_checkpoint(killed)
    assert b["train_state"]["epoch"] == CONFIG["epochs"] - 1
    for key, value in a["model_state"].items():
        assert torch.equal(value, b["model_state"][key]), key
    assert [r["epoch"] for r in b["train_state"]["history"]] == [1, 2, 3, 4, 5]
    with pytest.raises(TrainConfigError, match="config hash"):
        train_detector(
            TrainConfig.from_config({**CONFIG, "lr": 1e-3}), splits["train"], None, killed,
            tmp_path / "x.csv", False,
        )


def _ddp_worker(rank, world, port, splits, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    config = TrainConfig.from_config({**CONFIG, "epochs": 2, "workers": 0})
    detector = train_detector(
        config, splits["train"], splits["val"], out / "state.pt", out / "log.csv", False
    )
    torch.save(detector.net.state_dict(), out / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_ddp_two_gloo_processes_train_identical_weights(splits, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, splits, tmp_path), nprocs=2, join=True)
    w0, w1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for key, value in w0.items():
        assert torch.equal(value, w1[key]), key
    state = load_checkpoint(tmp_path / "state.pt")
    assert state["train_state"]["epoch"] == 1
    # each rank took half of every epoch: 8 stacks / (2 ranks x batch 2) = 2 steps per rank
    assert state["train_state"]["scheduler"]["last_epoch"] == 4
