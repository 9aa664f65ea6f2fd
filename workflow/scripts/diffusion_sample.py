"""Rule diffusion_sample: checkpoint + reference slabs -> generated and completed slabs (extxyz)."""

from iceafm.diffusion.data import DiffusionDataError
from iceafm.diffusion.tasks import run_sampling
from iceafm.io.logs import one_line_errors, redirect_output

redirect_output(snakemake.log[0])
with one_line_errors(snakemake.log[0], DiffusionDataError, what="rule diffusion_sample"):
    run_sampling(
        snakemake.input.checkpoint,
        list(snakemake.input.reference),
        dict(snakemake.params.sample),
        snakemake.output.generated,
        snakemake.output.completed,
        device=snakemake.resources.device,
    )
