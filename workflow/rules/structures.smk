# Structure stage: one extended-XYZ per sample, generated (seeded) or imported; one job per
# batch of samples (workflow/rules/batching.smk), rules named structure__<batch>.


include: "batching.smk"
include: "md.smk"


for _batch in STRUCTURE_BATCHES:

    rule:
        name:
            f"structure__{_batch.name}"
        input:
            **structure_batch_inputs(_batch),
        output:
            # update: Snakemake keeps finished members when the batch reruns (iceafm.batches)
            [update(structure_path(s)) for s in _batch.members],
        params:
            family_params=structure_batch_params(_batch),
            seed=config["structures"]["seed"],
            # (no member list: the params stay the same when a block is split or joined)
        log:
            f"logs/structure/{_batch.name}.log",
        benchmark:
            f"logs/structure/{_batch.name}.bench.tsv"
        group:
            batch_group(_batch, "structure")
        resources:
            mem_mb=1000,
            runtime=lambda wildcards, attempt, n=len(_batch.members): batch_runtime_min(
                "structure", n, attempt
            ),
        conda:
            "../../envs/structures.yaml"
        script:
            "../scripts/structure.py"


rule plot_structures:
    input:
        lambda wildcards: [structure_path(s) for s in plot_samples()],
    output:
        png=report(
            "results/figures/structures.png",
            caption="../report/structures.rst",
            category="1. Structures",
        ),
        pdf="results/figures/structures.pdf",
    log:
        "logs/plot_structures/plot_structures.log",
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/plot_structures.py"


rule all_structures:
    # Stage target: `snakemake all_structures` builds every structure and its figure.
    input:
        [structure_path(s) for s in SAMPLES],
        rules.plot_structures.output,
    default_target: False
