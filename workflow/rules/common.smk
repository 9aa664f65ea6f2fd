# Config access, sample ids and wildcard constraints shared by every stage.
import glob
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from iceafm.config import describe_validation_error, first_schema_error
from iceafm.data.splits import SPLITS

SCHEMA = os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml")


def _config_source():
    files = [str(f) for f in workflow.configfiles]
    return files[-1] if files else "config"


try:
    validate(config, SCHEMA)
except WorkflowError:
    # Snakemake's message spans a dozen lines; name the key and the expectation in one.
    cause = first_schema_error(config, SCHEMA)
    if cause is None:
        raise
    raise WorkflowError(describe_validation_error(cause, _config_source())) from None


GENERATED_FAMILIES = ("ice_basal", "premelt", "bilayer_metal")


wildcard_constraints:
    family="[a-z_]+",
    index=r"\d{5}",
    sample=r"[a-z_]+-\d{5}",


def family_section(family):
    """The config section of one structure family."""
    return config["structures"]["families"][family]


def import_files():
    """The user's structure files (sorted), one `import` sample each."""
    pattern = family_section("import").get("glob")
    return sorted(glob.glob(pattern)) if pattern else []


def sample_ids():
    """All sample ids `{family}-{index:05d}` of the campaign, in config order."""
    ids = []
    for family in GENERATED_FAMILIES:
        ids += [f"{family}-{i:05d}" for i in range(family_section(family)["count"])]
    ids += [f"import-{i:05d}" for i in range(len(import_files()))]
    return ids


SAMPLES = sample_ids()
if not SAMPLES:
    raise WorkflowError(
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
    return targets

# ---- structures stage: input functions and derived params
def structure_source(wildcards):
    """The user's file for an `import` sample; generated families have no input."""
    if wildcards.family == "import":
        return {"source": import_files()[int(wildcards.index)]}
    return {}


def generator_params(wildcards):
    """The family section minus `count` (adding samples must not rerun existing ones)."""
    if wildcards.family == "import":
        return {}
    return {k: v for k, v in family_section(wildcards.family).items() if k != "count"}


# ---- afm stage: input functions and derived params
def afm_inputs():
    """Input patterns of the afm rule: the structure, plus the DFT potential and record only in
    Hartree mode (patterns, not a per-job function: cheaper to plan at 10,000s of samples)."""
    inputs = {"structure": "results/structures/{sample}.extxyz"}
    if config["afm"]["electrostatics"] == "hartree":
        inputs["hartree"] = "results/dft/{sample}/hartree.cube"
        inputs["dft_json"] = "results/dft/{sample}/dft.json"
    return inputs


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
