# Config access, sample ids and wildcard constraints shared by every stage.
import os
import re

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
from iceafm.data.splits import SPLITS, split_samples
from iceafm.io.stacks import StackReadError, stack_files
from iceafm.structures.premelt import trajectory_temperatures

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


GENERATED_FAMILIES = ("ice_basal", "premelt", "bilayer_metal", "cluster_metal")


wildcard_constraints:
    family="[a-z_]+",
    index=r"\d{5}",
    sample=r"[a-z_]+-\d{5}",
    diffusion_model="equivariant|plain",


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


def afm_params():
    """The ``afm`` section as rules take it, without a ``tip_ranges`` that varies nothing: the
    section, and so each AFM batch's params and member stamps, reads as before that key existed
    (upgrading reruns no campaign's AFM)."""
    section = dict(config["afm"])
    if not any(section.get("tip_ranges", {}).values()):
        section.pop("tip_ranges", None)
    return section


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
    # Every structure (and DFT record in Hartree mode) is an input of the dataset's AFM jobs:
    # listing them here too would only add 2 lookups per sample to planning.
    targets = ["results/figures/structures.png", "results/figures/structures.pdf"]
    if config["afm"]["electrostatics"] == "hartree":
        targets += ["results/figures/dft.png", "results/figures/dft.pdf"]
    targets += afm_targets()
    model = config["train"]["name"]
    products = ("checkpoint.pt", "metrics.json", "evaluation.png")
    targets += [f"results/models/{model}/{product}" for product in products]
    targets += predict_real_targets()
    targets += adapt_targets()
    targets += diffusion_targets()
    targets += paper_figure_targets()
    return targets


# ---- md stage (md.smk): the premelt trajectories' settings and frames files
def premelt_md_settings():
    """The premelt section minus `count` (adding samples reruns no MD) and `resources`."""
    section = family_section("premelt")
    return {k: v for k, v in section.items() if k not in ("count", "resources")}


def premelt_md_frames():
    """Frames file of every premelt trajectory, in trajectory order (none when count is 0)."""
    if family_section("premelt")["count"] == 0:
        return []
    n = len(trajectory_temperatures(premelt_md_settings()))
    return [f"results/md/premelt/traj{t:03d}.extxyz" for t in range(n)]


def premelt_reference_frames():
    """Frames file of the held-out twin (rule md_reference) of the first trajectory at each
    premelt temperature, in temperature order."""
    settings = premelt_md_settings()
    step = int(settings["trajectories_per_temperature"])
    n = len(trajectory_temperatures(settings))
    return [f"results/md/premelt_reference/traj{t:03d}.extxyz" for t in range(0, n, step)]


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


# ---- predict stage: real images (iceafm.io.stacks), input functions and the stack list
def predict_images_dir():
    """The experimental images folder: absolute, or relative to the repository root."""
    folder = config["predict_real"]["images_dir"]
    return folder if os.path.isabs(folder) else os.path.join(workflow.basedir, folder)


def predict_model_path():
    """The detector checkpoint: the configured one (absolute, or relative to the working
    directory, e.g. a campaign's results/models/<name>/checkpoint.pt), else the shipped model."""
    # iceafm.models.PRETRAINED, without importing torch while planning
    shipped = os.path.join(SRC, "iceafm", "models", "pretrained", "detector.pt")
    return config["predict_real"]["model"] or shipped


def predict_stacks():
    """{stack name: [files]} of every configured input under the images folder ({} if absent)."""
    folder = predict_images_dir()
    if not os.path.isdir(folder):
        return {}
    stacks = {}
    for name in config["predict_real"]["inputs"]:
        try:
            found = stack_files(os.path.join(folder, name))
        except StackReadError as err:
            stop_before_any_job(f"config predict_real.inputs: {err}")
        for stack, files in found.items():
            if stack in stacks:
                stop_before_any_job(f"config predict_real.inputs: stack {stack!r} occurs twice")
            stacks[stack] = [str(f) for f in files]
    return stacks


PREDICT_STACKS = predict_stacks()


def predict_reference():
    """AmorAFM's published prediction, if configured and present, else None."""
    ref = config["predict_real"]["amorafm_reference"]
    if not ref or "amorafm_ice_surface" not in PREDICT_STACKS:
        return None
    path = os.path.join(predict_images_dir(), ref)
    return path if os.path.isfile(path) else None


def predict_real_targets():
    """Predictions and figures of the real images, only where the images folder and the model
    exist (a fresh clone elsewhere may lack ../shared; a campaign model under results/ counts)."""
    model = predict_model_path()
    if not PREDICT_STACKS or not (os.path.isfile(model) or model.startswith("results/")):
        return []
    targets = [
        f"results/predict_real/{stack}.{ext}" for stack in PREDICT_STACKS for ext in ("extxyz", "png")
    ]
    if predict_reference():
        targets += [f"results/predict_real/amorafm_agreement.{ext}" for ext in ("json", "png")]
    return targets


# ---- adapt stage: domain adaptation (adapt.smk), input functions
def predict_reader():
    """How adapt reads the real stacks: the predict_real section without its refinement (which
    only rule predict_real applies), so a refinement edit reruns no adapt job."""
    return {k: v for k, v in config["predict_real"].items() if k != "refine"}


def adapt_images_dir():
    """The experimental images folder of adapt: absolute, or relative to the repository root."""
    folder = config["adapt"]["images_dir"]
    return folder if os.path.isabs(folder) else os.path.join(workflow.basedir, folder)


