"""Diffusion rules on a tiny campaign: train both networks, sample, evaluate; config edits rerun
exactly the diffusion jobs they shape."""

from __future__ import annotations

import json

import pytest
from ase.io import read
from helpers import job_counts, run_snakemake, tiny_config

pytestmark = pytest.mark.slow

TARGET = "results/diffusion/equivariant/metrics.json"


@pytest.fixture(scope="module")
def diffusion_run(tmp_path_factory):
    """Two ice slabs and a metal bilayer (no MD: seconds), diffusion stage run for real."""
    config = tiny_config()
    config["structures"]["families"]["premelt"]["count"] = 0
    config["structures"]["families"]["ice_basal"]["count"] = 2
    work = tmp_path_factory.mktemp("diffusion_campaign")
    run_snakemake(work, TARGET, config=config)
    return work, config


def test_products_and_metrics(diffusion_run):
    work, config = diffusion_run
    metrics = json.loads((work / TARGET).read_text())
    for key in (
        "validity",
        "w1_oo_rdf",
        "hbonds_per_molecule",
        "completion_o_f1_0_4",
        "completion_o_f1_4_8",
    ):
        assert key in metrics and key in metrics["baseline_nonequivariant"]
    assert set(metrics["baseline_lattice"]) == {"completion_o_f1_0_4", "completion_o_f1_4_8"}
    assert metrics["nfe"] == 2 * config["diffusion"]["sample"]["steps"] - 1
    frames = read(work / "results/diffusion/equivariant/samples/completed.extxyz", index=":")
    assert frames[0].info["sampler"] == "heun" and "schedule_sigma_max" in frames[0].info
    # defaults: completions from the lattice prior at 0.2 A, every sample projected (valid)
    assert metrics["projection"] == "relax" and metrics["completion_prior"] == "lattice"
    assert frames[0].info["prior"] == "lattice" and frames[0].info["schedule_sigma_max"] == 0.2
    assert metrics["validity"] == 1.0
    # sample.consensus (default): one consensus completion per reference after its draws
    centres = [f for f in frames if "consensus_of" in f.info]
    assert len(centres) == len({f.info["template"] for f in frames}) > 0
    assert centres[0].info["consensus_of"] == config["diffusion"]["sample"]["count"]
    assert "completion_o_f1_4_8_consensus" in metrics
    assert (work / "results/diffusion/equivariant/evaluation.png").stat().st_size > 0
    history = json.loads((work / "results/diffusion/plain/train.json").read_text())
    assert len(history["train_loss"]) == config["diffusion"]["train"]["epochs"]


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("sample", "steps", 3, {"diffusion_sample": 2, "diffusion_evaluate": 1}),
        ("evaluate", "match_a", 0.5, {"diffusion_evaluate": 1}),
        ("train", "lr", 0.001, {"diffusion": 2, "diffusion_sample": 2, "diffusion_evaluate": 1}),
        ("resources", "device", "cpu", {}),
    ],
    ids=["sample.steps", "evaluate.match_a", "train.lr", "resources.device"],
)
def test_config_edit_reruns_exactly_what_it_shapes(diffusion_run, section, key, value, expected):
    work, config = diffusion_run
    edited = json.loads(json.dumps(config))
    edited.setdefault("diffusion", {}).setdefault(section, {})[key] = value
    counts = job_counts(run_snakemake(work, "-n", TARGET, config=edited).stdout)
    assert {k: v for k, v in counts.items() if k not in ("total",)} == expected, counts
