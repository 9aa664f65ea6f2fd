"""The SLURM profile on a real (single-node) SLURM cluster, with a throwaway workflow.

Proves that jobs run as SLURM jobs (each output holds its $SLURM_JOB_ID, which the
job-completion log lists as COMPLETED) and that a job killed by scancel mid-run is retried
and the workflow still completes with nothing lost.
"""

from __future__ import annotations

import threading
import time
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


def _cancel_first_running_victim(
    cluster: SlurmCluster, cancelled: list[str], done: threading.Event
) -> None:
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and not done.is_set():
        for job_id, record in cluster.job_records().items():
            if record["comment"] == "rule_record_wildcards_victim" and record["state"] == "RUNNING":
                time.sleep(2)  # let the job step start: this is a kill mid-run
                cluster.cancel(job_id)
                cancelled.append(job_id)
                return
        time.sleep(1)


@pytest.mark.slurm
@pytest.mark.slow
def test_jobs_run_through_slurm_and_a_cancelled_job_is_retried(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    known_before = set(slurm_cluster.job_records())
    cancelled: list[str] = []
    done = threading.Event()
    killer = threading.Thread(
        target=_cancel_first_running_victim, args=(slurm_cluster, cancelled, done)
    )
    killer.start()
    proc = slurm_cluster.snakemake(
        ["-s", str(tmp_path / "Snakefile"), "--directory", str(tmp_path)], timeout_s=240
    )
    done.set()
    killer.join()
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
