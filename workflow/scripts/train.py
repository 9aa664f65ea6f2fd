"""Rule train: dataset splits -> resumable detector training -> checkpoint.pt + train_log.csv."""

from iceafm.io.logs import redirect_output
from iceafm.models.train import run_training

redirect_output(snakemake.log[0])
run_training(
    dict(snakemake.params.train),
    snakemake.input.train,
    snakemake.input.val,
    snakemake.params.state_dir,
    snakemake.output.log_csv,
    snakemake.output.checkpoint,
    threads=snakemake.threads,
)
