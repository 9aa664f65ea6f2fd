# Diffusion stage: equivariant score model (and its same-size non-equivariant baseline) trained on
# the campaign's water slabs; unconditional slabs and completions below a fixed top layer;
# metrics against the held-out structures and the ice Ih lattice baseline.
rule diffusion:
    input:
        structures=[structure_path(s) for s in diffusion_split()[0]],
        reference=[structure_path(s) for s in diffusion_split()[1]],
    output:
        checkpoint="results/diffusion/{diffusion_model}/checkpoint.pt",
        history="results/diffusion/{diffusion_model}/train.json",
    params:
        diffusion=diffusion_train_params,
        # resumable state, not an output: a killed job continues from its last epoch
        state="scratch/diffusion/{diffusion_model}/state.pt",
    log:
        "logs/diffusion/{diffusion_model}.log",
    benchmark:
        "logs/diffusion/{diffusion_model}.bench.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=720,
        device=config["diffusion"]["resources"]["device"],
    conda:
        "../../envs/ml.yaml"
    script:
        "../scripts/diffusion_train.py"


rule diffusion_sample:
    input:
        checkpoint="results/diffusion/{diffusion_model}/checkpoint.pt",
        reference=[structure_path(s) for s in diffusion_split()[1]],
    output:
        generated="results/diffusion/{diffusion_model}/samples/generated.extxyz",
        completed="results/diffusion/{diffusion_model}/samples/completed.extxyz",
    params:
        sample=lookup(dpath="diffusion/sample", within=config),
    log:
        "logs/diffusion_sample/{diffusion_model}.log",
    benchmark:
        "logs/diffusion_sample/{diffusion_model}.bench.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
        device=config["diffusion"]["resources"]["device"],
    conda:
        "../../envs/ml.yaml"
    script:
        "../scripts/diffusion_sample.py"


rule diffusion_evaluate:
    input:
        reference=[structure_path(s) for s in diffusion_split()[1]],
        generated="results/diffusion/equivariant/samples/generated.extxyz",
        completed="results/diffusion/equivariant/samples/completed.extxyz",
        baseline_generated="results/diffusion/plain/samples/generated.extxyz",
        baseline_completed="results/diffusion/plain/samples/completed.extxyz",
    output:
        metrics="results/diffusion/equivariant/metrics.json",
        figure=report(
            "results/diffusion/equivariant/evaluation.png",
            caption="../report/diffusion.rst",
            category="6. Diffusion",
        ),
        figure_pdf="results/diffusion/equivariant/evaluation.pdf",
    params:
        data=lookup(dpath="diffusion/data", within=config),
        evaluate=lookup(dpath="diffusion/evaluate", within=config),
    log:
        "logs/diffusion_evaluate/evaluate.log",
    benchmark:
        "logs/diffusion_evaluate/evaluate.bench.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/ml.yaml"
    script:
        "../scripts/diffusion_evaluate.py"
