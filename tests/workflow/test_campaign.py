"""The tiny campaign end to end (structures -> GPAW -> ppafm -> labels -> dataset -> detector,
adaptation, diffusion, real images, the real surface completed by diffusion -> paper figures and
report), then the rerun scope: a config edit reruns exactly the jobs whose output it shapes.

The stages on real images (predict_real, adaptation, the completion, figures 4 and 6) need
``../shared/data/experimental`` beside the checkout (CI has it); without it the workflow plans
none of them and these tests expect none of them."""

from __future__ import annotations

import json
import zipfile

import ase.io
import h5py
import matplotlib.image
import numpy as np
import pytest
from helpers import EXPERIMENTAL, job_counts, run_snakemake, tiny_config

from iceafm.jobstats import parse_job_stats

pytestmark = pytest.mark.slow

#: The real premelting surface (predict_real, diffusion_complete_real, figure 6) and the real
#: cluster stacks of the tiny config's adaptation (figure 4) are beside this checkout.
REAL_SURFACE = (EXPERIMENTAL / "amorafm_ice_surface").is_dir()
REAL_ADAPT = (EXPERIMENTAL / "ice_clusters_styletrans").is_dir()
#: The jobs that exist only with the real surface.
REAL_SURFACE_JOBS = {"predict_real", "predict_real_agreement", "diffusion_complete_real",
                     "figure_real_surface"}  # fmt: skip


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    work = tmp_path_factory.mktemp("campaign")
    config = tiny_config()
    config.setdefault("afm", {})["electrostatics"] = "hartree"
    config["adapt"]["in_default_target"] = True  # every stage, every paper figure
    # every stage: about 24 min on 2 cores under load (adaptation about 8 of them)
    run_snakemake(work, config=config, timeout=3600)
    samples = sorted(p.stem for p in (work / "results" / "structures").glob("*.extxyz"))
    return work, config, samples


def test_every_stage_produced_its_outputs(campaign):
    work, _, samples = campaign
    for sample in samples:
        record = json.loads((work / f"results/dft/{sample}/dft.json").read_text())
        assert record["status"] == "converged", record
        assert (work / f"results/afm/{sample}.npz").stat().st_size > 0
        assert (work / f"results/labels/{sample}.npz").stat().st_size > 0
    n_structures = 0
    for split in ("train", "val", "test"):
        with h5py.File(work / f"results/dataset/{split}.h5") as f:
            n_structures += len(set(f["sample_id"][()].tolist())) if "sample_id" in f else 0
    assert n_structures == len(samples)
    figures = sorted(p.name for p in (work / "results/figures").glob("*.png"))
    assert {"structures.png", "dft.png", "afm_stack.png"} <= set(figures)


def test_nothing_left_to_do_after_the_run(campaign):
    """Also: no params hold a volatile value (a date, a temporary path, a random number would
    rerun its rule on every parse)."""
    work, config, _ = campaign
    proc = run_snakemake(work, "-n", config=config)
    assert job_counts(proc.stdout) == {}, proc.stdout[-3000:]


@pytest.mark.parametrize(
    ("section", "key", "value", "rerun", "untouched"),
    [
        ("afm", "tip", {"charge_e": -0.05}, {"afm", "dataset"}, {"dft", "structure", "labels"}),
        ("dft", "h", 0.28, {"dft", "afm", "dataset"}, {"structure", "labels"}),
        ("labels", "depth_a", 2.5, {"labels", "dataset"}, {"dft", "afm", "structure"}),
    ],
    ids=["afm.tip", "dft.h", "labels.depth_a"],
)
def test_config_edit_reruns_exactly_what_it_shapes(campaign, section, key, value, rerun, untouched):
    work, config, samples = campaign
    edited = json.loads(json.dumps(config))
    edited.setdefault(section, {})[key] = value
    counts = job_counts(run_snakemake(work, "-n", config=edited).stdout)
    for rule in rerun - {"dataset"}:
        assert counts.get(rule) == len(samples), (rule, counts)
    assert counts.get("dataset") == 1, counts
    for rule in untouched:
        assert rule not in counts, (rule, counts)


