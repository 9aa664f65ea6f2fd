"""Rule plot_dft: potential and density overview of the first few samples."""

from iceafm.figures.dft import plot_dft_overview

files = list(snakemake.input)  # noqa: F821
samples = [(path.split("/")[-2], *files[i : i + 3]) for i, path in enumerate(files) if i % 3 == 0]
plot_dft_overview(
    samples,
    snakemake.params.plot["height_above_top_a"],  # noqa: F821
    snakemake.output.png,  # noqa: F821
    snakemake.output.pdf,  # noqa: F821
)
