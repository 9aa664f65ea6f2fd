# Predict stage: the detector on real AFM images (iceafm predict), config section predict_real.
# Input functions and the stack list: common.smk (predict stage section).


rule predict_real:
    input:
        files=lambda wildcards: PREDICT_STACKS[wildcards.stack],
        model=predict_model_path(),
    output:
        xyz="results/predict_real/{stack}.extxyz",
        png=report(
            "results/predict_real/{stack}.png",
            caption="../report/predict_real.rst",
            category="5. Real images",
        ),
    params:
        predict_real=lookup(dpath="predict_real", within=config),
        images_dir=predict_images_dir(),
    wildcard_constraints:
        stack="|".join(re.escape(stack) for stack in PREDICT_STACKS) or "(?!)",
    log:
        "logs/predict_real/{stack}.log",
    benchmark:
        "logs/predict_real/{stack}.bench.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/ml.yaml"
    script:
        "../scripts/predict_real.py"


rule predict_real_agreement:
    input:
        xyz="results/predict_real/amorafm_ice_surface.extxyz",
        reference=lambda wildcards: predict_reference(),
        files=lambda wildcards: PREDICT_STACKS["amorafm_ice_surface"],
    output:
        json="results/predict_real/amorafm_agreement.json",
        png=report(
            "results/predict_real/amorafm_agreement.png",
            caption="../report/predict_real_agreement.rst",
            category="5. Real images",
        ),
    params:
        predict_real=lookup(dpath="predict_real", within=config),
        images_dir=predict_images_dir(),
    log:
        "logs/predict_real/amorafm_agreement.log",
    benchmark:
        "logs/predict_real/amorafm_agreement.bench.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/ml.yaml"
    script:
        "../scripts/predict_real_agreement.py"
