"""Rule adapt: one domain-adaptation method -> fine-tuned detector, predictions on the real
stacks and label-free metrics."""

from iceafm.adapt.pipeline import run_method
from iceafm.io.logs import one_line_errors, redirect_output
from iceafm.provenance import stamp_json_outputs

redirect_output(snakemake.log[0])
with one_line_errors(snakemake.log[0], ValueError, OSError, what="adapt"):
    metrics = run_method(
        snakemake.wildcards.method,
        dict(snakemake.params.adapt),
        dict(snakemake.params.predict_real),
        dict(snakemake.params.afm),
        snakemake.params.images_dir,
        snakemake.input.train,
        snakemake.input.val,
        snakemake.input.model,
        snakemake.input.get("translated"),
        snakemake.params.state_dir,
        snakemake.output.detector,
        snakemake.output.predictions,
        snakemake.output.metrics,
        snakemake.output.log_csv,
        list(snakemake.input.reference_frames),
    )
    print({k: v for k, v in metrics.items() if not isinstance(v, dict)})
stamp_json_outputs(snakemake.output, snakemake.params.adapt)
