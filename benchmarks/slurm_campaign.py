"""A point-charge campaign of 50 structures on the single-node SLURM test cluster: submissions.

Runs the CI config (point-charge AFM, no DFT) with 25 ice_basal and 25 bilayer_metal structures
(the dataset as target) with ``--profile profiles/slurm`` on a fresh test cluster twice in the
same run: bundled as the profile ships it (execution.batch_size 100: a family's structure,
labels and AFM batch jobs are one submission) and unbundled (batch_size 1: one job, one sbatch
per sample and stage). Writes benchmarks/results/slurm_campaign.json with ``structures``,
``jobs`` (Snakemake jobs), ``sbatch_calls``, ``sbatch_calls_per_structure`` (goal <= 0.2),
``wall_seconds``, ``status_queries`` of the bundled run and the same under ``unbundled``.

    nice .venv/bin/python benchmarks/slurm_campaign.py      # about 15 min on 2 cores
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "tests" / "slurm"))
sys.path.insert(0, str(HERE))

from campaign import TARGETS, status_queries, submission_counts  # noqa: E402
from cluster import REPO, SlurmCluster  # noqa: E402
from common import machine_info, write_result  # noqa: E402

from iceafm.jobstats import parse_job_stats  # noqa: E402

COUNTS = {"ice_basal": 25, "premelt": 0, "bilayer_metal": 25}


def measure(cluster: SlurmCluster, batch_size: int) -> dict[str, float]:
    """One campaign run in a fresh folder with ``batch_size``: the figures of the issue."""
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    for family, count in COUNTS.items():
        config["structures"]["families"][family]["count"] = count
    config["execution"]["batch_size"] = batch_size
    with tempfile.TemporaryDirectory(prefix="slurm-campaign-") as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        args = ["--verbose", "--configfile", str(path), "--directory", tmp, *TARGETS]
        start = time.perf_counter()
        proc = cluster.snakemake(args, timeout_s=3000)
        wall = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SystemExit(f"campaign failed (exit {proc.returncode}):\n{log[-3000:]}")
    structures = sum(COUNTS.values())
    sbatch = submission_counts(log)["sbatch_calls"]
    return {
        "structures": structures,
        "jobs": parse_job_stats(log)["total"],
        "sbatch_calls": sbatch,
        "sbatch_calls_per_structure": round(sbatch / structures, 3),
        "wall_seconds": round(wall, 1),
        "status_queries": status_queries(log),
    }


def main() -> int:
    with SlurmCluster() as cluster:
        bundled = measure(cluster, 100)
        unbundled = measure(cluster, 1)
    record = {
        **machine_info(("snakemake-executor-plugin-slurm",)),
        "slurm": "single-node test cluster (tests/slurm/cluster.py), squeue status polling",
        "config": ".test/config/config.yaml (point charges) with structures.families counts "
        f"{COUNTS}",
        **bundled,
        "unbundled": unbundled,
        "goals": {"sbatch_calls_per_structure": "<= 0.2"},
    }
    print(write_result("slurm_campaign", record).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
