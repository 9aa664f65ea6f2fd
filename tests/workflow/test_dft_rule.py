"""Rule dft (and plot_dft) through real Snakemake and real GPAW on one water molecule.

The rule file is included by a minimal Snakefile written into the test's folder, so these
tests exercise exactly ``workflow/rules/dft.smk`` and the config schema, independent of the
other stages.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import ase.io
import pytest
import yaml
from ase.build import molecule
from helpers import dft_snakefile

from iceafm.dft.cube import load_density_cube, load_potential_cube
from iceafm.dft.record import read_record

REPO = Path(__file__).resolve().parents[2]
SAMPLE = "water-00000"


def tiny_campaign(workdir: Path, **dft_changes) -> Path:
    """A run folder with one water structure and a cheap ``dft`` section (LCAO sz, h 0.3 A)."""
    water = molecule("H2O", vacuum=4.0)
    water.pbc = False
    (workdir / "results" / "structures").mkdir(parents=True)
    ase.io.write(workdir / "results" / "structures" / f"{SAMPLE}.extxyz", water, format="extxyz")
    dft = {"basis": "sz(dzp)", "h": 0.3, **dft_changes}
    (workdir / "config.yaml").write_text(yaml.safe_dump({"dft": dft}))
    (workdir / "Snakefile").write_text(dft_snakefile([SAMPLE], ("results/figures/dft.png",)))
    return workdir


def snakemake(workdir: Path, *args: str, cache: Path | None = None) -> str:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    if cache is not None:
        cache.mkdir(exist_ok=True)
        env["SNAKEMAKE_OUTPUT_CACHE"] = str(cache)
    command = [sys.executable, "-m", "snakemake", "--directory", str(workdir), "--cores", "2"]
    proc = subprocess.run(
        [*command, "--snakefile", str(workdir / "Snakefile"), *args],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-5000:]
    return proc.stdout


@pytest.mark.slow
def test_two_ranks_converge_and_cache_serves_another_campaign(tmp_path):
    first = tiny_campaign(tmp_path / "first", resources={"ranks": 2})
    snakemake(first, "--cache", "dft", cache=tmp_path / "cache")
    out = first / "results" / "dft" / SAMPLE
    record = read_record(out / "dft.json")
    assert record["status"] == "converged" and record["ranks"] == 2
    assert load_potential_cube(out / "hartree.cube").same_grid(
        load_density_cube(out / "density.cube")
    )
    log = (first / "logs" / "dft" / f"{SAMPLE}.log").read_text()
    assert log.count("iter:") >= record["scf_iterations"]
    assert (first / "results" / "figures" / "dft.png").stat().st_size > 0

    second = tiny_campaign(tmp_path / "second", resources={"ranks": 1})
    snakemake(second, "--cache", "dft", cache=tmp_path / "cache")
    assert not (second / "logs" / "dft" / f"{SAMPLE}.log").read_text()  # GPAW did not run
    served = second / "results" / "dft" / SAMPLE / "dft.json"
    assert served.resolve().parent == (tmp_path / "cache").resolve()
    assert served.read_text() == (out / "dft.json").read_text()


@pytest.mark.slow
def test_non_convergence_is_retried_then_recorded_not_fatal(tmp_path):
    workdir = tiny_campaign(tmp_path, maxiter=2, retries=1, robust={"maxiter_factor": 1.0})
    snakemake(workdir)
    record = json.loads((workdir / "results" / "dft" / SAMPLE / "dft.json").read_text())
    assert record["status"] == "failed" and record["attempt"] == 2
    assert "SCF not converged in 2 iterations" in record["reason"]
    hartree = (workdir / "results" / "dft" / SAMPLE / "hartree.cube").read_text()
    assert hartree.startswith("FAILED: SCF not converged")
    assert (workdir / "results" / "figures" / "dft.png").stat().st_size > 0
