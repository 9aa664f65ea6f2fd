"""Snakemake script of rule ``plot_structures``: overview figure of a few samples (.pdf + .png)."""

from pathlib import Path

from iceafm.figures.structures import plot_structures

pdf, png = Path(snakemake.output.pdf), Path(snakemake.output.png)
if png != pdf.with_suffix(".png"):
    raise ValueError(f"plot_structures: output png {png} must be {pdf.with_suffix('.png')}")
plot_structures(list(snakemake.input), pdf)
