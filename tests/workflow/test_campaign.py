"""The tiny campaign end to end (structures -> GPAW -> ppafm -> labels -> dataset -> figures),
then the rerun scope: a config edit reruns exactly the jobs whose output it shapes."""

from __future__ import annotations

import json

import h5py
import pytest
from helpers import job_counts, run_snakemake, tiny_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    work = tmp_path_factory.mktemp("campaign")
    config = tiny_config()
    config.setdefault("afm", {})["electrostatics"] = "hartree"
    run_snakemake(work, config=config)
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
    assert {k: v for k, v in counts.items() if k not in ("all", "total")} == {
        "train": 1,
        "evaluate": 1,
    }, counts
