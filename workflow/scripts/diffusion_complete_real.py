"""Rule diffusion_complete_real: predicted top layer + diffusion checkpoint -> completed slab
(extxyz), summary (JSON with provenance) and figure."""

from iceafm.diffusion.real_surface import RealSurfaceError, run_completion
from iceafm.io.logs import one_line_errors, redirect_output
from iceafm.provenance import stamp_json_outputs

redirect_output(snakemake.log[0])
with one_line_errors(snakemake.log[0], RealSurfaceError, OSError, what="diffusion_complete_real"):
    summary = run_completion(
        snakemake.input.prediction,
        snakemake.input.checkpoint,
        dict(snakemake.params.sample),
        snakemake.output.slab,
        snakemake.output.summary,
        (snakemake.output.png, snakemake.output.pdf),
        device=snakemake.resources.device,
    )
    stamp_json_outputs([snakemake.output.summary], dict(snakemake.params.sample))
    print(summary)
