"""Rule evaluate: checkpoint + test split -> metrics.json + evaluation figure."""

import torch

from iceafm.io.logs import redirect_output
from iceafm.models import load_detector
from iceafm.models.evaluate import evaluate_split
from iceafm.provenance import stamp_json_outputs

redirect_output(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
detector = load_detector(snakemake.input.checkpoint, device="cpu")
result = evaluate_split(
    detector,
    snakemake.input.test,
    snakemake.output.metrics,
    (snakemake.output.figure, snakemake.output.figure_pdf),
)
# the model is the train section's: its hash identifies what was evaluated
stamp_json_outputs(snakemake.output, snakemake.config["train"])
print(result["summary"])
