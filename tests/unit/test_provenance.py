"""Provenance records (iceafm.provenance) and the package version."""

from __future__ import annotations

import json
import subprocess

from helpers import REPO

import iceafm
from iceafm.provenance import (
    report_description,
    section_hash,
    software_versions,
    stamp_json_outputs,
    workflow_commit,
)


def test_version_is_pyprojects():
    text = (REPO / "pyproject.toml").read_text()
    assert f'version = "{iceafm.__version__}"' in text


def test_section_hash_is_canonical_and_sensitive():
    assert section_hash({"a": 1, "b": [1, 2]}) == section_hash({"b": [1, 2], "a": 1})
    assert section_hash({"a": 1}) != section_hash({"a": 2})


def test_stamp_adds_provenance_to_json_outputs_only(tmp_path):
    record, other = tmp_path / "metrics.json", tmp_path / "figure.png"
    record.write_text(json.dumps({"f1": 0.5}))
    other.write_bytes(b"\x89PNG")
    stamp_json_outputs([record, other], {"lr": 1e-3})
    data = json.loads(record.read_text())
    assert data["f1"] == 0.5
    stamp = data["provenance"]
    assert stamp["config_sha256"] == section_hash({"lr": 1e-3})
    assert stamp["iceafm_version"] == iceafm.__version__
    assert stamp["packages"]["numpy"] and stamp["packages"]["iceafm"] == iceafm.__version__
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    assert stamp["workflow_commit"].startswith(head)
    assert other.read_bytes() == b"\x89PNG"


def test_workflow_commit_outside_a_checkout_is_none(tmp_path):
    assert workflow_commit(tmp_path) is None


def test_report_description_lists_versions_and_config():
    text = report_description("Intro.", {"train": {"lr": "{{ not jinja }}"}})
    assert text.startswith("Intro.")
    assert f"iceafm {iceafm.__version__}" in text
    for name, version in software_versions().items():
        assert f"{name}, {version or 'not installed'}" in text
    # the config sits inside a raw block, so the report's Jinja pass leaves it alone
    assert text.index("{% raw %}") < text.index("{{ not jinja }}") < text.index("{% endraw %}")
