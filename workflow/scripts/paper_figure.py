"""Rules figure_*: one paper figure (.pdf + .png) from the stages' figures and data
(iceafm.figures.paper); the rule's named inputs, in order, are its panels."""

import json

from iceafm.figures.paper import (
    Style,
    completed_surface_panels,
    detection_scores_panel,
    paper_figure,
    premelt_profile_panel,
)
from iceafm.io.logs import one_line_errors

PANELS = {  # input name -> panel title (a figure shows those it has; completed: three panels)
    "structures": "structure families: top and side views",
    "premelt": "premelting: order per bilayer",
    "afm_stack": "AFM stack across tip heights",
    "electrostatics": "Hartree vs point charges (and difference) at the closest height",
    "dft": "DFT Hartree potential and density",
    "evaluation": "predictions over test images",
    "metrics": "precision, recall, F1 by species and depth band",
    "adapt": "domain adaptation methods and label-free metrics",
    "diffusion": "generated layers, RDF, H-bonds, completion by depth band",
    "real_prediction": "network on the real premelting surface",
    "agreement": "beside AmorAFM's published prediction",
}
TITLES = {
    "figure_structures_afm": "Figure 1: structure families and AFM stacks",
    "figure_electrostatics": "Figure 2: DFT Hartree vs point-charge electrostatics",
    "figure_detector": "Figure 3: structure from AFM",
    "figure_adaptation": "Figure 4: domain adaptation on real images",
    "figure_diffusion": "Figure 5: diffusion model of the subsurface",
    "figure_real_surface": "Figure 6: the real premelting ice surface reconstructed",
}


def panels_of(name, files):
    """(title, content) panels of one named input: a PNG path, or functions drawing data panels
    from the input files."""
    if name == "premelt":
        return [(PANELS[name], lambda ax: premelt_profile_panel(ax, list(files)))]
    if name == "metrics":
        with open(files[0]) as f:
            metrics = json.load(f)
        return [(PANELS[name], lambda ax: detection_scores_panel(ax, metrics))]
    if name == "completed":
        return completed_surface_panels(*files)
    return [(PANELS[name], files[0])]


def main() -> None:
    panels = [
        panel
        for name, files in snakemake.input.items()
        for panel in panels_of(name, list(files) if isinstance(files, list) else [files])
    ]
    paper_figure(
        TITLES[snakemake.rule],
        panels,
        Style.from_config(snakemake.params.style),
        [snakemake.output.pdf, snakemake.output.png],
    )


with one_line_errors(snakemake.log[0], OSError, what=f"rule {snakemake.rule}"):
    main()