def adapt_image_files():
    """Every file of the configured real stacks ([] if the folder is absent)."""
    folder = adapt_images_dir()
    if not os.path.isdir(folder):
        return []
    files = []
    for entry in config["adapt"]["inputs"]:
        try:
            found = stack_files(os.path.join(folder, entry))
        except StackReadError as err:
            stop_before_any_job(f"config adapt.inputs: {err}")
        files += [str(f) for stack in found.values() for f in stack]
    return files


def adapt_base_model():
    """The detector every method fine-tunes: adapt.base_model, else the campaign's model."""
    return config["adapt"]["base_model"] or f"results/models/{config['train']['name']}/checkpoint.pt"


def adapt_translated(wildcards=None):
    """The translated split, for the methods that need it."""
    methods = [wildcards.method] if wildcards is not None else config["adapt"]["methods"]
    if set(methods) & {"cyclegan", "hybrid"}:
        return {"translated": "results/adapt/translator/train_translated.h5"}
    return {}


def adapt_reference_frames():
    """The held-out MD of the label-free reference (adapt.evaluation.reference: premelt_md, or
    auto in a campaign with premelt samples), else none: the training structures."""
    reference = config["adapt"]["evaluation"]["reference"]
    if reference == "auto":
        reference = "premelt_md" if family_section("premelt")["count"] > 0 else "training"
    return premelt_reference_frames() if reference == "premelt_md" else []


def adapt_targets():
    """The comparison for the default target, when enabled, configured and the images exist."""
    section = config["adapt"]
    if not (section["in_default_target"] and section["methods"] and adapt_image_files()):
        return []
    return ["results/adapt/comparison.csv", "results/adapt/comparison.png"]


# ---- diffusion stage: training/reference split, training params, default targets
DIFFUSION_MODELS = ("equivariant", "plain")


def diffusion_split():
    """(training samples, reference samples): the campaign's structure split (dataset.fractions,
    dataset.seed) over the families in diffusion.data.families; train+val train the model, test is
    the held-out reference (the training samples when the campaign is too small for a test split)."""
    families = config["diffusion"]["data"]["families"]
    eligible = [s for s in SAMPLES if family_of(s) in families]
    if not eligible:
        raise WorkflowError(
            f"{_config_source()}: diffusion.data.families = {families} selects no sample"
        )
    split = split_samples(eligible, config["dataset"]["fractions"], config["dataset"]["seed"])
    training = sorted(split["train"] + split["val"]) or split["test"]
    return training, (split["test"] or training)


def diffusion_train_params(wildcards):
    """The training-relevant sub-sections, with the model kind of the wildcard."""
    section = config["diffusion"]
    model = {**section["model"], "kind": wildcards.diffusion_model}
    return {"data": section["data"], "model": model, "noise": section["noise"],
            "train": section["train"]}


def diffusion_targets():
    """Products of the diffusion stage for the default target."""
    return [
        "results/diffusion/equivariant/metrics.json",
        "results/diffusion/equivariant/evaluation.png",
    ]


def complete_real_sample_params():
    """The keys of diffusion.sample that the completion uses: the sampler and, where the schema
    has them, iceafm.diffusion.real_surface.SAMPLER_OPTIONS (not `count`, nor the lattice prior,
    which needs an ice Ih supercell: the real scan is none)."""
    keys = ("method", "steps", "seed", "projection", "relax_steps")
    return {k: v for k, v in config["diffusion"]["sample"].items() if k in keys}


# ---- paper figures (figures.smk): outputs, inputs and the targets this config enables
def paper_figure_outputs(name, label):
    """The .pdf and .png of paper figure ``name``, both in the report with its caption."""
    return {
        ext: report(
            f"results/paper/{name}.{ext}",
            caption=f"../report/paper_{name}.rst",
            category="0. Paper figures",
            labels={"figure": label, "format": ext.upper()},
        )
        for ext in ("pdf", "png")
    }


def premelt_profile_structures():
    """The first ``execution.plot_samples`` premelt structures, whose order profiles figure 1
    shows (none without premelt; more samples later leave these unchanged)."""
    premelt = [s for s in SAMPLES if family_of(s) == "premelt"]
    return [structure_path(s) for s in premelt[: config["execution"]["plot_samples"]]]


def paper_figure_targets():
    """Paper figures whose inputs this config makes: figure 2 only in a Hartree campaign (a
    point-charge campaign runs no DFT), 4 only with adaptation, 6 only with the AmorAFM stack."""
    names = ["structures_afm", "detector", "diffusion"]
    if config["afm"]["electrostatics"] == "hartree":
        names.append("electrostatics")
    if adapt_targets():
        names.append("adaptation")
    if "results/predict_real/amorafm_agreement.png" in predict_real_targets():
        names.append("real_surface")
    return [f"results/paper/{name}.{ext}" for name in names for ext in ("pdf", "png")]


def report_description_file():
    """The report's workflow description: workflow/report/workflow.rst plus the iceafm version,
    workflow commit, software versions and config (iceafm.provenance), written for the main
    process under .snakemake/iceafm/ of the working directory (jobs get the plain file)."""
    from iceafm.provenance import report_description
    from iceafm.io.atomic import write_text_atomic

    static = os.path.join(workflow.basedir, "workflow", "report", "workflow.rst")
    if not workflow.is_main_process:
        return static
    with open(static) as f:
        text = report_description(f.read(), config)
    path = os.path.abspath(os.path.join(".snakemake", "iceafm", "workflow.rst"))
    write_text_atomic(path, text)
    return path
