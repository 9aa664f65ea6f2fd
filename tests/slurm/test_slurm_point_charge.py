"""The CI config as shipped (point charges, dft.resources.ranks: 1) through --profile slurm:
the whole default target completes on the test cluster and no DFT job is submitted."""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster import REPO, SlurmCluster


@pytest.mark.slurm
@pytest.mark.slow
def test_point_charge_campaign_runs_no_dft_job_through_slurm(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    known = set(slurm_cluster.job_records())
    config = REPO / ".test" / "config" / "config.yaml"
    # The data front's products and figures (the GPU stages after them never ask for DFT).
    targets = ["results/dataset/manifest.json", "results/figures/afm_electrostatics.png"]
    proc = slurm_cluster.snakemake(
        ["--configfile", str(config), "--directory", str(tmp_path), *targets], timeout_s=600
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    jobs = {j: r for j, r in slurm_cluster.job_records().items() if j not in known}
    rules = {r["comment"].split("_wildcards_")[0] for r in jobs.values()}
    assert jobs and not any(rule.startswith(("rule_dft", "rule_plot_dft")) for rule in rules)
    assert {r["state"] for r in jobs.values()} == {"COMPLETED"}, jobs
    assert not (tmp_path / "results" / "dft").exists()
    for product in ("dataset/train.h5", "figures/afm_stack.png", "figures/afm_electrostatics.png"):
        assert (tmp_path / "results" / product).stat().st_size > 0, product