def test_detector_is_trained_and_evaluated_and_a_train_edit_reruns_only_it(campaign):
    work, config, _ = campaign
    metrics = json.loads((work / "results/models/detector/metrics.json").read_text())
    assert metrics["n_stacks"] > 0 and "O.f1_0_1.5" in metrics["summary"]
    assert (work / "results/models/detector/evaluation.png").stat().st_size > 0
    log = (work / "results/models/detector/train_log.csv").read_text().splitlines()
    assert len(log) == 1 + config["train"]["epochs"]
    edited = json.loads(json.dumps(config))
    edited["train"]["lr"] = 5e-4
    counts = job_counts(run_snakemake(work, "-n", config=edited).stdout)
    assert {"train", "evaluate", "figure_detector"} <= set(counts), counts
    # downstream of the model only: adaptation fine-tunes it; no AFM, DFT or diffusion training
    downstream = {"train", "evaluate", "figure_detector", "adapt_translator", "adapt"}
    downstream |= {"adapt_compare", "figure_adaptation", "all", "total"}
    assert set(counts) <= downstream, counts
    assert counts["train"] == 1 and counts["evaluate"] == 1, counts


@pytest.mark.skipif(not REAL_ADAPT, reason=f"no real cluster stacks in {EXPERIMENTAL}")
def test_adaptation_is_scored_against_a_held_out_md_trajectory(campaign):
    """adapt.evaluation.reference auto with a premelt sample: the reference is the held-out
    twin of the premelt trajectory (rule md_reference), not a trajectory the dataset holds."""
    work, config, _ = campaign
    held_out = ase.io.read(work / "results/md/premelt_reference/traj000.extxyz", ":")
    training = ase.io.read(work / "results/md/premelt/traj000.extxyz", ":")
    assert all(a.info["held_out"] for a in held_out)
    assert not np.allclose(held_out[0].positions, training[0].positions)
    for method in config["adapt"]["methods"]:
        metrics = json.loads((work / f"results/adapt/{method}/metrics.json").read_text())
        reference = "premelt_md: results/md/premelt_reference/traj000.extxyz"
        assert metrics["reference"] == reference, metrics["reference"]
        assert metrics["distances"]["d_oo"]["n_reference"] > 0, metrics["distances"]["d_oo"]


PAPER_FIGURES = ["structures_afm", "electrostatics", "detector", "diffusion"]
if REAL_ADAPT:
    PAPER_FIGURES.append("adaptation")
if REAL_SURFACE:
    PAPER_FIGURES.append("real_surface")


def test_every_paper_figure_is_made_and_in_the_report(campaign):
    work, config, _ = campaign
    for name in PAPER_FIGURES:
        png = work / f"results/paper/{name}.png"
        assert png.stat().st_size > 20_000, name
        image = matplotlib.image.imread(png)
        assert image.shape[1] == 10 * 150, name  # width_in x dpi (defaults)
        assert image[..., :3].std() > 0.05, f"{name}: nearly constant pixels"
        assert (work / f"results/paper/{name}.pdf").read_bytes().startswith(b"%PDF"), name
    run_snakemake(work, "--report", "report.zip", config=config)
    with zipfile.ZipFile(work / "report.zip") as report:
        names = report.namelist()
        text = "\n".join(
            report.read(n).decode(errors="replace") for n in names if n.endswith((".js", ".html"))
        )
    for name in PAPER_FIGURES:
        for ext in ("png", "pdf"):
            # the report stores each file as report/data/raw/<hash>/<file name>
            assert any(n.endswith(f"/{name}.{ext}") for n in names), (name, names)
    import iceafm

    assert f"iceafm {iceafm.__version__}" in text  # the workflow description's version line
    assert "Software versions" in text and "figure_detector" in text
    assert "Figure 3: structure from AFM" in text  # a caption


