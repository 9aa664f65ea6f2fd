"""The structure stage run for real through Snakemake on the tiny config."""

from __future__ import annotations

import json

import pytest
from ase.io import read, write
from helpers import job_counts, run_snakemake, tiny_config

from iceafm.structures import read_user_structure

pytestmark = pytest.mark.slow
TARGETS = ("results/figures/structures.png", "results/figures/structures.pdf")


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """Run the structure stage of the tiny config, plus one imported structure."""
    work = tmp_path_factory.mktemp("structures")
    (work / "mine").mkdir()
    config = tiny_config()
    run_snakemake(work, "all_structures", config=config)
    # The generated ice slab doubles as a user's own file (reversed atom order, plain .xyz).
    atoms = read(work / "results/structures/ice_basal-00000.extxyz")
    write(work / "mine" / "slab.extxyz", atoms[::-1])
    config["structures"]["families"]["import"] = {"glob": "mine/*.extxyz"}
    proc = run_snakemake(work, "all_structures", config=config)
    return work, config, proc


def test_every_family_yields_valid_structures(campaign):
    work, config, _ = campaign
    families = config["structures"]["families"]
    for family, section in families.items():
        count = len(list((work / "mine").glob("*"))) if family == "import" else section["count"]
        for index in range(count):
            path = work / f"results/structures/{family}-{index:05d}.extxyz"
            read_user_structure(path)  # validates: cell, complete waters, O-H lengths
            assert read(path).info["family"] == family


def test_adding_a_sample_reruns_only_the_new_one(campaign):
    work, config, first = campaign
    assert job_counts(first.stdout).get("structure") == 1  # only the import sample was new
    for path in TARGETS:
        assert (work / path).stat().st_size > 10_000


def test_changing_a_family_reruns_that_family_only(campaign):
    work, config, _ = campaign
    config["structures"]["families"]["premelt"]["equilibration_ps"] = 0.6
    proc = run_snakemake(work, "-n", "all_structures", config=config)
    counts = job_counts(proc.stdout)
    assert counts["structure"] == config["structures"]["families"]["premelt"]["count"]
    assert counts["md"] == 1  # the tiny config's one trajectory


def test_premelt_md_reruns_only_when_its_physics_changes(campaign):
    """More premelt samples from the same trajectory, or other MD resources, rerun no MD."""
    work, config, _ = campaign
    premelt = tiny_config()["structures"]["families"]["premelt"]  # as run (others edit config)
    assert (work / "results/md/premelt/traj000.extxyz").exists()
    edited = json.loads(json.dumps(config))
    edited["structures"]["families"]["premelt"] = {
        **premelt,
        "resources": {"threads": 1, "platform": "CPU"},
    }
    assert job_counts(run_snakemake(work, "-n", "all_structures", config=edited).stdout) == {}
    edited["structures"]["families"]["premelt"]["count"] = premelt["count"] + 1  # frame 1
    counts = job_counts(run_snakemake(work, "-n", "all_structures", config=edited).stdout)
    assert counts.get("structure") == 1 and "md" not in counts, counts


def test_a_broken_import_stops_with_the_file_named(campaign, tmp_path):
    work, config, _ = campaign
    bad = tmp_path / "bad"
    (bad / "mine").mkdir(parents=True)
    atoms = read(work / "results/structures/ice_basal-00000.extxyz")
    del atoms[[2]]  # first water loses an H
    write(bad / "mine" / "broken.extxyz", atoms)
    config["structures"]["families"] = {"import": {"glob": "mine/*.extxyz"}}
    proc = run_snakemake(bad, "all_structures", config=config, check=False)
    assert proc.returncode != 0
    # One line before any job: the file, the O that lost its H, what was expected.
    assert "broken.extxyz: atom 0 (O): 1 H within" in proc.stdout
    assert "Traceback" not in proc.stdout
