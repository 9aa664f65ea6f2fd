"""Rule diffusion_evaluate: samples of both networks + reference slabs -> metrics.json + figure."""

from iceafm.diffusion.data import DiffusionDataError
from iceafm.diffusion.evaluate import run_evaluation
from iceafm.io.logs import one_line_errors, redirect_output
from iceafm.provenance import stamp_json_outputs

redirect_output(snakemake.log[0])
with one_line_errors(snakemake.log[0], DiffusionDataError, what="rule diffusion_evaluate"):
    run_evaluation(
        list(snakemake.input.reference),
        {
            "equivariant": (snakemake.input.generated, snakemake.input.completed),
            "plain": (snakemake.input.baseline_generated, snakemake.input.baseline_completed),
        },
        dict(snakemake.params.data),
        dict(snakemake.params.evaluate),
        snakemake.output.metrics,
        [snakemake.output.figure, snakemake.output.figure_pdf],
    )
stamp_json_outputs(snakemake.output, dict(snakemake.params.items()))
