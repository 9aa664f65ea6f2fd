"""DFT batches (dft.batch_size 2) through ``--profile slurm`` on the SLURM test cluster: two
structures are one sbatch submission, each its own 2-rank MPI launch (the profile's srun)."""

from __future__ import annotations

import json
from pathlib import Path

import ase.io
import pytest
import yaml
from ase.build import molecule
from campaign import submission_counts
from cluster import REPO, SlurmCluster
from helpers import dft_snakefile


@pytest.mark.slurm
@pytest.mark.slow
def test_a_dft_batch_of_two_structures_is_one_submission(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    for i in range(2):
        water = molecule("H2O")
        water.rotate(15 * i, "z")
        water.center(vacuum=3.0)
        water.pbc = False
        path = tmp_path / "results" / "structures" / f"water-{i:05d}.extxyz"
        path.parent.mkdir(parents=True, exist_ok=True)
        ase.io.write(path, water, format="extxyz")
    dft = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())["dft"]
    dft["batch_size"] = 2
    dft["resources"] = {**dft.get("resources", {}), "ranks": 2}  # an MPI job (srun -n 2)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"dft": dft}))
    (tmp_path / "Snakefile").write_text(dft_snakefile(["water-00000", "water-00001"]))

    proc = slurm_cluster.snakemake(
        ["-s", str(tmp_path / "Snakefile"), "--directory", str(tmp_path)], timeout_s=300
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert submission_counts(proc.stdout + proc.stderr)["sbatch_calls"] == 1
    records = [
        json.loads((tmp_path / f"results/dft/water-{i:05d}/dft.json").read_text()) for i in range(2)
    ]
    assert all(r["status"] == "converged" and r["ranks"] == 2 for r in records)
    # both structures ran inside the one SLURM job, which completed
    (job_id,) = {str(r["slurm_job_id"]) for r in records}
    completed = {r["JobId"]: r["JobState"] for r in slurm_cluster.completed_jobs()}
    assert completed.get(job_id) == "COMPLETED"
    for i in range(2):
        log = (tmp_path / f"logs/dft/water-{i:05d}.log").read_text()
        assert log.count("iter:") >= 1
