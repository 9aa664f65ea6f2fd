# Batches of samples for the cheap per-sample stages (structure, afm, labels): one job per batch,
# per-sample outputs kept; block index // execution.batch_size (see iceafm.batches).
from iceafm.batches import UNBATCHED, batch_runtime_min, make_batches

BATCH_SIZE = config["execution"]["batch_size"]


def existing_structures():
    """Samples whose structure file exists (one directory listing)."""
    folder = "results/structures"
    if not os.path.isdir(folder):
        return set()
    return {name[: -len(".extxyz")] for name in os.listdir(folder) if name.endswith(".extxyz")}


# Structure batches split a block into the members that exist and the new ones (adding samples
# never reruns a structure, nor so its DFT); AFM and labels batches are whole blocks.
STRUCTURE_BATCHES = make_batches(SAMPLES, BATCH_SIZE, existing=existing_structures())
BATCHES = make_batches(SAMPLES, BATCH_SIZE)


def batch_group(batch, stage):
    """SLURM bundle of a block: its structure, labels and (point-charge) AFM jobs run as one
    submission (Snakemake job group). Hartree AFM waits for DFT jobs and stays its own job;
    batches of one sample (batch_size 1) are not bundled."""
    if BATCH_SIZE == 1 or (stage == "afm" and config["afm"]["electrostatics"] == "hartree"):
        return None
    block = batch.first if batch.family in UNBATCHED else batch.first // BATCH_SIZE * BATCH_SIZE
    return f"bundle_{batch.family}_{block:05d}"


def structure_batch_inputs(batch):
    """The user's file of an `import` sample (one batch each); the MD frames of `premelt`;
    other generated families have none."""
    if batch.family == "premelt":
        return {"md_frames": premelt_md_frames()}  # all trajectories: the same for every batch
    if batch.family != "import":
        return {}
    return {"source": import_files()[batch.first]}


def structure_batch_params(batch):
    """The family section minus `count` (adding samples must not rerun existing ones) and
    `resources` (operational: premelt's MD platform and threads)."""
    if batch.family == "import":
        return {}
    section = family_section(batch.family)
    return {k: v for k, v in section.items() if k not in ("count", "resources")}


def afm_batch_inputs(batch):
    """Each member's structure, plus its DFT potential and record in Hartree mode."""
    inputs = {"structure": [structure_path(s) for s in batch.members]}
    if config["afm"]["electrostatics"] == "hartree":
        inputs["hartree"] = [f"results/dft/{s}/hartree.cube" for s in batch.members]
        inputs["dft_json"] = [f"results/dft/{s}/dft.json" for s in batch.members]
    return inputs
