"""The AFM, labels and dataset rules run for real through Snakemake on three tiny structures."""

from __future__ import annotations

import json
import sys

import h5py
import numpy as np
import pytest
from ase.io import write
from ase.units import Hartree
from helpers import REPO, job_counts, run_snakemake

sys.path.insert(0, str(REPO / "tests" / "unit"))
from afm_fixtures import flat_water  # noqa: E402

pytestmark = pytest.mark.slow
DATASET = [f"results/dataset/{s}.h5" for s in ("train", "val", "test")]


def _config(electrostatics: str) -> dict:
    return {
        "structures": {"families": {"import": {"glob": "mine/*.extxyz"}}},
        "afm": {
            "electrostatics": electrostatics,
            "scan": {"size_a": [4.8, 4.8], "pixel_size_a": 0.2, "n_heights": 5},
            "views": {"count": 2},
        },
        "dataset": {"fractions": {"train": 0.34, "val": 0.33, "test": 0.33}, "shard_size": 2},
    }


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """Point-charge campaign of three single-water structures, run up to the dataset."""
    work = tmp_path_factory.mktemp("afm")
    (work / "mine").mkdir()
    for i, shift in enumerate((0.0, 0.7, -0.9)):
        write(work / "mine" / f"water{i}.extxyz", flat_water(7.2, offset_a=(shift, 0.0)))
    proc = run_snakemake(work, *DATASET, config=_config("point_charges"))
    return work, proc


def test_point_charge_campaign_writes_stacks_labels_and_splits(campaign):
    work, proc = campaign
    assert job_counts(proc.stdout).get("dft", 0) == 0  # point charges need no DFT
    with np.load(work / "results/afm/import-00000.npz") as afm:
        assert afm["df"].shape == (2, 5, 24, 24) and afm["df"].dtype == np.float32
        assert not afm["failed"]
    with np.load(work / "results/labels/import-00000.npz") as labels:
        assert labels["targets"].shape == (2, 2, 4, 4, 6, 6)
    manifest = json.loads((work / "results/dataset/manifest.json").read_text())
    assert manifest["n_included"] == 3 and manifest["excluded"] == []
    ids = set()
    for path in DATASET:
        with h5py.File(work / path) as h5:
            assert h5["df"].shape[1:] == (5, 24, 24)
            ids |= {s.decode() for s in h5["sample_id"][:]}
    assert ids == {"import-00000", "import-00001", "import-00002"}


def test_changing_the_tip_reruns_afm_and_dataset_only(campaign):
    work, _ = campaign
    config = _config("point_charges")
    config["afm"]["tip"] = {"charge_e": -0.05}
    counts = job_counts(run_snakemake(work, "-n", *DATASET, config=config).stdout)
    assert counts.get("afm") == 3 and counts.get("dataset") == 1
    assert "labels" not in counts and "dft" not in counts and "structure" not in counts


def test_hartree_campaign_uses_the_cube_and_excludes_a_failed_dft(campaign, tmp_path):
    """Real GPAW potential for two samples, a failed DFT record for the third."""
    gpaw = pytest.importorskip("gpaw")
    work, _ = campaign
    for i in range(3):
        folder = work / f"results/dft/import-{i:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        if i == 2:
            for name in ("hartree.cube", "density.cube"):
                (folder / name).write_text("FAILED: SCF did not converge\n")
            (folder / "dft.json").write_text(
                json.dumps({"status": "failed", "reason": "SCF did not converge"})
            )
            continue
        atoms = flat_water(7.2, offset_a=((0.0, 0.7)[i], 0.0))
        atoms.calc = gpaw.GPAW(mode="lcao", basis="sz(dzp)", h=0.3, txt=None)
        atoms.get_potential_energy()
        potential = -atoms.calc.get_electrostatic_potential() / Hartree
        write(folder / "hartree.cube", atoms, format="cube", data=potential)
        write(folder / "density.cube", atoms, format="cube", data=np.abs(potential))
        (folder / "dft.json").write_text(json.dumps({"status": "converged"}))
    figures = ["results/figures/afm_stack.png", "results/figures/afm_electrostatics.png"]
    proc = run_snakemake(work, *DATASET, *figures, config=_config("hartree"))
    assert job_counts(proc.stdout).get("dft", 0) == 0
    assert all((work / f).stat().st_size > 10_000 for f in figures)
    with np.load(work / "results/afm/import-00002.npz") as afm:
        assert afm["failed"] and "SCF did not converge" in str(afm["reason"])
    with np.load(work / "results/afm/import-00000.npz") as afm:
        assert json.loads(str(afm["settings_json"]))["electrostatics"] == "hartree"
        assert np.isfinite(afm["df"]).all()
    manifest = json.loads((work / "results/dataset/manifest.json").read_text())
    assert manifest["excluded"] == [
        {"sample": "import-00002", "reason": "DFT failed: SCF did not converge"}
    ]