@pytest.mark.skipif(not REAL_SURFACE, reason=f"no real premelting surface in {EXPERIMENTAL}")
def test_real_surface_is_completed_below_the_predicted_top_layer(campaign):
    """Close the loop: the detector's top layer of the real surface, held fixed, with a
    subsurface generated down to diffusion.data.depth_a."""
    from ase.io import read

    work, config, _ = campaign
    prediction = read(work / "results/predict_real/amorafm_ice_surface.extxyz")
    slab = read(work / "results/diffusion/real_surface/amorafm_ice_surface.extxyz")
    summary_path = work / "results/diffusion/real_surface/amorafm_ice_surface.json"
    summary = json.loads(summary_path.read_text())
    n_pred_o = prediction.get_chemical_symbols().count("O")
    fixed = slab.arrays["fixed"].astype(bool)
    assert summary["network_o"] == n_pred_o > 0
    assert fixed.sum() == 3 * summary["network_o"]  # whole waters, held fixed
    assert summary["network_h"] + summary["placed_top_h"] == 2 * summary["network_o"]
    assert len(slab) == 3 * (summary["network_o"] + summary["subsurface_waters"])
    assert summary["subsurface_waters"] > summary["network_o"]  # 5 A of ice below 1 layer
    assert summary["nfe"] == 2 * config["diffusion"]["sample"]["steps"] - 1
    assert np.allclose(slab.cell.lengths()[:2], prediction.cell.lengths()[:2])
    # the network's O keep their x (in the periodic scan; the slab only shifts z)
    width = slab.cell.lengths()[0]
    pred_o = prediction.positions[np.array(prediction.get_chemical_symbols()) == "O"]
    kept_o = slab.positions[fixed & (slab.numbers == 8)]
    assert np.allclose(np.sort(kept_o[:, 0] % width), np.sort(pred_o[:, 0] % width), atol=1e-3)
    assert np.isfinite(slab.positions).all()


def test_every_json_output_records_its_provenance(campaign):
    work, _, _ = campaign
    outputs = [
        *(work / "results/dft").glob("*/dft.json"),
        work / "results/dataset/manifest.json",
        *(work / "results/models").glob("*/metrics.json"),
        *(work / "results/diffusion").glob("*/train.json"),
        work / "results/diffusion/equivariant/metrics.json",
        *(work / "results/adapt").glob("*/metrics.json"),
        *(work / "results/predict_real").glob("*.json"),
        *(work / "results/diffusion/real_surface").glob("*.json"),
    ]
    assert len(outputs) >= 8
    import iceafm

    for path in outputs:
        stamp = json.loads(path.read_text())["provenance"]
        assert len(stamp["config_sha256"]) == 64, path
        assert stamp["iceafm_version"] == iceafm.__version__, path
        assert stamp["packages"]["torch"] and stamp["workflow_commit"], path


#: What a diffusion sampler key reruns: sampling, evaluation, the completion and their figures.
DIFFUSION_DOWNSTREAM = {"diffusion_sample", "diffusion_evaluate", "figure_diffusion"}
if REAL_SURFACE:
    DIFFUSION_DOWNSTREAM |= {"diffusion_complete_real", "figure_real_surface"}
#: Every stage before the diffusion model (its training data are the structures).
NOT_DIFFUSION = {"structure", "md", "dft", "afm", "labels", "dataset", "train", "evaluate",
                 "predict_real", "predict_real_agreement", "adapt", "adapt_translator"}  # fmt: skip


