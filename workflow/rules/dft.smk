# DFT stage: one GPAW calculation per structure (MPI, retried with more robust SCF settings).
import json

from iceafm.dft.settings import result_section


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
        # The dft section minus `resources` and `plot`, which do not shape the result.
        settings=json.dumps(result_section(config["dft"]), sort_keys=True),
    log:
        "logs/dft/{sample}.log",
    # No benchmark: Snakemake refuses it on cached rules. dft.json holds wall/core seconds and
    # the GPAW log its peak memory ("Max RSS").
    cache: True
    retries: config["dft"]["retries"]
    resources:
        # The SLURM plugin's MPI flag: several ranks make an MPI job started by mpi_launcher
        # (profiles/slurm sets srun); one rank is a plain one-task job that runs gpaw directly
        # (the plugin refuses 1-task MPI jobs).
        mpi="mpi" if config["dft"]["resources"]["ranks"] > 1 else "",
        mpi_launcher="mpiexec",
        tasks=config["dft"]["resources"]["ranks"],
        mem_mb=lambda wildcards, attempt: (
            config["dft"]["resources"]["mem_mb_per_rank"]
            * config["dft"]["resources"]["ranks"]
            * attempt
        ),
        runtime=lambda wildcards, attempt: config["dft"]["resources"]["runtime_min"] * attempt,
        attempt=lambda wildcards, attempt: attempt,
        checkpoint_every=config["dft"]["resources"]["checkpoint_every"],
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
