# Structure stage: one extended-XYZ per sample, generated (seeded) or imported.


rule structure:
    input:
        unpack(structure_source),
    output:
        "results/structures/{family}-{index}.extxyz",
    params:
        family_params=generator_params,
        seed=lookup(dpath="structures/seed", within=config),
    log:
        "logs/structure/{family}-{index}.log",
    benchmark:
        "logs/structure/{family}-{index}.bench.tsv"
    resources:
        mem_mb=1000,
        runtime=30,
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
