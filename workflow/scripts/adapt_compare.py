"""Rule adapt_compare: every method's metrics -> comparison.csv and the comparison figure."""

from iceafm.adapt.pipeline import run_compare
from iceafm.io.logs import one_line_errors, redirect_output

redirect_output(snakemake.log[0])
with one_line_errors(snakemake.log[0], ValueError, OSError, what="adapt_compare"):
    methods = snakemake.params.methods
    best = run_compare(
        dict(zip(methods, snakemake.input.metrics, strict=True)),
        dict(zip(methods, snakemake.input.predictions, strict=True)),
        dict(snakemake.params.adapt),
        dict(snakemake.params.predict_real),
        snakemake.params.images_dir,
        snakemake.input.train,
        snakemake.input.model,
        snakemake.input.get("translated"),
        snakemake.output.csv,
        (snakemake.output.png, snakemake.output.pdf),
        list(snakemake.input.reference_frames),
    )
    print(f"best method: {best}")
