"""Rule predict_real: one real AFM stack -> results/predict_real/{stack}.extxyz and .png."""

from pathlib import Path

from iceafm.io.logs import one_line_errors, redirect_output
from iceafm.models import load_detector
from iceafm.predict import configured_stack, predict_stack, write_prediction

redirect_output(snakemake.log[0])


def main() -> None:
    section = snakemake.params.predict_real
    stack = configured_stack(section, snakemake.params.images_dir, snakemake.wildcards.stack)
    det = load_detector(snakemake.input.model, device="cpu")
    label = section["model"] or "shipped (iceafm.models.PRETRAINED)"
    prediction = predict_stack(det, stack, label, section["line_correction"], section["refine"])
    xyz, png = write_prediction(Path(snakemake.output.xyz).parent, prediction)
    assert (str(xyz), str(png)) == (snakemake.output.xyz, snakemake.output.png)
    print(f"{stack.name}: {prediction.symbols.count('O')} O, {prediction.symbols.count('H')} H")
    print("\n".join(f"{k}: {v}" for k, v in prediction.info.items()))


with one_line_errors(snakemake.log[0], ValueError, OSError, what="predict_real"):
    main()
