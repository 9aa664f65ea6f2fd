"""Rule dataset: all AFM + label files -> results/dataset/{train,val,test}.h5 + manifest.json."""

import logging

from iceafm.data.build import DatasetParams, build_dataset
from iceafm.data.splits import SPLITS

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)

manifest = build_dataset(
    snakemake.params.samples,
    snakemake.input.afm,
    snakemake.input.labels,
    {split: snakemake.output[split] for split in SPLITS},
    snakemake.output.manifest,
    DatasetParams.from_config(dict(snakemake.params.dataset)),
)
logging.info(
    "dataset: %d structures included, %d excluded %s",
    manifest["n_included"],
    manifest["n_excluded"],
    manifest["excluded"],
)
