"""Cost plan: job counts and core/GPU-hours from a real Snakemake dry run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from iceafm.costmodel import CostModel, DftSize, Measurement
from iceafm.plan import (
    DEFAULT_WALL_S,
    Measured,
    PlanError,
    estimate,
    format_over_runtime,
    format_plan,
    over_runtime,
    parse_dry_run,
    read_benchmarks,
    wall_seconds,
)

SNAKEFILE = """

rule all:
    input: expand("dft/{s}.txt", s=range(3)), "model.pt"

rule dft:
    output: "dft/{s}.txt"
    resources: mpi="srun", tasks=4, cpus_per_task=1, runtime=30
    shell: "touch {output}"

rule train:
    input: expand("dft/{s}.txt", s=range(3))
    output: "model.pt"
    resources: gpu=2, cpus_per_gpu=8, runtime=120
    shell: "touch {output}"
"""


@pytest.fixture(scope="module")
def dry_run_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    work = tmp_path_factory.mktemp("plan")
    (work / "Snakefile").write_text(SNAKEFILE)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--forceall", "-d", str(work)],
        cwd=work, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return proc.stdout + proc.stderr


def test_dry_run_jobs_carry_cores_and_gpus(dry_run_text: str) -> None:
    jobs = parse_dry_run(dry_run_text)
    assert sorted(j.rule for j in jobs) == ["dft", "dft", "dft", "train"]
    dft = next(j for j in jobs if j.rule == "dft")
    train = next(j for j in jobs if j.rule == "train")
    assert (dft.cores, dft.gpus, dft.runtime_min) == (4, 0, 30)
    assert (train.cores, train.gpus, train.runtime_min) == (16, 2, 120)


def test_benchmarks_win_over_requested_runtime(dry_run_text: str, tmp_path: Path) -> None:
    bench = tmp_path / "logs" / "dft"
    bench.mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for i, seconds in enumerate((3000.0, 4200.0)):
        (bench / f"s{i}.bench.tsv").write_text(
            header + f"{seconds}\t0:50:00\t1\t1\t1\t1\t0\t0\t1\t1\n"
        )
    measured = read_benchmarks(tmp_path)
    assert measured == {"dft": 3600.0}
    per_rule, per_stage, sources = estimate(parse_dry_run(dry_run_text), measured)
    assert per_rule == {"dft": 3, "train": 1}
    assert sources == {"dft": "benchmark", "train": "requested"}
    # 3 jobs x 4 cores x 1 h; train: 2 GPUs x 2 h (requested), 16 cores x 2 h
    assert per_stage["dft"].core_hours == pytest.approx(12.0)
    assert per_stage["train"].gpu_hours == pytest.approx(4.0)
    assert per_stage["train"].core_hours == pytest.approx(32.0)
    assert "total" in format_plan(per_rule, per_stage, sources)


def test_bad_benchmark_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "logs" / "afm" / "x.bench.tsv"
    bad.parent.mkdir(parents=True)
    bad.write_text("wall\n1\n")
    with pytest.raises(PlanError, match="x.bench.tsv"):
        read_benchmarks(tmp_path)


def test_dft_records_give_the_dft_wall_time(tmp_path: Path) -> None:
    for i, seconds in enumerate((100.0, 300.0)):
        record = tmp_path / "results" / "dft" / f"s{i}" / "dft.json"
        record.parent.mkdir(parents=True)
        record.write_text(json.dumps({"status": "converged", "wall_seconds": seconds}))
    assert read_benchmarks(tmp_path) == {"dft": 200.0}


BATCH_SNAKEFILE = """
rule all:
    input: expand("results/dft/s{i}/dft.json", i=range(5))

OUTPUTS = ("hartree.cube", "density.cube", "dft.json")
for first in (0, 2, 4):

    rule:
        name: f"dft__fam_{first:05d}"
        output: [f"results/dft/s{i}/{n}" for i in range(first, min(first + 2, 5)) for n in OUTPUTS]
        resources: mpi="srun", tasks=4, runtime=60
        shell: "touch {output}"
"""


def test_dft_batch_jobs_count_one_sbatch_each_and_their_members_wall_time(tmp_path: Path) -> None:
    (tmp_path / "Snakefile").write_text(BATCH_SNAKEFILE)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--forceall", "-d", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    jobs = parse_dry_run(proc.stdout + proc.stderr)
    assert sorted(j.dft_members for j in jobs) == [("s0", "s1"), ("s2", "s3"), ("s4",)]
    sizes = {f"s{i}": DftSize("fd", 1000, 8, 1, 4) for i in range(5)}
    model = CostModel([Measurement(DftSize("fd", 1000, 8, 1, 4), 400.0, "run A")])
    per_rule, stages, sources = estimate(jobs, Measured({}, dft_model=model, dft_sizes=sizes))
    # 5 structures, dft.batch_size 2: ceil(5 / 2) = 3 submissions; each member 400 core-s
    assert per_rule == {"dft": 3} and stages["dft"].sbatch == 3
    assert stages["dft"].core_hours == pytest.approx(5 * 400.0 / 3600)
    assert sources["dft"].startswith("model: run A")
    # without a model: the default wall time per member, not per output file
    _, stages, _ = estimate(jobs, {})
    assert stages["dft"].core_hours == pytest.approx(5 * 4 * DEFAULT_WALL_S["dft"] / 3600)


def test_jobs_estimated_past_their_runtime_request_are_flagged(dry_run_text: str) -> None:
    jobs = parse_dry_run(dry_run_text)
    # dft asks 30 min; measured 1 h per job: all three flagged; train (60 s of 120 min) is not
    over = over_runtime(jobs, [wall_seconds(j, {"dft": 3600.0, "train": 60.0}) for j in jobs])
    assert over == {"dft": {"jobs": 3, "max_hours": 1.0, "requested_hours": 0.5}}
    line = format_over_runtime(over)
    assert line.startswith("warning: 3 dft job(s)") and "1 h against 0.5 h" in line
    shorter = {"dft": 1700.0, "train": 60.0}
    assert over_runtime(jobs, [wall_seconds(j, shorter) for j in jobs]) == {}
