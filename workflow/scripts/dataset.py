"""Rule dataset: all AFM + label files -> results/dataset/{train,val,test}.h5 + manifest.json."""

import logging

from iceafm.data.build import DatasetInputError, DatasetParams, build_dataset
from iceafm.data.splits import SPLITS, SplitConfigError
from iceafm.data.store import DatasetShapeError
from iceafm.io.logs import one_line_errors
from iceafm.io.npz import NpzFileError
from iceafm.provenance import stamp_json_outputs

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)

known = (NpzFileError, DatasetInputError, SplitConfigError, DatasetShapeError)
with one_line_errors(snakemake.log[0], *known, what="rule dataset"):
    manifest = build_dataset(
        snakemake.params.samples,
        snakemake.input.afm,
        snakemake.input.labels,
        {split: snakemake.output[split] for split in SPLITS},
        snakemake.output.manifest,
        DatasetParams.from_config(dict(snakemake.params.dataset)),
    )
stamp_json_outputs(snakemake.output, snakemake.params.dataset)
logging.info(
    "dataset: %d structures included, %d excluded %s",
    manifest["n_included"],
    manifest["n_excluded"],
    manifest["excluded"],
)
