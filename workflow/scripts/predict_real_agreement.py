"""Rule predict_real_agreement: O F1 between our prediction on the premelting surface and
AmorAFM's published one, after lateral registration; JSON + overlay figure."""

from iceafm.io.atomic import write_json_atomic
from iceafm.io.logs import one_line_errors, redirect_output
from iceafm.metrics.agreement import amorafm_agreement
from iceafm.predict import configured_stack
from iceafm.provenance import stamp_json_outputs

redirect_output(snakemake.log[0])


def main() -> None:
    section = snakemake.params.predict_real
    stack = configured_stack(section, snakemake.params.images_dir, "amorafm_ice_surface")
    result = amorafm_agreement(
        snakemake.input.xyz,
        snakemake.input.reference,
        figure_path=snakemake.output.png,
        stack=stack,
        all_orientations=True,
    )
    write_json_atomic(snakemake.output.json, result)
    stamp_json_outputs(snakemake.output, section)
    print(result)


with one_line_errors(snakemake.log[0], ValueError, OSError, what="predict_real_agreement"):
    main()
