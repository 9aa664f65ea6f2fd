# Dataset stage: structure-level train/val/test HDF5 files and the exclusion manifest.


rule dataset:
    input:
        afm=expand("results/afm/{sample}.npz", sample=SAMPLES),
        labels=expand("results/labels/{sample}.npz", sample=SAMPLES),
    output:
        **{split: f"results/dataset/{split}.h5" for split in SPLITS},
        manifest="results/dataset/manifest.json",
    params:
        dataset=lookup(dpath="dataset", within=config),
        samples=SAMPLES,
    log:
        "logs/dataset/dataset.log",
    benchmark:
        "logs/dataset/dataset.bench.tsv"
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/afm.yaml"
    script:
        "../scripts/dataset.py"
