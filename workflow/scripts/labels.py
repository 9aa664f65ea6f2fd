"""Rule labels: one structure -> results/labels/{sample}.npz (see iceafm.labels)."""

import logging

import numpy as np
from ase.io import read

from iceafm.afm.params import settings_from_config
from iceafm.afm.stack import view_seed
from iceafm.afm.views import make_views
from iceafm.labels import LabelParams, write_labels_npz

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)

sample = snakemake.wildcards.sample
# Only the scan window and the views shape the labels (not the tip): see the rule's params.
settings = settings_from_config({"scan": snakemake.params.scan, "views": snakemake.params.views})
atoms = read(snakemake.input.structure)
views = make_views(np.asarray(atoms.cell), settings.views, view_seed(sample))
params = LabelParams.from_config(dict(snakemake.params.labels))
write_labels_npz(snakemake.output[0], atoms, views, settings.scan, params)
logging.info("%s: labels for %d views", sample, len(views))
