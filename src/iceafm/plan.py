"""Cost plan of a campaign: jobs per rule, core-hours and GPU-hours per stage.

The job list and each job's resources come from a Snakemake dry run under the cluster profile
(``snakemake -n --forceall --profile profiles/slurm --configfile config/paper.yaml``), so the
numbers use what SLURM would be asked for: cores = tasks x cpus_per_task (MPI) or
cpus_per_task / threads, GPUs = gpu. The wall time per job is, in order of preference, the mean
of the Snakemake benchmark files ``logs/<rule>/*.bench.tsv`` of an earlier run (column ``s``),
a measured default from :data:`DEFAULT_WALL_S`, or the job's requested ``runtime``.

    python -m iceafm.plan --configfile config/paper.yaml [--bench-dir RUN_DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from iceafm.config_checks import ConfigCheckError, load_config_file
from iceafm.dft.record import read_record
from iceafm.io.atomic import write_json_atomic

# Wall seconds per job measured on one 2-core machine (the project's design notes): a demo
# structure, a water hexamer LCAO DFT on 2 ranks, a 65x65x11 ppafm stack. Rules without a
# measurement fall back to their requested runtime.
DEFAULT_WALL_S = {
    "structure": 5.0,
    "dft": 9.2,
    "afm": 10.0,
    "labels": 2.0,
}

# Stage of each rule (the design's stages); a rule not listed is its own stage.
STAGE_OF_RULE = {
    "structure": "structures",
    "plot_structures": "figures",
    "dft": "dft",
    "plot_dft": "figures",
    "afm": "afm",
    "labels": "afm",
    "plot_afm": "figures",
    "dataset": "dataset",
    "train": "train",
    "adapt": "adapt",
    "diffusion": "diffusion",
}


class PlanError(ValueError):
    """Bad input to the plan: a dry run or benchmark file that cannot be read."""


@dataclass(frozen=True)
class PlannedJob:
    """One job of a dry run: rule, cores and GPUs it asks SLURM for, requested runtime (min)."""

    rule: str
    cores: int
    gpus: int
    runtime_min: float | None


@dataclass
class StageCost:
    """Jobs, core-hours and GPU-hours of one stage."""

    jobs: int = 0
    core_hours: float = 0.0
    gpu_hours: float = 0.0


def _resource_value(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def parse_dry_run(text: str) -> list[PlannedJob]:
    """Jobs of a ``snakemake -n`` listing (each ``rule NAME:`` block and its resources line).

    Local rules (``localrule x:``) and target rules without output (``all``) run on the login
    node, or not at all, and are left out: SLURM bills nothing for them.
    """
    jobs = []
    blocks = re.split(r"^(local)?rule (\w+):\s*$", text, flags=re.M)
    for local, rule, body in zip(blocks[1::3], blocks[2::3], blocks[3::3], strict=True):
        match = re.search(r"^\s+resources: (.*)$", body, re.M)
        threads = re.search(r"^\s+threads: (\d+)$", body, re.M)
        if local or not match or not re.search(r"^\s+output: ", body, re.M):
            continue
        res = {}
        for item in match.group(1).split(", "):
            key, _, value = item.partition("=")
            res[key.strip()] = _resource_value(value.strip())
        n_threads = int(threads.group(1)) if threads else 1
        per_task = res.get("cpus_per_task")
        per_task = per_task if isinstance(per_task, int) and per_task > 0 else n_threads
        tasks = res.get("tasks") if isinstance(res.get("tasks"), int) else 1
        gpus = res.get("gpu") if isinstance(res.get("gpu"), int) else 0
        if gpus and isinstance(res.get("cpus_per_gpu"), int):
            cores = gpus * res["cpus_per_gpu"]
        else:
            cores = tasks * per_task
        runtime = res.get("runtime")
        jobs.append(
            PlannedJob(rule, cores, gpus, runtime if isinstance(runtime, int | float) else None)
        )
    if not jobs and "Nothing to be done" not in text:
        raise PlanError("dry-run output lists no job with a 'resources:' line")
    return jobs


def read_benchmarks(run_dir: str | Path) -> dict[str, float]:
    """Mean wall seconds per rule from ``run_dir/logs/<rule>/*.bench.tsv`` (column ``s``), and
    for the cached dft rule (Snakemake allows it no benchmark file) from the ``wall_seconds`` of
    ``run_dir/results/dft/*/dft.json``."""
    walls: dict[str, list[float]] = {}
    for path in sorted(Path(run_dir).glob("results/dft/*/dft.json")):
        walls.setdefault("dft", []).append(float(read_record(path)["wall_seconds"]))
    for path in sorted(Path(run_dir).glob("logs/*/*.bench.tsv")):
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if not rows or "s" not in rows[0]:
            raise PlanError(f"{path}: expected a Snakemake benchmark TSV with a column 's'")
        walls.setdefault(path.parent.name, []).extend(float(row["s"]) for row in rows)
    return {rule: sum(values) / len(values) for rule, values in walls.items()}


def wall_seconds(job: PlannedJob, measured: dict[str, float]) -> tuple[float, str]:
    """Wall seconds of one job and where the number came from (benchmark/default/requested)."""
    if job.rule in measured:
        return measured[job.rule], "benchmark"
    if job.rule in DEFAULT_WALL_S:
        return DEFAULT_WALL_S[job.rule], "default"
    if job.runtime_min is not None:
        return 60.0 * job.runtime_min, "requested"
    raise PlanError(f"rule {job.rule}: no benchmark, no default and no runtime resource")


def estimate(
    jobs: list[PlannedJob], measured: dict[str, float]
) -> tuple[dict[str, int], dict[str, StageCost], dict[str, str]]:
    """Jobs per rule, cost per stage (core-hours, GPU-hours) and the wall-time source per rule.

    Core-hours count the cores a job holds for its whole wall time (what SLURM bills).
    """
    per_rule: dict[str, int] = {}
    per_stage: dict[str, StageCost] = {}
    sources: dict[str, str] = {}
    for job in jobs:
        wall_s, sources[job.rule] = wall_seconds(job, measured)
        per_rule[job.rule] = per_rule.get(job.rule, 0) + 1
        cost = per_stage.setdefault(STAGE_OF_RULE.get(job.rule, job.rule), StageCost())
        cost.jobs += 1
        cost.core_hours += job.cores * wall_s / 3600.0
        cost.gpu_hours += job.gpus * wall_s / 3600.0
    return per_rule, per_stage, sources


def format_plan(
    per_rule: dict[str, int], per_stage: dict[str, StageCost], sources: dict[str, str]
) -> str:
    """A plain-text table: jobs per rule (with the wall-time source), then cost per stage."""
    lines = [f"{'rule':<18}{'jobs':>8}  wall time from"]
    lines += [f"{rule:<18}{n:>8}  {sources[rule]}" for rule, n in sorted(per_rule.items())]
    lines += ["", f"{'stage':<18}{'jobs':>8}{'core-hours':>14}{'GPU-hours':>12}"]
    for stage, cost in sorted(per_stage.items()):
        lines.append(f"{stage:<18}{cost.jobs:>8}{cost.core_hours:>14.2f}{cost.gpu_hours:>12.2f}")
    total = StageCost(
        sum(c.jobs for c in per_stage.values()),
        sum(c.core_hours for c in per_stage.values()),
        sum(c.gpu_hours for c in per_stage.values()),
    )
    lines.append(f"{'total':<18}{total.jobs:>8}{total.core_hours:>14.2f}{total.gpu_hours:>12.2f}")
    return "\n".join(lines)


# Lines Snakemake prints on every start, never the reason of a failure.
_CHATTER = re.compile(
    r"^(Using profile|Building DAG|Assuming unrestricted|host:|Provided cores|Rules claiming|"
    r"Select jobs|Config file .* is extended|Using shell|Job stats|Nothing to be done)"
)


def error_line(output: str) -> str:
    """The line of a failed Snakemake run's output that says what went wrong: the message
    under an ``XError ...:`` header, else the first line naming an error, else the first line
    that is not start-up chatter (e.g. the one-line config errors of ``common.smk``)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not _CHATTER.match(ln)]
    for i, line in enumerate(lines):
        if re.match(r"^\w*(Error|Exception)\b.*:$", line) and i + 1 < len(lines):
            return lines[i + 1]
    named = [ln for ln in lines if re.search(r"error|not found|invalid|expected", ln, re.I)]
    return (named or lines or ["(no output)"])[0]


