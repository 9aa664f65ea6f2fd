"""Rule plot_dft: potential and density overview of the first few samples."""

from iceafm.figures.dft import plot_dft_overview

files = list(snakemake.input)
samples = [(path.split("/")[-2], *files[i : i + 3]) for i, path in enumerate(files) if i % 3 == 0]
plot_dft_overview(
    samples,
    snakemake.params.plot["height_above_top_a"],
    snakemake.output.png,
    snakemake.output.pdf,
)
