# Train stage: the structure-from-AFM detector (iceafm.models) and its test-split evaluation.


rule train:
    input:
        train="results/dataset/train.h5",
        val="results/dataset/val.h5",
    output:
        checkpoint="results/models/{model}/checkpoint.pt",
        log_csv="results/models/{model}/train_log.csv",
    params:
        train=lookup(dpath="train", within=config),
        # resumable state (<config hash>.pt), not an output: a killed job continues from its
        # last finished epoch
        state_dir="scratch/train/{model}",
    log:
        "logs/train/{model}.log",
    benchmark:
        "logs/train/{model}.bench.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=720,
    conda:
        "../../envs/ml.yaml"
    script:
        "../scripts/train.py"


rule evaluate:
    input:
        checkpoint="results/models/{model}/checkpoint.pt",
        test="results/dataset/test.h5",
    output:
        metrics="results/models/{model}/metrics.json",
        figure=report(
            "results/models/{model}/evaluation.png",
            caption="../report/evaluation.rst",
            category="4. Detector",
        ),
        figure_pdf="results/models/{model}/evaluation.pdf",
    log:
        "logs/evaluate/{model}.log",
    benchmark:
        "logs/evaluate/{model}.bench.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/ml.yaml"
    script:
        "../scripts/evaluate.py"
