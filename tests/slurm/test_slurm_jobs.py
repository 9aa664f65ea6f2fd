"""The SLURM profile on a real (single-node) SLURM cluster, with a throwaway workflow.

Proves that jobs run as SLURM jobs (each output holds its $SLURM_JOB_ID, which the
job-completion log lists as COMPLETED) and that a job killed by scancel mid-run is retried
and the workflow still completes with nothing lost.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster import SlurmCluster

SNAKEFILE = """
rule all:
    input: expand("out/{s}.txt", s=["a", "b", "victim"])

rule record:
    output: "out/{s}.txt"
    log: "logs/record/{s}.log"
    resources: attempt=lambda wildcards, attempt: attempt
    # The first attempt of "victim" runs long enough to be cancelled mid-run.
    shell:
        "if [ {wildcards.s} = victim ] && [ {resources.attempt} -eq 1 ]; then sleep 120; fi; "
        "echo $SLURM_JOB_ID > {output}; echo attempt={resources.attempt} > {log}"
"""


@pytest.mark.slurm
@pytest.mark.slow
def test_jobs_run_through_slurm_and_a_cancelled_job_is_retried(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    known_before = set(slurm_cluster.job_records())
    # delay: let the job step start, so that this is a kill mid-run
    with slurm_cluster.cancelling_first_running(
        "rule_record_wildcards_victim", delay_s=2, timeout_s=150
    ) as cancelled:
        proc = slurm_cluster.snakemake(
            ["-s", str(tmp_path / "Snakefile"), "--directory", str(tmp_path)], timeout_s=240
        )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert len(cancelled) == 1, "the victim job was never seen running"

    job_ids = {s: (tmp_path / "out" / f"{s}.txt").read_text().strip() for s in ("a", "b", "victim")}
    completed = {r["JobId"]: r["JobState"] for r in slurm_cluster.completed_jobs()}
    for sample, job_id in job_ids.items():
        assert completed.get(job_id) == "COMPLETED", (sample, job_id)
    assert completed[cancelled[0]] == "CANCELLED"
    assert job_ids["victim"] != cancelled[0]
    assert (tmp_path / "logs/record/victim.log").read_text().strip() == "attempt=2"
    new_jobs = set(slurm_cluster.job_records()) - known_before
    assert set(job_ids.values()) | set(cancelled) <= new_jobs
