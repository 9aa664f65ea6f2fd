"""The config schema: defaults fill in, and bad configs stop the run with one clear line."""

from __future__ import annotations

import pytest
from helpers import REPO, load_yaml, run_snakemake, tiny_config


def _error_line(proc) -> str:
    markers = ("invalid key", "yields no sample")
    lines = [ln for ln in proc.stdout.splitlines() if any(m in ln for m in markers)]
    assert lines, proc.stdout[-3000:]
    return lines[0]


@pytest.mark.parametrize(
    ("edit", "key", "expected"),
    [
        (lambda c: c["structures"]["families"]["ice_basal"].update(bilayers=0),
         "structures.families.ice_basal.bilayers", "minimum"),
        (lambda c: c["structures"]["families"]["ice_basal"].update(bilayers="two"),
         "structures.families.ice_basal.bilayers", "is not of type 'integer'"),
        (lambda c: c["structures"].update(sed=1), "structures", "'sed' was unexpected"),
        (lambda c: c["structures"]["families"]["bilayer_metal"].update(metal="Pt"),
         "structures.families.bilayer_metal.metal", "is not one of"),
        (lambda c: c["structures"]["families"]["ice_basal"].update(supercell=[1]),
         "structures.families.ice_basal.supercell", "is too short"),
    ],
    ids=["impossible-value", "wrong-type", "unknown-key", "bad-enum", "short-array"],
)
def test_bad_config_is_rejected_before_any_job(tmp_path, edit, key, expected):
    config = tiny_config()
    edit(config)
    proc = run_snakemake(tmp_path, "-n", config=config, check=False)
    assert proc.returncode != 0
    line = _error_line(proc)
    assert f"'{key}'" in line and expected in line and "config.yaml" in line
    assert not (tmp_path / "results").exists()


def test_config_without_samples_is_rejected(tmp_path):
    config = {"structures": {"families": {"ice_basal": {"count": 0}}}}
    proc = run_snakemake(tmp_path, "-n", config=config, check=False)
    assert proc.returncode != 0
    assert "yields no sample" in _error_line(proc)


def test_every_schema_key_has_a_default_and_is_documented():
    schema = load_yaml(REPO / "workflow" / "schemas" / "config.schema.yaml")
    readme = (REPO / "config" / "README.md").read_text()

    def walk(node: dict, path: str):
        required = set(node.get("required", ()))
        for name, sub in node.get("properties", {}).items():
            sub = {**schema["$defs"].get(sub.get("$ref", "#/$defs/").split("/")[-1], {}), **sub}
            dotted = f"{path}.{name}" if path else name
            yield dotted, sub, name in required
            yield from walk(sub, dotted)

    for dotted, sub, required in walk(schema, ""):
        leaf = dotted.split(".")[-1]
        documented = (f"`{leaf}`", f"## {leaf}\n", f".{leaf}`", f"`{leaf}.")
        assert any(d in readme for d in documented), f"config/README.md lacks `{leaf}` ({dotted})"
        if not required and dotted != "structures.families.import.glob":
            assert "default" in sub, f"schema key {dotted} has no default"