def dry_run(configfile: str, profile: str, repo: Path) -> str:
    """Output of ``snakemake -n --forceall`` for ``configfile`` under ``profile``."""
    load_config_file(configfile)  # one line for a missing file or bad YAML (Snakemake: traceback)
    cmd = [sys.executable, "-m", "snakemake", "-n", "--forceall", "--profile", profile]
    cmd += ["--configfile", configfile]
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PlanError(f"dry run of {configfile} failed: {error_line(proc.stderr + proc.stdout)}")
    return proc.stdout + proc.stderr


def main(argv: list[str] | None = None) -> int:
    """Print the plan of a campaign; optionally write it as JSON."""
    parser = argparse.ArgumentParser(prog="python -m iceafm.plan", description=__doc__)
    parser.add_argument("--configfile", default="config/paper.yaml")
    parser.add_argument("--profile", default="profiles/slurm")
    parser.add_argument("--bench-dir", default=".", help="run dir whose logs/*/*.bench.tsv to use")
    parser.add_argument("--json", help="also write the plan here (JSON)")
    args = parser.parse_args(argv)
    # The workflow is this source tree (src layout); paths are taken relative to the caller's
    # folder when they exist there, else relative to the repository (the defaults).
    repo = Path(__file__).resolve().parents[2]
    configfile, profile = (
        str(Path(p).resolve() if Path(p).exists() else repo / p)
        for p in (args.configfile, args.profile)
    )
    try:
        jobs = parse_dry_run(dry_run(configfile, profile, repo))
        per_rule, per_stage, sources = estimate(jobs, read_benchmarks(args.bench_dir))
    except (PlanError, ConfigCheckError) as err:
        print(f"iceafm.plan: {err}", file=sys.stderr)
        return 2
    print(format_plan(per_rule, per_stage, sources))
    if args.json:
        payload = {
            "configfile": args.configfile,
            "jobs_per_rule": per_rule,
            "wall_time_source": sources,
            "stages": {stage: asdict(cost) for stage, cost in per_stage.items()},
        }
        write_json_atomic(args.json, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
