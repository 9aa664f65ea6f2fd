"""Rule train rerun by Snakemake: a finished state with the same config and data still writes
the log and checkpoint; a remade dataset split starts a fresh run (no stale resume)."""

from __future__ import annotations

import os

from ml_fixtures import build_ml_dataset

from iceafm.models.train import run_training

CONFIG = {"width": 4, "depth": 2, "epochs": 1, "batch_size": 2, "val_samples": 2}


def test_rerun_on_a_finished_state_and_on_a_remade_split(tmp_path):
    splits = build_ml_dataset(tmp_path / "data", n_structures=2, views=2)
    state_dir, log, ckpt = tmp_path / "state", tmp_path / "log.csv", tmp_path / "ckpt.pt"
    run_training(CONFIG, splits["train"], splits["val"], state_dir, log, ckpt)
    (state,) = state_dir.glob("*.pt")
    rows = log.read_text().splitlines()
    assert len(rows) == 1 + CONFIG["epochs"]
    # rerun with the same config and files (outputs gone): the finished state is reused
    log.unlink()
    ckpt.unlink()
    run_training(CONFIG, splits["train"], splits["val"], state_dir, log, ckpt)
    assert sorted(state_dir.glob("*.pt")) == [state]
    assert log.read_text().splitlines() == rows and ckpt.stat().st_size > 0
    # the dataset rule remade the training split: a new run, not the old run's weights
    stat = os.stat(splits["train"])
    os.utime(splits["train"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    run_training(CONFIG, splits["train"], splits["val"], state_dir, log, ckpt)
    assert len(list(state_dir.glob("*.pt"))) == 2
