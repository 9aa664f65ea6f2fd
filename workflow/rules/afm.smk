# AFM stage: ppafm df stacks per sample, labels from the structures, AFM figures.


# One job per batch of samples (workflow/rules/batching.smk): rules afm__<batch>, labels__<batch>.
for _batch in BATCHES:

    rule:
        name:
            f"afm__{_batch.name}"
        input:
            **afm_batch_inputs(_batch),
        output:
            # update: Snakemake keeps finished members when the batch reruns (iceafm.batches)
            [update(f"results/afm/{s}.npz") for s in _batch.members],
        params:
            afm=afm_params(),
            members=list(_batch.members),
        log:
            f"logs/afm/{_batch.name}.log",
        benchmark:
            f"logs/afm/{_batch.name}.bench.tsv"
        group:
            batch_group(_batch, "afm")
        threads: 1
        resources:
            # a batch killed for memory comes back with twice as much
            mem_mb=lambda wildcards, attempt: 2000 * attempt,
            runtime=lambda wildcards, attempt, n=len(_batch.members): batch_runtime_min(
                "afm", n, attempt
            ),
        conda:
            "../../envs/afm.yaml"
        script:
            "../scripts/afm.py"

    rule:
        name:
            f"labels__{_batch.name}"
        input:
            structure=[structure_path(s) for s in _batch.members],
        output:
            [update(f"results/labels/{s}.npz") for s in _batch.members],
        params:
            labels=lookup(dpath="labels", within=config),
            scan=lookup(dpath="afm/scan", within=config),
            views=lookup(dpath="afm/views", within=config),
            members=list(_batch.members),
        log:
            f"logs/labels/{_batch.name}.log",
        benchmark:
            f"logs/labels/{_batch.name}.bench.tsv"
        group:
            batch_group(_batch, "labels")
        resources:
            mem_mb=500,
            runtime=lambda wildcards, attempt, n=len(_batch.members): batch_runtime_min(
                "labels", n, attempt
            ),
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
        afm=afm_params(),
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
