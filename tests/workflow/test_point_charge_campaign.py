"""The tiny CI campaign as shipped (point-charge electrostatics) runs no DFT job at all."""

from __future__ import annotations

import pytest
from helpers import REPO, job_counts, run_snakemake


@pytest.mark.slow
def test_point_charge_campaign_runs_zero_dft_jobs(tmp_path):
    proc = run_snakemake(tmp_path, "--configfile", str(REPO / ".test" / "config" / "config.yaml"))
    counts = job_counts(proc.stdout)
    assert "dft" not in counts and "plot_dft" not in counts, counts
    assert counts.get("afm") == 3 and counts.get("dataset") == 1, counts
    assert not (tmp_path / "results" / "dft").exists()
    for figure in ("afm_stack.png", "afm_electrostatics.png", "structures.png"):
        assert (tmp_path / "results" / "figures" / figure).stat().st_size > 0
