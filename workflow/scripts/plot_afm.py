"""Rule plot_afm: stack + atoms of one sample; hartree vs point charges vs LJ for the same view."""

import dataclasses
import os

import numpy as np
from ase.io import read

from iceafm.afm.cube import read_hartree_cube
from iceafm.afm.errors import AfmError
from iceafm.afm.forcefield import build_force_field, slab_z_range
from iceafm.afm.params import settings_from_config
from iceafm.afm.scan import simulate_stacks
from iceafm.afm.stack import dft_failure, view_seed
from iceafm.afm.views import make_views
from iceafm.figures.afm import plot_electrostatics, plot_stack

log_fd = os.open(snakemake.log[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.dup2(log_fd, 1)
os.dup2(log_fd, 2)  # ppafm's C++ core prints to stdout

sample = snakemake.params.sample
settings = settings_from_config(snakemake.params.afm)
with np.load(snakemake.input.afm) as afm, np.load(snakemake.input.labels) as labels:
    if bool(afm["failed"]):
        # A failed sample still gets a figure that says why.
        plot_electrostatics(
            {"afm": str(afm["reason"])},
            0.0,
            1.0,
            sample,
            [snakemake.output.stack, snakemake.output.stack_pdf],
        )
    else:
        df, heights, pixel = afm["df"][0], afm["heights_a"], float(afm["pixel_size_a"])
        offsets = labels["atoms_offsets"]
        xyz, numbers = labels["atoms_xyz"][: offsets[1]], labels["atoms_number"][: offsets[1]]
        plot_stack(
            df,
            heights,
            pixel,
            xyz,
            numbers,
            f"{sample}, view 0 ({settings.electrostatics})",
            [snakemake.output.stack, snakemake.output.stack_pdf],
        )

# The comparison recomputes view 0 of this one sample in every electrostatics mode.
atoms = read(snakemake.input.structure)
view = make_views(
    np.asarray(atoms.cell), dataclasses.replace(settings.views, count=1), view_seed(sample)
)
z_top = float(atoms.positions[:, 2].max())
z_range = slab_z_range(z_top, settings.scan.heights_a, settings.cantilever.amplitude_a)
images = {}
for mode in ("hartree", "point_charges", "none"):
    hartree = None
    if mode == "hartree":
        failure = dft_failure(snakemake.input.dft_json)
        if failure is not None:
            images[mode] = f"DFT failed:\n{failure}"
            continue
        try:
            hartree = read_hartree_cube(snakemake.input.hartree)
        except AfmError as err:
            images[mode] = str(err)
            continue
    ff = build_force_field(
        atoms,
        mode,
        settings.tip.multipole,
        settings.tip.sigma_a,
        z_range,
        settings.ff_step_a,
        hartree,
    )
    images[mode] = simulate_stacks(
        ff, z_top, view, [settings.tip], settings.cantilever, settings.scan
    )[0, 0, 0]
plot_electrostatics(
    images,
    float(settings.scan.heights_a[0]),
    settings.scan.pixel_size_a,
    sample,
    [snakemake.output.electrostatics, snakemake.output.electrostatics_pdf],
)
