# MD stage: TIP4P/Ice trajectories (OpenMM) of an ice slab, one job per trajectory; the premelt
# family's structure jobs take their samples from the frames (iceafm.structures.premelt), and
# rule adapt's label-free reference from held-out twins (rule md_reference).
import json

from iceafm.dft.batch import site_resources

MD_RESOURCES = family_section("premelt")["resources"]
# With GPUs, MD runs on the partition the profile gives the GPU rules (set-resources of rule
# train, profiles/slurm: its gpu partition); CPU MD stays on the default partition.
MD_SITE = (
    site_resources(workflow.resource_settings.overwrite_resources, "train", ("slurm_partition",))
    if MD_RESOURCES["gpus"]
    else {}
)


rule md:
    output:
        "results/md/premelt/traj{traj}.extxyz",
    params:
        settings=json.dumps(premelt_md_settings(), sort_keys=True),
        seed=config["structures"]["seed"],
        # in params (not only the file name), so that the between-workflow cache keys differ
        trajectory=lambda wildcards: int(wildcards.traj),
        # resumable state, not an output: a killed or failed job continues from it
        checkpoint=lambda wildcards: f"scratch/md/premelt/traj{wildcards.traj}.npz",
    log:
        "logs/md/premelt/traj{traj}.log",
    # No benchmark: Snakemake refuses it on cached rules; the log has the wall time.
    cache: True
    wildcard_constraints:
        traj=r"\d{3}",
    threads: MD_RESOURCES["threads"]
    resources:
        mem_mb=MD_RESOURCES["mem_mb"],
        runtime=lambda wildcards, attempt: MD_RESOURCES["runtime_min"] * attempt,
        gpu=MD_RESOURCES["gpus"],
        platform=MD_RESOURCES["platform"],
        checkpoint_every_ps=MD_RESOURCES["checkpoint_every_ps"],
        **MD_SITE,
    conda:
        "../../envs/md.yaml"
    script:
        "../scripts/md.py"


# The held-out twin of a trajectory (own proton disorder and thermostat seed, same settings):
# the label-free reference of rule adapt (adapt.evaluation.reference), never a training sample.
use rule md as md_reference with:
    output:
        "results/md/premelt_reference/traj{traj}.extxyz",
    params:
        settings=json.dumps({**premelt_md_settings(), "held_out": True}, sort_keys=True),
        seed=config["structures"]["seed"],
        trajectory=lambda wildcards: int(wildcards.traj),
        checkpoint=lambda wildcards: f"scratch/md/premelt_reference/traj{wildcards.traj}.npz",
    log:
        "logs/md/premelt_reference/traj{traj}.log",
