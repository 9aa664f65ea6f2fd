# iceafm campaign: structures -> GPAW DFT -> ppafm AFM -> labels -> dataset (-> training stages).
# Run: snakemake --profile profiles/local            (demo, config/config.yaml)
#      snakemake --profile slurm --configfile config/paper.yaml   (cluster)
import os
import sys

from snakemake.utils import min_version

min_version("9.27")

# The science package lives in src/; jobs (also in conda envs and on SLURM nodes) import it from here.
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, (SRC, os.getenv("PYTHONPATH")))))
# Shell rules call tools of this Python's environment (gpaw) even when it is not activated;
# appended, so that an activated or per-rule conda env still comes first.
os.environ.update(PATH=os.pathsep.join((os.getenv("PATH", ""), os.path.dirname(sys.executable))))


# The demo config is the default; a --configfile replaces it instead of merging into it.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/structures.smk"
include: "workflow/rules/dft.smk"
include: "workflow/rules/afm.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/adapt.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/diffusion.smk"
include: "workflow/rules/complete_real.smk"
include: "workflow/rules/figures.smk"


rule all:
    input:
        get_final_output(),
    default_target: True
