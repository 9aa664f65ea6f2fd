"""Diffusion evaluation figure: generated slabs next to a reference (side views), O-O distance
distributions and H-bond statistics against the reference, completion F1 by depth band against
the baselines."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from ase import Atoms
from matplotlib.figure import Figure

from iceafm.diffusion.metrics import RDF_MAX_A, hbond_stats, oo_distances
from iceafm.figures import save_figure
from iceafm.figures.structures import _draw_atoms, _frame

MODEL_COLOURS = {
    "reference": "k",
    "equivariant": "#1f77b4",
    "plain": "#ff7f0e",
    "lattice": "#2ca02c",
}


def plot_diffusion(
    reference: Sequence[Atoms],
    generated: dict[str, Sequence[Atoms]],
    completed: Sequence[Atoms],
    completion_f1: dict[str, dict[str, float]],
    band_labels: Sequence[str],
    *paths: str | os.PathLike,
) -> None:
    """Top row: side views (x-z) of a reference slab, two equivariant samples and one completion
    (fixed top layer drawn faded). Bottom row: O-O pair-distance histograms (A) per model vs the
    reference; H-bonds per molecule; completion O F1 per depth band per method.

    Args:
        reference: held-out slabs. generated: model name -> unconditional samples.
        completed: equivariant completions (``arrays['fixed']`` marks the top layer).
        completion_f1: method -> band label -> F1. band_labels: e.g. ``["0-4 A", "4-8 A"]``.
        paths: output files (.png, .pdf).
    """
    fig = Figure(figsize=(13, 7.5))
    top = fig.subplots(2, 4, gridspec_kw={"height_ratios": [1.0, 1.0]})
    panels = [("reference", reference[0])]
    panels += [
        (f"equivariant sample {k + 1}", a) for k, a in enumerate(generated["equivariant"][:2])
    ]
    panels += [("completion (top layer fixed)", completed[0])]
    for ax in top[0][len(panels) :]:
        ax.axis("off")
    for ax, (title, atoms) in zip(top[0], panels, strict=False):
        shown = atoms.copy()
        if "fixed" in atoms.arrays:
            fixed = atoms.arrays["fixed"].astype(bool)
            _draw_atoms(ax, shown[np.flatnonzero(fixed)], (0, 2), 1)
            for patch in ax.patches:
                patch.set_alpha(0.35)
            _draw_atoms(ax, shown[np.flatnonzero(~fixed)], (0, 2), 1)
        else:
            _draw_atoms(ax, shown, (0, 2), 1)
        _frame(ax, atoms.positions[:, [0, 2]])
        ax.set_title(title, fontsize=9)
    bins = np.linspace(2.0, RDF_MAX_A, 41)
    ax = top[1][0]
    for name, structures in [("reference", reference), *generated.items()]:
        d = np.concatenate([oo_distances(a) for a in structures])
        ax.hist(d, bins=bins, density=True, histtype="step", color=MODEL_COLOURS[name], label=name)
    ax.set_xlabel("O-O distance (A)")
    ax.set_ylabel("pair density")
    ax.legend(fontsize=8)
    ax = top[1][1]
    names = ["reference", *generated]
    values = [hbond_stats(reference)["hbonds_per_molecule"]]
    values += [hbond_stats(s)["hbonds_per_molecule"] for s in generated.values()]
    ax.bar(names, values, color=[MODEL_COLOURS[n] for n in names])
    ax.set_ylabel("H-bonds per molecule")
    ax = top[1][2]
    width = 0.8 / len(completion_f1)
    for k, (name, per_band) in enumerate(completion_f1.items()):
        x = np.arange(len(band_labels)) + k * width
        ax.bar(x, [per_band[b] for b in band_labels], width, color=MODEL_COLOURS[name], label=name)
    ax.set_xticks(np.arange(len(band_labels)) + 0.4 - width / 2, band_labels)
    ax.set_xlabel("depth below topmost O")
    ax.set_ylabel("completion O F1 (1.0 A)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    top[1][3].axis("off")
    fig.tight_layout()
    save_figure(fig, *paths)
