"""The tiny CI campaign as shipped (point-charge electrostatics) runs no DFT job at all."""

from __future__ import annotations

import pytest
from helpers import REPO, job_counts, run_snakemake

#: The data front's products and figures (the ML stages after them never ask for DFT either).
DATA_FRONT = [
    "results/dataset/manifest.json",
    "results/figures/structures.png",
    "results/figures/afm_stack.png",
    "results/figures/afm_electrostatics.png",
]


@pytest.mark.slow
def test_point_charge_campaign_runs_zero_dft_jobs(tmp_path):
    config = REPO / ".test" / "config" / "config.yaml"
    plan = job_counts(run_snakemake(tmp_path, "-n", "--configfile", str(config)).stdout)
    assert plan and not any(rule.startswith(("dft", "plot_dft")) for rule in plan), plan
    proc = run_snakemake(tmp_path, *DATA_FRONT, "--configfile", str(config))
    counts = job_counts(proc.stdout)
    assert not any(rule.startswith(("dft", "plot_dft")) for rule in counts), counts
    assert any(rule.startswith("afm") for rule in counts) and counts.get("dataset") == 1, counts
    assert not (tmp_path / "results" / "dft").exists()
    for product in DATA_FRONT:
        assert (tmp_path / product).stat().st_size > 0, product
