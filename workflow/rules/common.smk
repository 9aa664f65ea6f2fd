# Config access, sample ids and wildcard constraints shared by every stage.
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from iceafm.config import describe_validation_error, first_schema_error
from iceafm.config_checks import (
    ConfigCheckError,
    check_config,
    check_config_files,
    check_import_files,
    import_files as checked_import_files,
)
from iceafm.data.splits import SPLITS

SCHEMA = os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml")


def _config_source():
    files = [str(f) for f in workflow.configfiles]
    return files[-1] if files else "config"


def stop_before_any_job(line):
    """End the run with one line on stderr and exit status 1. A raised WorkflowError would
    print 'WorkflowError in file common.smk' and a traceback frame before the message."""
    raise SystemExit(line)


try:
    # Duplicate keys (which YAML resolves silently) and syntax, as file:line.
    check_config_files(workflow.configfiles)
    validate(config, SCHEMA)
except ConfigCheckError as err:
    stop_before_any_job(str(err))
except WorkflowError:
    # Snakemake's message spans a dozen lines; name the key and the expectation in one.
    cause = first_schema_error(config, SCHEMA)
    if cause is None:
        raise
    stop_before_any_job(describe_validation_error(cause, _config_source()))


GENERATED_FAMILIES = ("ice_basal", "premelt", "bilayer_metal")


wildcard_constraints:
    family="[a-z_]+",
    index=r"\d{5}",
    sample=r"[a-z_]+-\d{5}",


def family_section(family):
    """The config section of one structure family."""
    return config["structures"]["families"][family]


def import_files():
    """The user's structure files (sorted), one `import` sample each; names checked."""
    pattern = family_section("import").get("glob")
    return checked_import_files(pattern, _config_source()) if pattern else []


def sample_ids():
    """All sample ids `{family}-{index:05d}` of the campaign, in config order."""
    ids = []
    for family in GENERATED_FAMILIES:
        ids += [f"{family}-{i:05d}" for i in range(family_section(family)["count"])]
    ids += [f"import-{i:05d}" for i in range(len(import_files()))]
    return ids


try:
    SAMPLES = sample_ids()
    # Cross-field constraints, a memory estimate and every atom of every import, before any job.
    check_config(config, workflow.configfiles, len(SAMPLES))
    if workflow.is_main_process:  # jobs re-read the workflow: check the imports once per run
        check_import_files(import_files())
except ConfigCheckError as err:
    stop_before_any_job(str(err))
if not SAMPLES:
    stop_before_any_job(
        f"{_config_source()}: 'structures.families' yields no sample: set a family's "
        "count > 0 or an import glob that matches files"
    )


def family_of(sample):
    """Family name of a sample id (`ice_basal-00003` -> `ice_basal`)."""
    return sample.rsplit("-", 1)[0]


def structure_path(sample):
    return f"results/structures/{sample}.extxyz"


def plot_samples():
    """The first few samples, spread over families, that overview figures show."""
    n = config["execution"]["plot_samples"]
    by_family = {}
    for sample in SAMPLES:
        by_family.setdefault(family_of(sample), []).append(sample)
    picked = []
    while len(picked) < min(n, len(SAMPLES)):
        for members in by_family.values():
            if members and len(picked) < n:
                picked.append(members.pop(0))
    return picked


def get_final_output():
    """Targets of the default rule: every stage's products and figures that this config enables."""
    targets = [structure_path(s) for s in SAMPLES]
    targets += ["results/figures/structures.png", "results/figures/structures.pdf"]
    if config["afm"]["electrostatics"] == "hartree":
        targets += [f"results/dft/{s}/dft.json" for s in SAMPLES]
        targets += ["results/figures/dft.png", "results/figures/dft.pdf"]
    targets += afm_targets()
    model = config["train"]["name"]
    products = ("checkpoint.pt", "metrics.json", "evaluation.png")
    targets += [f"results/models/{model}/{product}" for product in products]
    return targets

# ---- afm stage: input functions and derived params
def plot_afm_dft_inputs():
    """The DFT potential and record of the AFM figure's sample, only in Hartree mode: a
    point-charge or LJ-only campaign runs no DFT job."""
    if config["afm"]["electrostatics"] != "hartree":
        return {}
    return {
        "hartree": lambda wildcards: f"results/dft/{plot_samples()[0]}/hartree.cube",
        "dft_json": lambda wildcards: f"results/dft/{plot_samples()[0]}/dft.json",
    }


def afm_targets():
    """Products of the AFM and dataset stages for the default target: dataset splits, manifest and figures."""
    return [
        *expand("results/dataset/{split}.h5", split=SPLITS),
        "results/dataset/manifest.json",
        "results/figures/afm_stack.png",
        "results/figures/afm_electrostatics.png",
    ]
