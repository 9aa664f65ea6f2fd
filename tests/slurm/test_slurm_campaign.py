"""The tiny campaign on the SLURM test cluster with ``--profile profiles/slurm``.

Proves the jobs went through SLURM (every job of the run is a SLURM job that squeue lists as
COMPLETED; each DFT record's ``slurm_job_id`` is COMPLETED in the job-completion log) and that
a DFT job killed by ``scancel`` mid-run is retried and the campaign completes with nothing lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest
from campaign import TARGETS, run_campaign, submission_counts
from cluster import SlurmCluster


@pytest.mark.slurm
@pytest.mark.slow
def test_tiny_campaign_runs_through_slurm_and_survives_a_cancelled_dft_job(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    known = set(slurm_cluster.job_records())
    # delay: GPAW is mid-SCF, so that this is a kill mid-run
    with slurm_cluster.cancelling_first_running("rule_dft_", delay_s=5) as cancelled:
        proc = run_campaign(slurm_cluster, tmp_path)
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert len(cancelled) == 1, "no DFT job was seen running"

    # Nothing lost: every product exists, no half-written file is left behind.
    for target in TARGETS:
        assert (tmp_path / target).stat().st_size > 0, target
    assert not list((tmp_path / "results").rglob("*.part"))
    with h5py.File(tmp_path / "results/dataset/train.h5") as h5:
        assert len(h5.keys()) > 0

    # Every job of this run went through SLURM and completed, except the one we cancelled.
    jobs = {j: r for j, r in slurm_cluster.job_records().items() if j not in known}
    # Batch rules are <rule>__<batch>; a batch's structure and labels jobs are one bundle (job
    # group), Hartree AFM waits for DFT and is its own job.
    rules = {r["comment"].split("_wildcards_")[0].split("__")[0] for r in jobs.values()}
    assert {"rule_dft", "rule_afm", "rule_dataset"} <= rules, rules
    assert any(rule.startswith("rule_bundle_") for rule in rules), rules
    states = {j: r["state"] for j, r in jobs.items()}
    assert states.pop(cancelled[0]) == "CANCELLED"
    assert set(states.values()) == {"COMPLETED"}, states
    counts = submission_counts(proc.stdout + proc.stderr)
    assert counts["jobs_submitted"] >= len(jobs)

    # The DFT records carry the SLURM job id of the attempt that wrote them.
    completed = {r["JobId"]: r["JobState"] for r in slurm_cluster.completed_jobs()}
    assert completed[cancelled[0]] == "CANCELLED"
    records = sorted((tmp_path / "results/dft").glob("*/dft.json"))
    assert len(records) == 2
    for record in records:
        job_id = str(json.loads(record.read_text())["slurm_job_id"])
        assert completed.get(job_id) == "COMPLETED", (record, job_id)
        assert job_id != cancelled[0]
    # The cancelled calculation came back with the config's settings (robust settings are for
    # SCF non-convergence only), and its record says how the earlier attempt ended.
    outcomes = []
    for record in records:
        data = json.loads(record.read_text())
        assert data["robust_level"] == 0, (record, data["attempts"])
        outcomes += [attempt["outcome"] for attempt in data["attempts"]]
    assert "scf_not_converged" not in outcomes
    assert outcomes.count("converged") == len(records)
