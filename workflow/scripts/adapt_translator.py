"""Rule adapt_translator: simulated training split + real stacks -> CycleGAN and the translated
split."""

from iceafm.adapt.pipeline import run_translator
from iceafm.io.logs import one_line_errors, redirect_output

redirect_output(snakemake.log[0])
with one_line_errors(snakemake.log[0], ValueError, OSError, what="adapt_translator"):
    run_translator(
        dict(snakemake.params.adapt),
        dict(snakemake.params.predict_real),
        snakemake.params.images_dir,
        snakemake.input.train,
        snakemake.input.model,
        snakemake.params.state_dir,
        snakemake.output.translator,
        snakemake.output.translated,
        snakemake.output.history,
    )
