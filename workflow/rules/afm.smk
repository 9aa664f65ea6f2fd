# AFM stage: ppafm df stacks per sample, labels from the structures, AFM figures.


rule afm:
    input:
        **afm_inputs(),
    output:
        "results/afm/{sample}.npz",
    params:
        afm=lookup(dpath="afm", within=config),
    log:
        "logs/afm/{sample}.log",
    benchmark:
        "logs/afm/{sample}.bench.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/afm.yaml"
    script:
        "../scripts/afm.py"


rule labels:
    input:
        structure="results/structures/{sample}.extxyz",
    output:
        "results/labels/{sample}.npz",
    params:
        labels=lookup(dpath="labels", within=config),
        scan=lookup(dpath="afm/scan", within=config),
        views=lookup(dpath="afm/views", within=config),
    log:
        "logs/labels/{sample}.log",
    benchmark:
        "logs/labels/{sample}.bench.tsv"
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/afm.yaml"
    script:
        "../scripts/labels.py"


rule plot_afm:
    input:
        structure=lambda wildcards: structure_path(plot_samples()[0]),
        afm=lambda wildcards: f"results/afm/{plot_samples()[0]}.npz",
        labels=lambda wildcards: f"results/labels/{plot_samples()[0]}.npz",
        # The Hartree panel (and so a DFT job) only in a Hartree campaign.
        **plot_afm_dft_inputs(),
    output:
        stack=report(
            "results/figures/afm_stack.png",
            caption="../report/afm_stack.rst",
            category="3. AFM",
        ),
        stack_pdf="results/figures/afm_stack.pdf",
        electrostatics=report(
            "results/figures/afm_electrostatics.png",
            caption="../report/afm_electrostatics.rst",
            category="3. AFM",
        ),
        electrostatics_pdf="results/figures/afm_electrostatics.pdf",
    params:
        afm=lookup(dpath="afm", within=config),
        sample=lambda wildcards: plot_samples()[0],
    log:
        "logs/plot_afm/plot_afm.log",
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/afm.yaml"
    script:
        "../scripts/plot_afm.py"
