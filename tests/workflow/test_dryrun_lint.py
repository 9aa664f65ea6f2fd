"""Dry runs of the shipped configs and Snakemake's linter: the campaign plans cleanly."""

from __future__ import annotations

import pytest
from helpers import REPO, job_counts, load_yaml, run_snakemake


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/paper.yaml"])
def test_dry_run_plans_every_sample(tmp_path, configfile):
    proc = run_snakemake(tmp_path, "-n", "--configfile", str(REPO / configfile))
    counts = job_counts(proc.stdout)
    families = load_yaml(REPO / configfile)["structures"]["families"]
    n_samples = sum(f.get("count", 0) for f in families.values())
    assert counts["structure"] == n_samples
    assert counts["total"] > n_samples


def test_dry_run_with_the_slurm_profile(tmp_path):
    proc = run_snakemake(tmp_path, "-n", "--profile", str(REPO / "profiles" / "slurm"))
    assert "Job stats:" in proc.stdout


def test_lint_is_clean(tmp_path):
    proc = run_snakemake(tmp_path, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "Lints for" not in proc.stdout, proc.stdout[-4000:]