@pytest.mark.parametrize(
    ("section", "key", "value", "reruns", "untouched", "only"),
    [
        (
            ("afm",), "tip", {"charge_e": -0.05},
            {"afm", "dataset", "train", "evaluate", "plot_afm", "figure_structures_afm",
             "figure_electrostatics", "figure_detector"}
            | ({"figure_adaptation"} if REAL_ADAPT else set()),
            {"dft", "structure", "md", "diffusion", "diffusion_sample", "figure_diffusion"}
            | REAL_SURFACE_JOBS,  # the real images are predicted by the shipped model
            False,
        ),
        (
            ("figures",), "detector", {"dpi": 100}, {"figure_detector"}, set(), True,
        ),
        (
            ("figures",), "real_surface", {"dpi": 100},
            {"figure_real_surface"} if REAL_SURFACE else set(), set(), True,
        ),
        (
            ("diffusion", "sample"), "steps", 3, DIFFUSION_DOWNSTREAM,
            NOT_DIFFUSION | {"diffusion"}, True,
        ),
        (
            ("diffusion", "train"), "lr", 0.001, DIFFUSION_DOWNSTREAM | {"diffusion"},
            NOT_DIFFUSION, True,
        ),
        (
            ("adapt", "finetune"), "epochs", 2,
            {"adapt", "adapt_compare", "figure_adaptation"} if REAL_ADAPT else set(),
            {"adapt_translator", "train", "evaluate", "dataset", "dft", "diffusion"}, True,
        ),
        (
            # MD: the premelt sample's trajectory, its structure and everything downstream
            ("structures", "families", "premelt"), "production_ps", 1.5,
            {"md", "structure", "dft", "afm", "labels", "dataset", "train", "diffusion"},
            {"predict_real"},  # the real images are predicted by the shipped model
            False,
        ),
        (
            # reading the real images: the predictions, what reads them, and the adaptation
            ("predict_real",), "line_correction", "row_median",
            (REAL_SURFACE_JOBS if REAL_SURFACE else set())
            | ({"adapt", "adapt_compare", "figure_adaptation"} if REAL_ADAPT else set()),
            {"structure", "md", "dft", "afm", "labels", "dataset", "train", "diffusion"},
            False,
        ),
        (
            # refining the predictions: what reads them, not the adaptation (which reads the
            # images, not the predictions)
            ("predict_real", "refine"), "restraint_ev_a2", 2.0,
            REAL_SURFACE_JOBS if REAL_SURFACE else set(),
            {"adapt", "adapt_translator", "structure", "dft", "afm", "dataset", "train",
             "diffusion"},
            False,
        ),
    ],
    ids=["afm.tip-downstream", "figures.detector-only", "figures.real_surface-only",
         "diffusion.sample-downstream", "diffusion.train-downstream", "adapt.finetune-only",
         "md.production-downstream", "predict_real-downstream", "predict_real.refine-only"],
)  # fmt: skip
def test_config_edit_reruns_downstream_stages(
    campaign, section, key, value, reruns, untouched, only
):
    """``only``: nothing but ``reruns`` (and the gathers ``all``, ``total``) runs."""
    work, config, _ = campaign
    edited = json.loads(json.dumps(config))
    node = edited
    for name in section:
        node = node.setdefault(name, {})
    node[key] = value
    counts = job_counts(run_snakemake(work, "-n", config=edited).stdout)
    assert reruns <= set(counts), counts
    assert not untouched & set(counts), counts
    if only:
        assert set(counts) - {"all", "total"} == reruns, counts


def test_an_md_edit_reruns_only_the_premelt_sample(campaign):
    """A longer premelt trajectory: its md job (which continues its checkpoint), then the
    premelt samples' own structure and DFT jobs, no other sample's."""
    work, config, samples = campaign
    edited = json.loads(json.dumps(config))
    edited["structures"]["families"]["premelt"]["production_ps"] *= 1.5
    counts = job_counts(run_snakemake(work, "-n", config=edited).stdout)
    premelt = [s for s in samples if s.startswith("premelt")]
    assert premelt and counts.get("md", 0) >= 1, counts
    for stage in ("structure", "dft"):
        assert counts.get(stage) == len(premelt), (stage, counts)


def test_more_structures_run_only_the_new_samples_and_the_gathers(campaign):
    work, config, _ = campaign
    edited = json.loads(json.dumps(config))
    edited["structures"]["families"]["bilayer_metal"]["count"] += 1
    proc = run_snakemake(work, "-n", config=edited)
    counts = job_counts(proc.stdout)
    for stage in ("structure", "dft"):
        assert counts.get(stage) == 1, (stage, counts)  # the new sample only
    # AFM and labels: one job, the new sample's batch (it computes only its pending members,
    # iceafm.batches; the dry run lists all the batch's outputs)
    batch_jobs = {k: v for k, v in parse_job_stats(proc.stdout).items() if "__" in k}
    new_batch = "bilayer_metal_00000"
    assert batch_jobs == {
        "structure__bilayer_metal_00001": 1, f"afm__{new_batch}": 1, f"labels__{new_batch}": 1
    }, batch_jobs
    assert counts.get("dataset") == 1, counts
    # bilayer_metal is not a diffusion family and no MD input: those stay, and so does the
    # completion of the real surface
    stay = {"md", "diffusion", "diffusion_sample", "figure_diffusion"} | REAL_SURFACE_JOBS
    assert not stay & set(counts), counts

