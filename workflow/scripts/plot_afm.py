"""Rule plot_afm: stack + atoms of one sample; hartree vs point charges vs LJ for the same view."""

import dataclasses

from ase.io import read

from iceafm.afm.errors import AfmError
from iceafm.afm.params import settings_from_config
from iceafm.afm.stack import dft_failure, simulate_structure, view_seed
from iceafm.figures.afm import plot_electrostatics, plot_stack
from iceafm.io.logs import one_line_errors, redirect_output
from iceafm.io.npz import NpzFileError, open_npz

redirect_output(snakemake.log[0])  # ppafm's C++ core prints to stdout


def main() -> None:
    sample = snakemake.params.sample
    settings = settings_from_config(snakemake.params.afm)
    with open_npz(snakemake.input.afm) as afm, open_npz(snakemake.input.labels) as labels:
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

    # The comparison recomputes view 0 of this one sample in every electrostatics mode; the Hartree
    # one only in a Hartree campaign (the rule asks for a DFT result only then).
    atoms = read(snakemake.input.structure)
    one_view = dataclasses.replace(settings.views, count=1)
    hartree = snakemake.input.get("hartree")
    images = {}
    for mode in ("hartree", "point_charges", "none") if hartree else ("point_charges", "none"):
        failure = dft_failure(snakemake.input.dft_json) if mode == "hartree" else None
        if failure is not None:
            images[mode] = f"DFT failed:\n{failure}"
            continue
        try:
            stack = simulate_structure(
                atoms,
                dataclasses.replace(settings, electrostatics=mode, views=one_view),
                view_seed(sample),
                hartree,
            )
        except AfmError as err:
            images[mode] = str(err)
            continue
        images[mode] = stack.df_hz[0, 0]
    plot_electrostatics(
        images,
        float(settings.scan.heights_a[0]),
        settings.scan.pixel_size_a,
        sample,
        [snakemake.output.electrostatics, snakemake.output.electrostatics_pdf],
    )


with one_line_errors(snakemake.log[0], NpzFileError, AfmError, what="rule plot_afm"):
    main()
