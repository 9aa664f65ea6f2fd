# Adapt stage: domain adaptation to the real images (iceafm.adapt), config section adapt.
# Translator (CycleGAN) once, then one fine-tune + label-free evaluation per method, then the
# comparison table and figure. Real-image reading conventions: config section predict_real.


def adapt_images_dir():
    """The experimental images folder of adapt: absolute, or relative to the repository root."""
    folder = config["adapt"]["images_dir"]
    return folder if os.path.isabs(folder) else os.path.join(workflow.basedir, folder)


def adapt_image_files():
    """Every file of the configured real stacks ([] if the folder is absent)."""
    folder = adapt_images_dir()
    if not os.path.isdir(folder):
        return []
    files = []
    for entry in config["adapt"]["inputs"]:
        try:
            found = stack_files(os.path.join(folder, entry))
        except StackReadError as err:
            stop_before_any_job(f"config adapt.inputs: {err}")
        files += [str(f) for stack in found.values() for f in stack]
    return files


def adapt_base_model():
    """The detector every method fine-tunes: adapt.base_model, else the campaign's model."""
    return config["adapt"]["base_model"] or f"results/models/{config['train']['name']}/checkpoint.pt"


def adapt_translated(wildcards=None):
    """The translated split, for the methods that need it."""
    methods = [wildcards.method] if wildcards is not None else config["adapt"]["methods"]
    if set(methods) & {"cyclegan", "hybrid"}:
        return {"translated": "results/adapt/translator/train_translated.h5"}
    return {}


def adapt_targets():
    """The comparison for the default target, when enabled, configured and the images exist."""
    section = config["adapt"]
    if not (section["in_default_target"] and section["methods"] and adapt_image_files()):
        return []
    return ["results/adapt/comparison.csv", "results/adapt/comparison.png"]


rule adapt_translator:
    input:
        train="results/dataset/train.h5",
        model=adapt_base_model(),
        files=adapt_image_files(),
    output:
        translator="results/adapt/translator/translator.pt",
        translated="results/adapt/translator/train_translated.h5",
        history="results/adapt/translator/history.csv",
    params:
        adapt=lookup(dpath="adapt", within=config),
        predict_real=lookup(dpath="predict_real", within=config),
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
        files=adapt_image_files(),
    output:
        detector="results/adapt/{method}/detector.pt",
        predictions="results/adapt/{method}/predictions.extxyz",
        metrics="results/adapt/{method}/metrics.json",
        log_csv="results/adapt/{method}/finetune_log.csv",
    params:
        adapt=lookup(dpath="adapt", within=config),
        predict_real=lookup(dpath="predict_real", within=config),
        afm=lookup(dpath="afm", within=config),
        images_dir=adapt_images_dir(),
        state_dir="scratch/adapt/{method}",
    wildcard_constraints:
        method="none|augment|cyclegan|hybrid",
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
        files=adapt_image_files(),
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
        predict_real=lookup(dpath="predict_real", within=config),
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
