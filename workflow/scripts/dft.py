"""Rule dft: one GPAW calculation (``gpaw python -m iceafm.dft``) of one structure, started by
the MPI launcher when the job has several ranks (resources ``mpi``, ``mpi_launcher``, ``tasks``);
its output (and GPAW's text log) is appended to the rule's log. The exit status is GPAW's, so a
failed or killed calculation fails the job and Snakemake retries it with the next attempt.

A script rather than a ``shell:`` command because Snakemake formats a shell command for every
job it plans (three times each in a dry run): for a 10,000-structure campaign that alone was
seconds of planning (benchmarks/workflow_overhead.py)."""

import os
import shlex
import subprocess
import sys

resources = snakemake.resources
command = [
    "gpaw", "python", "-m", "iceafm.dft",
    "--structure", snakemake.input.structure,
    "--hartree", snakemake.output.hartree,
    "--density", snakemake.output.density,
    "--record", snakemake.output.record,
    "--log", snakemake.log[0],
    "--settings", snakemake.params.settings,
    "--attempt", str(resources.attempt),
    "--checkpoint-every", str(resources.checkpoint_every),
    "--scratch", f"scratch/dft/{snakemake.wildcards.sample}",
]  # fmt: skip
if resources.mpi:
    # e.g. "srun" or "srun --mpi=pmix" (profiles/slurm), "mpiexec" (the rule's default)
    command = [*shlex.split(resources.mpi_launcher), "-n", str(resources.tasks), *command]
env = {**os.environ, "OMP_NUM_THREADS": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1"}
if os.getuid() == 0:  # OpenMPI refuses root without both (containers, CI)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
with open(snakemake.log[0], "a") as log:
    status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
sys.exit(status.returncode)
