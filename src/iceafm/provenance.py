"""Provenance of the campaign's outputs: which config, which software, which workflow commit.

Every JSON output of a rule carries a ``provenance`` entry (:func:`stamp_json_outputs`, called by
the rule's script after the science wrote the file): the SHA-256 of the config section that
shaped it, the iceafm version, the versions of the packages the stages run on and the git commit
of the workflow checkout the job imported iceafm from. The report shows the same
(:func:`report_description`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import subprocess
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from iceafm.io.atomic import write_json_atomic

CHECKOUT = Path(__file__).resolve().parents[2]
"""The workflow checkout when iceafm is imported from its src/ folder (as Snakemake jobs do)."""

PACKAGES = (
    "ase", "genice3", "numpy", "scipy", "h5py", "matplotlib", "ppafm", "gpaw", "openmm",
    "torch", "e3nn", "vesin", "snakemake",
)  # fmt: skip
"""Distributions whose versions a provenance record lists (absent ones as null)."""


@functools.cache
def package_version() -> str:
    """iceafm's version: from the checkout's pyproject.toml when imported from a checkout (so a
    stale editable install cannot misreport it), else from the installed package metadata."""
    pyproject = CHECKOUT / "pyproject.toml"
    if pyproject.is_file():
        with pyproject.open("rb") as f:
            project = tomllib.load(f).get("project", {})
        if project.get("name") == "iceafm":
            return str(project["version"])
    return importlib.metadata.version("iceafm")


def section_hash(section: object) -> str:
    """SHA-256 (hex) of a config section as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(section, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def inputs_key(paths: Iterable[str | os.PathLike]) -> str:
    """16 hex digits identifying the current version of input files (name, size, modification
    time in ns): a resumable state saved under it belongs to exactly these inputs, so a job
    rerun because an input was remade starts afresh, and a killed job (same files) resumes."""
    parts = []
    for path in paths:
        stat = os.stat(path)
        parts.append(f"{os.path.basename(path)}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@functools.cache
def software_versions() -> dict[str, str | None]:
    """{distribution: version or None if not installed} for iceafm and :data:`PACKAGES`."""
    versions: dict[str, str | None] = {"iceafm": package_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@functools.cache
def workflow_commit(checkout: Path = CHECKOUT) -> str | None:
    """``git describe --always --dirty --abbrev=40 --exclude=*`` of the checkout: the full
    commit hash (never a tag name, which can move), with ``-dirty`` when tracked files differ
    from it, or None outside a git checkout."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(checkout), "describe", "--always", "--dirty", "--abbrev=40",
             "--exclude=*"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def provenance(section: object) -> dict[str, Any]:
    """The provenance record of an output shaped by config ``section``."""
    return {
        "config_sha256": section_hash(section),
        "iceafm_version": package_version(),
        "workflow_commit": workflow_commit(),
        "packages": software_versions(),
    }


def stamp_json_outputs(outputs: Iterable[str | os.PathLike], section: object) -> None:
    """Add ``"provenance": provenance(section)`` to every ``.json`` file among ``outputs``
    (a JSON object each), rewriting it atomically."""
    for path in outputs:
        if not str(path).endswith(".json"):
            continue
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object to stamp, found {type(data)}")
        write_json_atomic(path, {**data, "provenance": provenance(section)})


def report_description(text: str, config: Mapping[str, Any]) -> str:
    """The report's workflow description: ``text`` (reStructuredText) followed by the iceafm
    version, the workflow commit, the software versions and the full config (YAML), each
    inside Jinja raw blocks so that braces in the config cannot break the report's rendering."""
    import yaml

    rows = "\n".join(f"   {name}, {version or 'not installed'}" for name, version in
                     software_versions().items())  # fmt: skip
    config_yaml = yaml.safe_dump(json.loads(json.dumps(config, default=str)), sort_keys=False)
    config_block = "\n".join(f"   {line}" for line in config_yaml.splitlines())
    return (
        f"{text.rstrip()}\n\n"
        f"**iceafm {package_version()}**, workflow commit ``{workflow_commit() or 'unknown'}``.\n\n"
        "{% raw %}\n"
        ".. csv-table:: Software versions\n   :header: package, version\n\n"
        f"{rows}\n\n"
        "Configuration (after defaults), config hash "
        f"``{section_hash(dict(config))[:16]}``::\n\n{config_block}\n"
        "{% endraw %}\n"
    )
