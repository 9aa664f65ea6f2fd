# DFT stage: one GPAW calculation per structure (MPI, retried with more robust SCF settings);
# with dft.batch_size > 1 one job per block of structures, each its own MPI launch in turn
# (iceafm.dft.batch), rules dft__<batch>.
import json
import sys

from iceafm.dft.batch import (
    MEMBER_OUTPUTS,
    batch_jobs,
    existing_records,
    job_resources,
    job_step_targets,
    site_resources,
)
from iceafm.dft.settings import result_section

DFT_BATCH_SIZE = config["dft"]["batch_size"]
# The dft section minus `resources`, `batch_size` and `plot`, which do not shape the result.
DFT_SETTINGS = json.dumps(result_section(config["dft"]), sort_keys=True)
# The profile's set-resources of rule dft that its batch jobs take too (launcher, cpus_per_task)
DFT_SITE = site_resources(workflow.resource_settings.overwrite_resources)


if DFT_BATCH_SIZE == 1:

    rule dft:
        input:
            structure="results/structures/{sample}.extxyz",
        output:
            multiext(
                "results/dft/{sample}/",
                hartree="hartree.cube",
                density="density.cube",
                record="dft.json",
            ),
        params:
            settings=DFT_SETTINGS,
        log:
            "logs/dft/{sample}.log",
        # No benchmark: Snakemake refuses it on cached rules. dft.json holds wall/core seconds and
        # the GPAW log its peak memory ("Max RSS").
        cache: True
        retries: config["dft"]["retries"]
        resources:
            # several ranks: an MPI job started by mpi_launcher (profiles/slurm sets srun); one
            # rank runs gpaw directly. Ranks, memory, wall time: job_resources.
            mpi_launcher="mpiexec",
            **job_resources(config["dft"]["resources"]),
        conda:
            "../../envs/dft.yaml"
        shell:
            "if [ $(id -u) -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi; "
            "LAUNCH={resources.mpi_launcher:q}; [ -n \"{resources.mpi}\" ] || LAUNCH=; "
            "OMP_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1 ${{LAUNCH:+$LAUNCH -n {resources.tasks}}} "
            "gpaw python -m iceafm.dft --structure {input.structure:q} --hartree {output.hartree:q} "
            "--density {output.density:q} --record {output.record:q} --log {log:q} "
            "--settings {params.settings:q} --attempt {resources.attempt} "
            "--checkpoint-every {resources.checkpoint_every} "
            "--scratch scratch/dft/{wildcards.sample} >> {log:q} 2>&1"

else:
    # Blocks of dft.batch_size structures (dft_batches). Not cached: Snakemake's cache takes
    # one output prefix per job (config/README.md).
    _targets = job_step_targets(sys.argv) if workflow.remote_exec else []
    for _dft_name, _dft_batch in batch_jobs(
        SAMPLES, DFT_BATCH_SIZE, existing_records(), _targets
    ):

        rule:
            name:
                f"dft__{_dft_name}"
            input:
                structure=[f"results/structures/{s}.extxyz" for s in _dft_batch.members],
            output:
                # update: Snakemake keeps finished members when the batch reruns
                [
                    update(f"results/dft/{s}/{name}")
                    for s in _dft_batch.members
                    for name in MEMBER_OUTPUTS
                ],
            params:
                # as rule dft's (no member list: the params stay when a block is split)
                settings=DFT_SETTINGS,
            # The members' GPAW logs, logs/dft/{sample}.log as rule dft's, are not declared:
            # Snakemake deletes a job's logs before it runs, and a rerun batch keeps members.
            log:
                f"logs/dft/{_dft_name}.log",
            # No benchmark: each member's dft.json holds its wall and core seconds.
            retries: config["dft"]["retries"]
            resources:
                mpi_launcher=DFT_SITE.get("mpi_launcher", "mpiexec"),
                **{k: v for k, v in DFT_SITE.items() if k != "mpi_launcher"},
                # memory as rule dft's; wall time runtime_min per member
                **job_resources(config["dft"]["resources"], len(_dft_batch.members)),
            conda:
                "../../envs/dft.yaml"
            # a shell rule: a script rule would rerun finished jobs older than the script file;
            # `gpaw python` as in rule dft: GPAW's interpreter, not whichever python is first on
            # PATH in a job's shell
            shell:
                "LAUNCH={resources.mpi_launcher:q}; [ -n \"{resources.mpi}\" ] || LAUNCH=; "
                "gpaw python -m iceafm.dft.batch --structures {input.structure:q} "
                "--outputs {output:q} --log-dir logs/dft --batch-log {log:q} "
                "--settings {params.settings:q} --launcher \"$LAUNCH\" --ranks {resources.tasks} "
                "--attempt {resources.attempt} --checkpoint-every {resources.checkpoint_every} "
                ">> {log:q} 2>&1"


rule plot_dft:
    input:
        # potential, density and record of each overview sample
        lambda wildcards: [
            f"results/dft/{s}/{name}"
            for s in plot_samples()
            for name in ("hartree.cube", "density.cube", "dft.json")
        ],
    output:
        png=report(
            "results/figures/dft.png",
            caption="../report/dft.rst",
            category="2. DFT",
        ),
        pdf="results/figures/dft.pdf",
    params:
        plot=config["dft"]["plot"],
        samples=lambda wildcards: plot_samples(),
    log:
        "logs/plot_dft/plot_dft.log",
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/plot_dft.py"
