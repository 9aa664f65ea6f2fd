"""The SLURM profile renders the sbatch lines an HPC user expects (no cluster needed).

A throwaway workflow with rules named like the campaign's GPU and DFT rules runs under
``--profile profiles/slurm`` (and the literal ``--profile slurm`` after the README's set-up
link) against a recording ``sbatch`` first on PATH, which stores the submit line that the real
executor plugin built and then refuses the job. The GPU rules therefore never need a GPU.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

SNAKEFILE = """
rule all:
    input: "train.done", "adapt.done", "diffusion.done", "gpu_rule.done", "dft.done", "afm.done"

rule train:
    output: "train.done"
    shell: "touch {output}"

rule adapt:
    output: "adapt.done"
    shell: "touch {output}"

rule diffusion:
    output: "diffusion.done"
    shell: "touch {output}"

rule gpu_rule:
    output: "gpu_rule.done"
    resources: gpu=1
    shell: "touch {output}"

rule dft:
    output: "dft.done"
    resources: mpi="mpiexec", tasks=2, mem_mb=lambda wc, attempt: 1000 * attempt
    shell: "{resources.mpi} -n {resources.tasks} true; touch {output}"

rule afm:
    output: "afm.done"
    resources: mem_mb=lambda wc, attempt: 2000 * attempt
    shell: "touch {output}"
"""

# Records its command line (one per call) and refuses the job, as a full cluster would.
RECORDING_SBATCH = """#!/bin/sh
printf '%s\\n' "sbatch $*" >> "{record}"
echo "sbatch: error: recorded by test, not submitted" >&2
exit 1
"""


def _submit_lines(tmp_path: Path, profile: str, env: dict[str, str]) -> dict[str, list[str]]:
    """Run the throwaway workflow; return the recorded sbatch lines keyed by rule name."""
    workdir = tmp_path / "wf"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(SNAKEFILE)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "sbatch_calls.txt"
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(RECORDING_SBATCH.format(record=record))
    sbatch.chmod(0o755)
    env = {**env, "PATH": f"{bin_dir}:{env['PATH']}"}
    cmd = [
        *SNAKEMAKE, "--profile", profile, "-s", str(workdir / "Snakefile"),
        "--directory", str(workdir), "--retries", "1", "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "1", "--latency-wait", "1",
    ]  # fmt: skip
    proc = subprocess.run(
        ["timeout", "-k", "10", "240", *cmd],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode != 0, "the recording sbatch refuses every job"
    assert record.exists(), proc.stderr[-3000:]
    lines: dict[str, list[str]] = {}
    for line in record.read_text().splitlines():
        rule = re.search(r"--comment '?rule_([a-z_]+?)'?(?: |$)", line)
        assert rule, line
        # Only the sbatch options: the wrapped job command repeats resource names.
        lines.setdefault(rule.group(1), []).append(line.split(" --wrap=")[0])
    return lines


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = str(tmp_path / "home")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "home" / ".config")
    env.pop("SLURM_CONF", None)
    return env


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    tmp_path = tmp_path_factory.mktemp("render")
    return _submit_lines(tmp_path, "profiles/slurm", _env(tmp_path))


def test_rule_with_gpu_resource_requests_one_gpu(rendered: dict[str, list[str]]) -> None:
    assert " --gpus=1" in rendered["gpu_rule"][0]


@pytest.mark.parametrize("rule", ["train", "adapt", "diffusion"])
def test_campaign_gpu_rules_get_a_gpu_and_cpus_per_gpu(
    rendered: dict[str, list[str]], rule: str
) -> None:
    line = rendered[rule][0]
    assert " --gpus=1" in line
    assert " -p gpu" in line
    assert "--cpus-per-gpu=8" in line
    assert "--cpus-per-task" not in line


def test_dft_is_an_mpi_job_with_one_core_per_rank(rendered: dict[str, list[str]]) -> None:
    line = rendered["dft"][0]
    assert "--ntasks=2" in line
    assert "--cpus-per-task=1" in line
    assert " -p cpu" in line


def test_retry_asks_for_more_memory(rendered: dict[str, list[str]]) -> None:
    """Attempt-scaled memory as the campaign's dft and afm batch rules declare it: the profile
    must not pin it (a retry after an OOM kill gets twice as much)."""
    dft_mem = [int(re.search(r"--mem (\d+)", line).group(1)) for line in rendered["dft"]]
    afm_mem = [int(re.search(r"--mem (\d+)", line).group(1)) for line in rendered["afm"]]
    assert dft_mem == [1000, 2000]
    assert afm_mem == [2000, 4000]


def test_bare_profile_name_works_after_setup_link(tmp_path: Path) -> None:
    """`snakemake --profile slurm` from the repo root, once profiles/slurm is linked into
    ~/.config/snakemake/slurm (the README's set-up step)."""
    env = _env(tmp_path)
    link = Path(env["XDG_CONFIG_HOME"]) / "snakemake" / "slurm"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO / "profiles" / "slurm", target_is_directory=True)
    lines = _submit_lines(tmp_path, "slurm", env)
    assert " --gpus=1" in lines["train"][0]
    assert "--ntasks=2" in lines["dft"][0]


