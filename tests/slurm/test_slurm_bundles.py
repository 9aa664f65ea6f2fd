"""Bundles on the SLURM test cluster: a batch's structure, labels and point-charge AFM jobs are
one submission (iceafm.batches, profiles/slurm); the outputs are the same as one job per sample,
and a bundle killed mid-run is retried without losing (or recomputing) the samples it finished.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from campaign import TARGETS, submission_counts
from cluster import REPO, SlurmCluster


def _config(workdir: Path, counts: dict[str, int], batch_size: int) -> Path:
    """The CI config (point charges) with these family counts and batch size."""
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    for family, section in config["structures"]["families"].items():
        section["count"] = counts.get(family, 0)
    config["execution"]["batch_size"] = batch_size
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _run(cluster: SlurmCluster, workdir: Path, config: Path):
    workdir.mkdir(parents=True, exist_ok=True)
    args = ["--configfile", str(config), "--directory", str(workdir), *TARGETS]
    return cluster.snakemake(args, timeout_s=600)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slurm
@pytest.mark.slow
def test_bundled_campaign_gives_the_same_outputs_as_one_job_per_sample(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    counts = {"ice_basal": 2, "bilayer_metal": 1}
    runs = {}
    for name, batch_size in (("bundled", 100), ("unbundled", 1)):
        work = tmp_path / name
        work.mkdir()
        proc = _run(slurm_cluster, work, _config(work, counts, batch_size))
        assert proc.returncode == 0, proc.stderr[-5000:]
        runs[name] = (work, submission_counts(proc.stdout + proc.stderr))
    (bundled, n_bundled), (unbundled, n_unbundled) = runs["bundled"], runs["unbundled"]
    # bundled: one submission per family's batch and the dataset; unbundled: 3 per sample + 1
    assert n_bundled["sbatch_calls"] == 3, n_bundled
    assert n_unbundled["sbatch_calls"] == 3 * 3 + 1, n_unbundled
    samples = sorted(p.stem for p in (unbundled / "results" / "structures").glob("*.extxyz"))
    assert len(samples) == 3
    for sample in samples:
        for stage, ext in (("structures", "extxyz"), ("afm", "npz"), ("labels", "npz")):
            a, b = (w / "results" / stage / f"{sample}.{ext}" for w in (bundled, unbundled))
            if ext == "extxyz":
                assert a.read_bytes() == b.read_bytes(), a
                continue
            with np.load(a) as x, np.load(b) as y:
                assert sorted(x.files) == sorted(y.files), a
                for key in x.files:
                    np.testing.assert_array_equal(x[key], y[key], err_msg=f"{a}: {key}")
    for split in ("train", "val", "test"):
        with h5py.File(bundled / f"results/dataset/{split}.h5") as x, h5py.File(
            unbundled / f"results/dataset/{split}.h5"
        ) as y:
            assert sorted(x.keys()) == sorted(y.keys())
            for key in x.keys():
                np.testing.assert_array_equal(x[key][()], y[key][()], err_msg=f"{split}: {key}")


@pytest.mark.slurm
@pytest.mark.slow
def test_a_killed_bundle_is_retried_and_keeps_the_samples_it_finished(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    config = _config(tmp_path, {"ice_basal": 4}, 100)
    stamps = tmp_path / "results" / ".batches" / "afm" / "ice_basal_00000.json"
    known = set(slurm_cluster.job_records())
    seen: dict = {}
    done = threading.Event()

    def kill_after_the_first_afm_sample() -> None:
        """scancel the bundle once its AFM batch has finished a sample (not all four)."""
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and not done.is_set():
            finished = json.loads(stamps.read_text()) if stamps.exists() else {}
            if 1 <= len(finished) < 4:
                for job_id, record in slurm_cluster.job_records().items():
                    bundle = record["comment"].startswith("rule_bundle_ice_basal")
                    if job_id not in known and bundle and record["state"] == "RUNNING":
                        files = [tmp_path / f"results/afm/{s}.npz" for s in finished]
                        seen["files"] = {f: (f.stat().st_ino, _digest(f)) for f in files}
                        slurm_cluster.cancel(job_id)
                        seen["job"] = job_id
                        return
            time.sleep(0.2)

    watcher = threading.Thread(target=kill_after_the_first_afm_sample)
    watcher.start()
    try:
        proc = _run(slurm_cluster, tmp_path, config)
    finally:
        done.set()
        watcher.join()
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert "job" in seen, "the bundle was never caught mid-batch"
    # Retried: the cancelled submission and a later one of the same bundle that completed.
    jobs = {j: r for j, r in slurm_cluster.job_records().items() if j not in known}
    bundles = {j: r["state"] for j, r in jobs.items() if r["comment"].startswith("rule_bundle")}
    assert bundles.pop(seen["job"]) == "CANCELLED"
    assert set(bundles.values()) == {"COMPLETED"}, bundles
    # The samples finished before the kill are the same files (same inode, same bytes): the
    # retry kept them, and its log says so; the others were computed.
    for path, (inode, digest) in seen["files"].items():
        assert (path.stat().st_ino, _digest(path)) == (inode, digest), path
    log = (tmp_path / "logs" / "afm" / "ice_basal_00000.log").read_text()
    match = re.search(r"batch: (\d+) computed, (\d+) kept", log)
    assert match and int(match[2]) >= len(seen["files"]), log[-2000:]
    assert int(match[1]) + int(match[2]) == 4
    for target in TARGETS:
        assert (tmp_path / target).stat().st_size > 0, target
    assert not list((tmp_path / "results").rglob("*.part"))
