"""Cross-field config checks and the strict config reader, without Snakemake."""

from __future__ import annotations

import pytest
import yaml
from ase import Atoms
from snakemake.utils import validate

from iceafm.config_checks import (
    ConfigCheckError,
    afm_memory_bytes,
    check_config,
    load_config_file,
)
from iceafm.structures.errors import StructureError
from iceafm.structures.importer import check_atoms

SHIPPED = ["config/config.yaml", "config/paper.yaml", ".test/config/config.yaml"]


def _filled(config: dict) -> dict:
    validate(config, "workflow/schemas/config.schema.yaml")
    return config


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch, request):
    monkeypatch.chdir(request.config.rootpath)


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_configs_pass(path):
    config, lines = load_config_file(path)
    check_config(_filled(config), [path], n_samples=1000)
    assert lines["structures.families"] > lines["structures"]


def test_duplicate_key_names_both_lines(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("afm:\n  scan:\n    n_heights: 5\n    pixel_size_a: 0.2\n    n_heights: 6\n")
    with pytest.raises(ConfigCheckError, match=r"c.yaml:5: key 'afm.scan.n_heights' .*line 3"):
        load_config_file(path)


def test_violation_names_file_and_line_of_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("dataset:\n  fractions:\n    train: 0.6\n    val: 0.2\n    test: 0.1\n")
    config = _filled(yaml.safe_load(path.read_text()))
    with pytest.raises(ConfigCheckError, match=r"c.yaml:2: key 'dataset.fractions'.*sum to 0.9"):
        check_config(config, [path])


def test_premelt_md_is_checked_when_only_the_held_out_reference_runs_it(tmp_path):
    """No premelt samples, but adapt.evaluation.reference premelt_md runs the family's MD."""
    path = tmp_path / "c.yaml"
    text = "structures:\n  families:\n    premelt:\n      count: 0\n      melt_bilayers: 4\n"
    path.write_text(text)
    check_config(_filled(yaml.safe_load(text)), [path])  # auto: no premelt samples, no MD
    path.write_text(text + "adapt:\n  evaluation:\n    reference: premelt_md\n")
    config = _filled(yaml.safe_load(path.read_text()))
    with pytest.raises(ConfigCheckError, match=r"c.yaml:5: key 'structures.families.premelt.mel"):
        check_config(config, [path])
    # a reference trajectory that would record no frame
    text = text.replace("melt_bilayers: 4", "production_ps: 0.5")
    path.write_text(text + "adapt:\n  evaluation:\n    reference: premelt_md\n")
    config = _filled(yaml.safe_load(path.read_text()))
    with pytest.raises(ConfigCheckError, match=r"c.yaml:5: key 'structures.families.premelt.pro"
                       r"duction_ps' = 0.5: no frame at frame_spacing_ps = 1.0"):
        check_config(config, [path])


def test_memory_estimate_grows_with_pixels_views_and_heights():
    afm = _filled({})["afm"]
    base, base_df = afm_memory_bytes(afm)
    afm["scan"]["pixel_size_a"] /= 2
    finer, finer_df = afm_memory_bytes(afm)
    assert finer_df == pytest.approx(4 * base_df, rel=0.05) and finer > base
    afm["views"]["count"] *= 10
    assert afm_memory_bytes(afm)[1] == pytest.approx(10 * finer_df)


@pytest.mark.parametrize(
    ("atoms", "message"),
    [
        (Atoms(), "no atoms"),
        (Atoms("Cu2", [[1, 1, 1], [1, 1, 1.2]]), r"atoms 0 \(Cu\) and 1 \(Cu\) are 0.200 A"),
        (Atoms("Cu", [[1, 1, float("inf")]]), r"atom 0 \(Cu\): position .* not finite"),
        (Atoms("Cu", [[1, 1, -50]]), r"atom 0 \(Cu\) .* outside the cell"),
        (Atoms("X", [[1, 1, 1]]), "atom 0: element number 0"),
    ],
    ids=["empty", "overlap", "infinite", "far", "placeholder"],
)
def test_every_atom_is_checked(atoms, message):
    atoms.set_cell([10, 10, 20])
    atoms.pbc = (True, True, False)
    with pytest.raises(StructureError, match=message):
        check_atoms(atoms, "snap.xyz")
