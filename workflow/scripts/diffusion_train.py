"""Rule diffusion: campaign structures -> resumable score-model training -> checkpoint + history."""

from iceafm.diffusion.data import DiffusionDataError
from iceafm.diffusion.train import run_training
from iceafm.io.logs import one_line_errors, redirect_output
from iceafm.provenance import inputs_key, stamp_json_outputs

redirect_output(snakemake.log[0])
# the resumable state belongs to these structure files: remade or added ones start afresh
inputs = [*snakemake.input.structures, *snakemake.input.reference]
state = snakemake.params.state.removesuffix(".pt") + f"-{inputs_key(inputs)}.pt"
with one_line_errors(snakemake.log[0], DiffusionDataError, what="rule diffusion"):
    run_training(
        dict(snakemake.params.diffusion),
        list(snakemake.input.structures),
        list(snakemake.input.reference),
        state,
        snakemake.output.checkpoint,
        snakemake.output.history,
        device=snakemake.resources.device,
    )
stamp_json_outputs(snakemake.output, snakemake.params.diffusion)
