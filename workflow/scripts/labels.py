"""Labels batch rules: each pending sample's structure -> results/labels/{sample}.npz (see
iceafm.labels; batch semantics in iceafm.batches)."""

import logging

import numpy as np
from ase.io import read

from iceafm.afm.params import settings_from_config
from iceafm.afm.stack import view_seed
from iceafm.afm.views import make_views
from iceafm.batches import Member, run_batch
from iceafm.io.logs import one_line_errors
from iceafm.labels import LabelConfigError, LabelParams, LabelStructureError, write_labels_npz

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)

# Only the scan window and the views shape the labels (not the tip): see the rule's params.
config = {"scan": snakemake.params.scan, "views": snakemake.params.views}
settings = settings_from_config(config)
params = LabelParams.from_config(dict(snakemake.params.labels))


def compute(member: Member) -> None:
    atoms = read(member.inputs[0])
    views = make_views(np.asarray(atoms.cell), settings.views, view_seed(member.sample))
    write_labels_npz(member.outputs[0], atoms, views, settings.scan, params)
    logging.info("%s: labels for %d views", member.sample, len(views))


members = [
    Member(sample, (output,), (structure,))
    for sample, output, structure in zip(
        snakemake.params.members, snakemake.output, snakemake.input.structure, strict=True
    )
]
stage_settings = {**config, "labels": dict(snakemake.params.labels)}
known = (LabelConfigError, LabelStructureError)
with one_line_errors(snakemake.log[0], *known, what="rule labels"):
    report = run_batch(members, stage_settings, snakemake.log[0], compute)
logging.info("batch: %d computed, %d kept (up to date)", len(report.computed), len(report.kept))
