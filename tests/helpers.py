"""Shared test helpers (import as `from helpers import ...`): paths and a real Snakemake runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from iceafm.jobstats import per_sample_counts as job_counts  # noqa: F401 (re-export)

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
EXPERIMENTAL = REPO.parent / "shared" / "data" / "experimental"


def run_snakemake(
    workdir: Path,
    *args: str,
    config: dict | None = None,
    check: bool = True,
    timeout: float = 1200,
) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile in ``workdir`` (a real subprocess, 2 cores).

    ``config`` is written to ``workdir/config.yaml`` and passed with ``--configfile``.
    Returns the completed process (stdout and stderr merged into ``stdout``).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    if config is not None:
        path = workdir / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        cmd += ["--configfile", str(path)]
    cmd += ["--cores", "2", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        tail = proc.stdout[-6000:]
        pytest.fail(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{tail}")
    return proc


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def tiny_config() -> dict:
    """The tiny CI campaign (.test/config/config.yaml) as a dict, fresh each call."""
    return load_yaml(REPO / ".test" / "config" / "config.yaml")



def dft_snakefile(samples: list[str], extra_targets: tuple[str, ...] = ()) -> str:
    """A Snakefile that runs only the repository's DFT rules (workflow/rules/dft.smk) on
    ``samples`` (structures under results/structures/, config in ./config.yaml) and asks for
    their dft.json plus ``extra_targets``."""
    targets = "".join(f"        {t!r},\n" for t in extra_targets)
    return f"""
import os
import sys

from snakemake.utils import validate

# as the repository's Snakefile: shell rules find this Python's tools (gpaw) on PATH
os.environ.update(PATH=os.pathsep.join((os.getenv("PATH", ""), os.path.dirname(sys.executable))))

configfile: "config.yaml"
validate(config, "{REPO}/workflow/schemas/config.schema.yaml")
SAMPLES = {samples!r}


def plot_samples():
    return SAMPLES


include: "{REPO}/workflow/rules/dft.smk"


rule all:
    input:
        expand("results/dft/{{sample}}/dft.json", sample=SAMPLES),
{targets}"""
