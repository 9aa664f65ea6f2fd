"""DFT batches (dft.batch_size 2) through real Snakemake and real GPAW on tiny water cells.

As in test_dft_rule, a minimal Snakefile includes exactly ``workflow/rules/dft.smk``; the dft
section is the tiny campaign's (.test/config: LCAO sz(dzp), h 0.3 A, one rank).
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

TINY_DFT = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())["dft"]


def sample(i: int) -> str:
    return f"water-{i:05d}"


def campaign(workdir: Path, n: int, **dft_changes) -> Path:
    """``n`` water molecules (each a little rotated, so the structures differ) and a
    Snakefile asking for their DFT with dft.batch_size 2."""
    folder = workdir / "results" / "structures"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        path = folder / f"{sample(i)}.extxyz"
        if not path.exists():
            water = molecule("H2O")
            water.rotate(15 * i, "z")
            water.center(vacuum=3.0)
            water.pbc = False
            ase.io.write(path, water, format="extxyz")
    dft = {**TINY_DFT, "batch_size": 2, **dft_changes}
    (workdir / "config.yaml").write_text(yaml.safe_dump({"dft": dft}))
    samples = [sample(i) for i in range(n)]
    (workdir / "Snakefile").write_text(dft_snakefile(samples))
    return workdir


def snakemake(workdir: Path, *args: str) -> str:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    command = [sys.executable, "-m", "snakemake", "--directory", str(workdir), "--cores", "1"]
    proc = subprocess.run(
        [*command, "--snakefile", str(workdir / "Snakefile"), *args],
        cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-5000:]
    return proc.stdout


def planned_jobs(workdir: Path) -> set[str]:
    """Rule names of the jobs a dry run plans (``all`` left out)."""
    text = snakemake(workdir, "-n")
    return {
        line.split()[1].rstrip(":")
        for line in text.splitlines()
        if line.startswith(("rule ", "localrule ")) and "all:" not in line
    }


def record_mtimes(workdir: Path, n: int) -> dict[str, int]:
    return {
        sample(i): (workdir / "results" / "dft" / sample(i) / "dft.json").stat().st_mtime_ns
        for i in range(n)
    }


@pytest.mark.slow
def test_batches_keep_per_sample_outputs_and_rerun_exactly(tmp_path):
    work = campaign(tmp_path, 3)
    assert planned_jobs(work) == {"dft__water_00000", "dft__water_00002"}
    snakemake(work)
    for i in range(3):
        out = work / "results" / "dft" / sample(i)
        record = read_record(out / "dft.json")
        assert record["status"] == "converged" and record["settings"]["h"] == 0.3
        assert load_potential_cube(out / "hartree.cube").same_grid(
            load_density_cube(out / "density.cube")
        )
        # per-structure GPAW log, as rule dft writes it
        log = (work / "logs" / "dft" / f"{sample(i)}.log").read_text()
        assert log.count("iter:") >= record["scf_iterations"]
    assert planned_jobs(work) == set()

    # Adding a sample runs only its DFT: block 1 (samples 2, 3) is split into the member that
    # exists and the new one (named by its member mask, 0b10 in the block).
    before = record_mtimes(work, 3)
    campaign(work, 4)
    assert planned_jobs(work) == {"dft__water_00003_m2"}
    snakemake(work)
    assert record_mtimes(work, 3) == before
    assert read_record(work / "results" / "dft" / sample(3) / "dft.json")["status"] == "converged"

    # A changed dft setting reruns every member (now two full blocks).
    stale = (work / "results" / "dft" / sample(1) / "dft.json").read_text()
    campaign(work, 4, h=0.32)
    assert planned_jobs(work) == {"dft__water_00000", "dft__water_00002"}
    snakemake(work)
    after = record_mtimes(work, 4)
    assert all(after[s] != before.get(s) for s in after)
    assert {read_record(p)["settings"]["h"] for p in work.glob("results/dft/*/dft.json")} == {0.32}

    # A member whose outputs were computed with other settings is never kept, whatever its
    # batch stamp says (e.g. restored by Snakemake from before a failed update): the forced
    # batch recomputes only that member.
    (work / "results" / "dft" / sample(1) / "dft.json").write_text(stale)
    # (Snakemake touches a finished job's outputs, so the kept member is compared by content.)
    kept = (work / "results" / "dft" / sample(0) / "dft.json").read_text()
    kept_log = (work / "logs" / "dft" / f"{sample(0)}.log").read_text()
    snakemake(work, "--forcerun", "dft__water_00000")
    assert (work / "results" / "dft" / sample(0) / "dft.json").read_text() == kept
    assert (work / "logs" / "dft" / f"{sample(0)}.log").read_text() == kept_log
    assert read_record(work / "results" / "dft" / sample(1) / "dft.json")["settings"]["h"] == 0.32
    batch_log = (work / "logs" / "dft" / "water_00000.log").read_text()
    assert "batch: 1 computed, 1 kept (up to date), 0 unfinished" in batch_log
    stamps = json.loads((work / "results" / ".batches" / "dft" / "water_00000.json").read_text())
    assert set(stamps) == {sample(0), sample(1)}