def _real_submit_lines(
    tmp_path: Path, config: Path | None, target: str = "results/dft/ice_basal-00000/dft.json",
    rule: str = "dft",
) -> tuple[list[str], str]:
    """Submit the campaign's own ``rule`` for ``target`` (one structure already in place, for
    the dft rule) under the SLURM profile with the recording sbatch; return its sbatch option
    lines and Snakemake's output."""
    env = _env(tmp_path)
    workdir = tmp_path / "run"
    (workdir / "results" / "structures").mkdir(parents=True)
    water = "3\nPBC=\"F F F\"\nO 0 0 0\nH 0.76 0.59 0\nH -0.76 0.59 0\n"
    (workdir / "results" / "structures" / "ice_basal-00000.extxyz").write_text(water)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "sbatch_calls.txt"
    (bin_dir / "sbatch").write_text(RECORDING_SBATCH.format(record=record))
    (bin_dir / "sbatch").chmod(0o755)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    cmd = [
        *SNAKEMAKE, "--profile", "profiles/slurm", "--directory", str(workdir),
        "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
        "--latency-wait", "1", target,
    ]  # fmt: skip
    if config is not None:
        cmd += ["--configfile", str(config)]
    proc = subprocess.run(
        ["timeout", "-k", "10", "240", *cmd],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    calls = record.read_text().splitlines() if record.exists() else []
    ours = re.compile(rf"--comment '?rule_{rule}(_wildcards|'| |$)")
    lines = [c.split(" --wrap=")[0] for c in calls if ours.search(c)]
    return lines, proc.stdout + proc.stderr


def test_shipped_config_with_one_rank_submits_a_plain_one_task_dft_job(tmp_path: Path) -> None:
    """The default config (dft.resources.ranks: 1) is not refused as a 1-task MPI job: the
    real dft rule submits a plain one-task job (gpaw runs without a launcher)."""
    lines, output = _real_submit_lines(tmp_path, None)
    assert "must be greater than 1" not in output
    assert lines, output[-3000:]
    assert "--ntasks=1" in lines[0]


def test_several_ranks_make_an_mpi_dft_job(tmp_path: Path) -> None:
    config = tmp_path / "ranks.yaml"
    config.write_text((REPO / "config" / "config.yaml").read_text() + "\n")
    text = config.read_text().replace("ranks: 1 ", "ranks: 4 ")
    assert "ranks: 4" in text
    config.write_text(text)
    lines, output = _real_submit_lines(tmp_path, config)
    assert lines, output[-3000:]
    assert "--ntasks=4" in lines[0]
    assert "--cpus-per-task=1" in lines[0]


@pytest.mark.parametrize(("config", "gpu"), [("paper.yaml", True), ("config.yaml", False)])
def test_md_with_a_gpu_goes_to_the_gpu_partition(tmp_path: Path, config: str, gpu: bool) -> None:
    """The premelt MD asks for structures.families.premelt.resources.gpus GPUs (the paper 1,
    the demo 0): with a GPU it is sent where the profile sends the GPU rules, else to the
    default CPU partition."""
    lines, output = _real_submit_lines(
        tmp_path, REPO / "config" / config, "results/md/premelt/traj000.extxyz", "md"
    )
    assert lines, output[-3000:]
    assert (" -p gpu" in lines[0], "--gpus=1" in lines[0]) == (gpu, gpu), lines[0]
    assert (" -p cpu" in lines[0]) == (not gpu), lines[0]
