"""The tiny SLURM campaign (structures, DFT on 2 structures, AFM, labels, dataset), shared by
tests/slurm/test_slurm_campaign.py and benchmarks/slurm_campaign.py."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml
from cluster import REPO, SlurmCluster

TARGETS = [
    "results/dataset/train.h5",
    "results/dataset/val.h5",
    "results/dataset/test.h5",
    "results/dataset/manifest.json",
]


def write_campaign_config(workdir: Path) -> Path:
    """The CI config (.test/config/config.yaml) cut to two structures (no metal slab), with AFM
    on the DFT Hartree potential so that the dataset needs both DFT jobs; written to
    ``workdir/config.yaml``."""
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    families = config["structures"]["families"]
    for family in families:
        families[family]["count"] = 1 if family in ("ice_basal", "premelt") else 0
    config.setdefault("afm", {})["electrostatics"] = "hartree"
    # An MPI job: the SLURM plugin refuses mpi jobs with fewer than 2 tasks.
    config.setdefault("dft", {}).setdefault("resources", {})["ranks"] = 2
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_campaign(
    cluster: SlurmCluster, workdir: Path, extra: list[str] = (), timeout_s: int = 480
) -> subprocess.CompletedProcess[str]:
    """Run the tiny campaign in ``workdir`` with ``--profile profiles/slurm``."""
    config = write_campaign_config(workdir)
    args = ["--configfile", str(config), "--directory", str(workdir), *extra, *TARGETS]
    return cluster.snakemake(args, timeout_s=timeout_s)


def submission_counts(snakemake_log: str) -> dict[str, int]:
    """Snakemake jobs submitted and sbatch calls made, from the executor's log lines."""
    single = len(re.findall(r"has been submitted with SLURM jobid", snakemake_log))
    arrays = re.findall(r"Submitted array job with Snakemake IDs ([\d,]+)", snakemake_log)
    return {
        "jobs_submitted": single + sum(len(ids.split(",")) for ids in arrays),
        "sbatch_calls": single + len(arrays),
    }


def status_queries(verbose_log: str) -> int:
    """Status queries (squeue/sacct calls) of a ``--verbose`` run, from the shutdown summary."""
    match = re.search(r"Status query timing summary at shutdown: calls=(\d+)", verbose_log)
    if match is None:
        raise ValueError("no 'Status query timing summary' in the log: was --verbose given?")
    return int(match.group(1))
