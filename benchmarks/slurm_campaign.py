"""The tiny campaign on the single-node SLURM test cluster: submissions, polling, wall time.

Runs the campaign of tests/slurm (structures, DFT on 2 structures, AFM, labels, dataset) twice
with ``--profile profiles/slurm`` on a fresh test cluster: as the profile ships it (AFM and
labels as job arrays), and as a baseline with job arrays off (one sbatch per job). Writes
benchmarks/results/slurm_campaign.json with jobs_submitted, sbatch_calls, wall_seconds,
status_queries for the profile run, the same for the baseline, and their ratios.

    .venv/bin/python benchmarks/slurm_campaign.py      # about 6 min on 2 cores
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "tests" / "slurm"))
sys.path.insert(0, str(HERE))

from campaign import run_campaign, status_queries, submission_counts  # noqa: E402
from cluster import SlurmCluster  # noqa: E402
from common import machine_info, write_result  # noqa: E402


def measure(cluster: SlurmCluster, extra: list[str]) -> dict[str, float]:
    """One campaign run in a fresh folder: the four numbers of the issue."""
    with tempfile.TemporaryDirectory(prefix="slurm-campaign-") as tmp:
        start = time.perf_counter()
        proc = run_campaign(cluster, Path(tmp), ["--verbose", *extra], timeout_s=900)
        wall = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SystemExit(f"campaign failed (exit {proc.returncode}):\n{log[-3000:]}")
    return {
        **submission_counts(log),
        "wall_seconds": round(wall, 1),
        "status_queries": status_queries(log),
    }


def main() -> int:
    with SlurmCluster() as cluster:
        ours = measure(cluster, [])
        baseline = measure(cluster, ["--slurm-array-jobs", "none"])
    record = {
        **machine_info(("snakemake-executor-plugin-slurm",)),
        "slurm": "single-node test cluster (tests/slurm/cluster.py), squeue status polling",
        **ours,
        "baseline_no_job_arrays": baseline,
        "ratio_vs_baseline": {k: round(ours[k] / baseline[k], 3) for k in ours if baseline[k]},
    }
    print(write_result("slurm_campaign", record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
