# Adapt stage: domain adaptation to the real images (iceafm.adapt), config section adapt.
# Translator (CycleGAN) once, then one fine-tune + label-free evaluation per method, then the
# comparison table and figure. Real-image reading conventions: config section predict_real.
# Input functions: common.smk (adapt stage section).


rule adapt_translator:
    input:
        train="results/dataset/train.h5",
        model=adapt_base_model(),
        files=lambda wildcards: adapt_image_files(),
    output:
        translator="results/adapt/translator/translator.pt",
        translated="results/adapt/translator/train_translated.h5",
        history="results/adapt/translator/history.csv",
    params:
        # what the CycleGAN reads of the adapt section: a fine-tune or evaluation edit
        # leaves it alone
        adapt={key: config["adapt"][key] for key in ("inputs", "seed", "device", "translator")},
        predict_real=predict_reader(),
        images_dir=adapt_images_dir(),
        # resumable state (<config hash>.pt), not an output: a killed job continues
        state_dir="scratch/adapt/translator",
    log:
        "logs/adapt/translator.log",
    benchmark:
        "logs/adapt/translator.bench.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=480,
    conda:
        "../../envs/ml.yaml"
    script:
        "../scripts/adapt_translator.py"


rule adapt:
    input:
        unpack(adapt_translated),
        train="results/dataset/train.h5",
        val="results/dataset/val.h5",
        model=adapt_base_model(),
        files=lambda wildcards: adapt_image_files(),
        # the label-free reference's held-out MD (adapt.evaluation.reference; none: training)
        reference_frames=adapt_reference_frames(),
    output:
        detector="results/adapt/{method}/detector.pt",
        predictions="results/adapt/{method}/predictions.extxyz",
        metrics="results/adapt/{method}/metrics.json",
        log_csv="results/adapt/{method}/finetune_log.csv",
    params:
        adapt=lookup(dpath="adapt", within=config),
        predict_real=predict_reader(),
        afm=afm_params(),
        images_dir=adapt_images_dir(),
        state_dir="scratch/adapt/{method}",
    wildcard_constraints:
        method="none|augment|cyclegan|hybrid|adversarial",
    log:
        "logs/adapt/{method}.log",
    benchmark:
        "logs/adapt/{method}.bench.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=480,
    conda:
        "../../envs/ml.yaml"
    script:
        "../scripts/adapt.py"


rule adapt_compare:
    input:
        **adapt_translated(),
        metrics=expand("results/adapt/{method}/metrics.json", method=config["adapt"]["methods"]),
        predictions=expand(
            "results/adapt/{method}/predictions.extxyz", method=config["adapt"]["methods"]
        ),
        train="results/dataset/train.h5",
        model=adapt_base_model(),
        files=lambda wildcards: adapt_image_files(),
        reference_frames=adapt_reference_frames(),
    output:
        csv=report(
            "results/adapt/comparison.csv",
            caption="../report/adapt_comparison.rst",
            category="6. Domain adaptation",
        ),
        png=report(
            "results/adapt/comparison.png",
            caption="../report/adapt_figure.rst",
            category="6. Domain adaptation",
        ),
        pdf="results/adapt/comparison.pdf",
    params:
        adapt=lookup(dpath="adapt", within=config),
        predict_real=predict_reader(),
        methods=config["adapt"]["methods"],
        images_dir=adapt_images_dir(),
    log:
        "logs/adapt/compare.log",
    benchmark:
        "logs/adapt/compare.bench.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/ml.yaml"
    script:
        "../scripts/adapt_compare.py"
