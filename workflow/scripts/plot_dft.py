"""Rule plot_dft: potential and density overview of the first few samples."""

from iceafm.dft.errors import CubeFormatError, DftFailedError
from iceafm.figures.dft import plot_dft_overview
from iceafm.io.logs import one_line_errors

# The input lists hartree.cube, density.cube, dft.json of each sample, in the order of samples.
files = list(snakemake.input)
samples = [(s, *files[3 * i : 3 * i + 3]) for i, s in enumerate(snakemake.params.samples)]
with one_line_errors(snakemake.log[0], CubeFormatError, DftFailedError, what="rule plot_dft"):
    plot_dft_overview(
        samples,
        snakemake.params.plot["height_above_top_a"],
        snakemake.output.png,
        snakemake.output.pdf,
    )
