"""Cost plan of a campaign: jobs, SLURM submissions, core-hours and GPU-hours per stage.

The job list and each job's resources come from a Snakemake dry run under the cluster profile
(``snakemake -n --forceall --profile profiles/slurm --configfile config/paper.yaml``), so the
numbers use what SLURM would be asked for: cores = tasks x cpus_per_task (MPI) or
cpus_per_task / threads, GPUs = gpu. The wall time per job is, in order of preference, the mean
of the Snakemake benchmark files ``logs/<rule>/*.bench.tsv`` of an earlier run (column ``s``),
a measured default from :data:`DEFAULT_WALL_S`, or the job's requested ``runtime``.
Batch rules (``structure__<batch>``, ``afm__<batch>``, ``labels__<batch>``; iceafm.batches)
take the measured seconds per member from their stamp files times their members. DFT jobs are
estimated by :mod:`iceafm.costmodel` from the measured ``dft.json`` runs under ``--bench-dir``
(each estimate names the run it extrapolates from and by how much the job is larger); a DFT
batch job (``dft__<batch>``, config ``dft.batch_size`` > 1) is the sum of its members'; with
``--pilot N`` the plan first runs N structures of the target config (structures and DFT) in
``--pilot-dir`` and plans from them.

SLURM submissions (sbatch calls) count one per job, one per job group (a bundle of a batch's
cheap jobs; DFT: one per batch job, ceil(structures / dft.batch_size) per family), and for
rules in the profile's ``slurm-array-jobs`` one per array of up to ``slurm-array-limit`` jobs
that become ready together (a lower bound).

    python -m iceafm.plan --configfile config/paper.yaml [--bench-dir RUN_DIR] [--json OUT]
    python -m iceafm.plan --configfile config/paper.yaml --pilot 4      # measure first
"""

from __future__ import annotations

import argparse
import csv
import glob
import math
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from iceafm.batches import member_seconds
from iceafm.config_checks import ConfigCheckError, load_config_file
from iceafm.costmodel import CostModel, CostModelError, DftSize, dft_size, read_measurements
from iceafm.dft.record import read_record
from iceafm.io.atomic import write_json_atomic
from iceafm.jobstats import BATCH_SEPARATOR

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
    "md_reference": "md",
    "structure": "structures",
    "plot_structures": "figures",
    "dft": "dft",
    "plot_dft": "figures",
    "afm": "afm",
    "labels": "afm",
    "plot_afm": "figures",
    "dataset": "dataset",
    "train": "train",
    "evaluate": "train",
    "adapt": "adapt",
    "adapt_translator": "adapt",
    "adapt_compare": "adapt",
    "diffusion": "diffusion",
}


class PlanError(ValueError):
    """Bad input to the plan: a dry run or benchmark file that cannot be read."""


@dataclass(frozen=True)
class PlannedJob:
    """One job of a dry run: rule, cores and GPUs it asks SLURM for, requested runtime (min),
    its ``sample`` wildcard, its outputs (the members of a batch rule), its job group and the
    samples of a DFT batch job (from its ``results/dft/<sample>/dft.json`` outputs)."""

    rule: str
    cores: int
    gpus: int
    runtime_min: float | None
    sample: str | None = None
    n_outputs: int = 1
    group: str | None = None
    dft_members: tuple[str, ...] = ()

    @property
    def base_rule(self) -> str:
        """The stage rule of a batch rule (``afm__ice_basal_00000`` -> ``afm``), else the rule."""
        return self.rule.partition(BATCH_SEPARATOR)[0]


@dataclass
class StageCost:
    """Jobs, SLURM submissions, core-hours and GPU-hours of one stage."""

    jobs: int = 0
    core_hours: float = 0.0
    gpu_hours: float = 0.0
    sbatch: int = 0


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
    # A job group's header precedes its jobs' blocks, which are indented (Snakemake 9).
    blocks = re.split(
        r"^(?:.*Group job (\S+) \(jobs.*|([ \t]*)(local)?rule (\w+):)\s*$", text, flags=re.M
    )
    group = None
    for header, indent, local, rule, body in zip(
        blocks[1::5], blocks[2::5], blocks[3::5], blocks[4::5], blocks[5::5], strict=True
    ):
        if header:
            group = header
            continue
        if not indent:
            group = None
        match = re.search(r"^\s+resources: (.*)$", body, re.M)
        threads = re.search(r"^\s+threads: (\d+)$", body, re.M)
        output = re.search(r"^\s+output: (.*)$", body, re.M)
        if local or not match or not output:
            continue
        sample = re.search(r"^\s+wildcards: .*\bsample=([^,\s]+)", body, re.M)
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
            PlannedJob(
                rule,
                cores,
                gpus,
                runtime if isinstance(runtime, int | float) else None,
                sample[1] if sample else None,
                len(output.group(1).split(", ")),
                group,
                tuple(re.findall(r"results/dft/([^/,\s]+)/dft\.json", output.group(1))),
            )
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


@dataclass
class Measured:
    """What earlier runs measured: mean wall seconds per rule (benchmarks, DFT records), per
    batch member and stage rule (stamp files), and the DFT cost model with the size of each
    planned DFT job (by sample id), if DFT runs were measured."""

    wall_s: dict[str, float]
    member_wall_s: dict[str, float] = field(default_factory=dict)
    dft_model: CostModel | None = None
    dft_sizes: dict[str, DftSize] = field(default_factory=dict)


def wall_seconds(job: PlannedJob, measured: Measured | dict[str, float]) -> tuple[float, str]:
    """Wall seconds of one job and where the number came from (benchmark, batch members, cost
    model with its reference run, default or requested)."""
    if isinstance(measured, dict):
        measured = Measured(measured)
    base = job.base_rule
    members = job.dft_members or ((job.sample,) if job.sample else ())
    if base == "dft" and measured.dft_model is not None and members and all(
        m in measured.dft_sizes for m in members
    ):
        core_seconds = 0.0
        for member in members:  # a batch job's members run one after another
            size = measured.dft_sizes[member]
            try:
                est = measured.dft_model.estimate(size)
            except CostModelError as err:
                raise PlanError(f"dft {member}: {err}") from err
            core_seconds += est.core_seconds
        via = f" x {est.mode_from}->{size.mode} ratio" if est.mode_from != size.mode else ""
        return core_seconds / max(job.cores, 1), (
            f"model: {est.source}, size x{est.x_ratio:.3g}{via}"
        )
    if job.rule != base:
        n_members = len(job.dft_members) or job.n_outputs
        if base in measured.member_wall_s:
            return measured.member_wall_s[base] * n_members, "benchmark (per member)"
        if base in DEFAULT_WALL_S:
            return DEFAULT_WALL_S[base] * n_members, "default (per member)"
    if job.rule in measured.wall_s:
        return measured.wall_s[job.rule], "benchmark"
    if job.rule in DEFAULT_WALL_S:
        return DEFAULT_WALL_S[job.rule], "default"
    if job.runtime_min is not None:
        return 60.0 * job.runtime_min, "requested"
    raise PlanError(f"rule {job.rule}: no benchmark, no default and no runtime resource")


def submissions(
    jobs: list[PlannedJob], array_rules: set[str], array_limit: int
) -> dict[str, int]:
    """SLURM submissions per stage, and in all under "total": one per job, one per job group
    (counted in each stage it holds jobs of, once in the total), one per array of up to
    ``array_limit`` jobs of a rule in ``array_rules`` (lower bound: an array holds the jobs
    that become ready together)."""
    per_stage: dict[str, set] = {}
    array_jobs: dict[str, int] = {}
    for i, job in enumerate(jobs):
        stage = STAGE_OF_RULE.get(job.base_rule, job.base_rule)
        if job.group is not None:
            per_stage.setdefault(stage, set()).add(("group", job.group))
        elif job.rule in array_rules:
            array_jobs[job.rule] = array_jobs.get(job.rule, 0) + 1
            per_stage.setdefault(stage, set())
        else:
            per_stage.setdefault(stage, set()).add(("job", i))
    counts = {stage: len(units) for stage, units in per_stage.items()}
    counts["total"] = len(set().union(*per_stage.values()))
    for rule, n in array_jobs.items():
        stage = STAGE_OF_RULE.get(rule, rule)
        counts[stage] += math.ceil(n / array_limit)
        counts["total"] += math.ceil(n / array_limit)
    return counts


def estimate(
    jobs: list[PlannedJob],
    measured: Measured | dict[str, float],
    array_rules: set[str] = frozenset(),
    array_limit: int = 1000,
    walls: list[tuple[float, str]] | None = None,
) -> tuple[dict[str, int], dict[str, StageCost], dict[str, str]]:
    """Jobs per rule, cost per stage (sbatch calls, core-hours, GPU-hours) and the wall-time
    source per rule (batch rules under their stage rule; for DFT the first job's source).

    Core-hours count the cores a job holds for its whole wall time (what SLURM bills).
    ``walls``: the jobs' :func:`wall_seconds`, when already computed (else computed here).
    """
    per_rule: dict[str, int] = {}
    per_stage: dict[str, StageCost] = {}
    sources: dict[str, str] = {}
    if walls is None:
        walls = [wall_seconds(job, measured) for job in jobs]
    for job, (wall_s, source) in zip(jobs, walls, strict=True):
        sources.setdefault(job.base_rule, source)
        per_rule[job.base_rule] = per_rule.get(job.base_rule, 0) + 1
        cost = per_stage.setdefault(STAGE_OF_RULE.get(job.base_rule, job.base_rule), StageCost())
        cost.jobs += 1
        cost.core_hours += job.cores * wall_s / 3600.0
        cost.gpu_hours += job.gpus * wall_s / 3600.0
    counts = submissions(jobs, set(array_rules), array_limit)
    for stage, cost in per_stage.items():
        cost.sbatch = counts[stage]
    per_stage_total = StageCost(
        sum(c.jobs for c in per_stage.values()),
        sum(c.core_hours for c in per_stage.values()),
        sum(c.gpu_hours for c in per_stage.values()),
        counts["total"],
    )
    per_stage["total"] = per_stage_total
    return per_rule, per_stage, sources


def over_runtime(
    jobs: list[PlannedJob], walls: list[tuple[float, str]]
) -> dict[str, dict[str, float]]:
    """Rules whose jobs are estimated (``walls``: each job's :func:`wall_seconds`) to run longer
    than the wall time they ask SLURM for (their ``runtime`` resource, attempt 1): per stage
    rule, the number of such jobs, the longest estimate and its request (hours). Such a job
    meets TIMEOUT and is retried with runtime x attempt (DFT resumes from its checkpoint), so
    its first submission is wasted."""
    over: dict[str, dict[str, float]] = {}
    for job, (wall_s, source) in zip(jobs, walls, strict=True):
        if job.runtime_min is None:
            continue
        if source == "requested" or wall_s <= 60.0 * job.runtime_min:
            continue
        entry = over.setdefault(job.base_rule, {"jobs": 0, "max_hours": 0.0})
        entry["jobs"] += 1
        if wall_s / 3600.0 > entry["max_hours"]:
            entry.update(max_hours=wall_s / 3600.0, requested_hours=job.runtime_min / 60.0)
    return over


def format_over_runtime(over: dict[str, dict[str, float]]) -> str:
    """One warning line per rule of :func:`over_runtime` (empty string when none)."""
    return "\n".join(
        f"warning: {int(e['jobs'])} {rule} job(s) estimated longer than their runtime request "
        f"(up to {e['max_hours']:.3g} h against {e['requested_hours']:.3g} h): raise the rule's "
        "runtime (dft: dft.resources.runtime_min) or expect TIMEOUT and a retry"
        for rule, e in sorted(over.items())
    )


def format_plan(
    per_rule: dict[str, int], per_stage: dict[str, StageCost], sources: dict[str, str]
) -> str:
    """A plain-text table: jobs per rule (with the wall-time source), then cost per stage."""
    w = max([18, *(len(name) + 1 for name in (*per_rule, *per_stage))])  # name column width
    lines = [f"{'rule':<{w}}{'jobs':>8}  wall time from"]
    lines += [f"{rule:<{w}}{n:>8}  {sources[rule]}" for rule, n in sorted(per_rule.items())]
    lines += ["", f"{'stage':<{w}}{'jobs':>8}{'sbatch':>8}{'core-hours':>14}{'GPU-hours':>12}"]
    stages = sorted(s for s in per_stage if s != "total") + ["total"] * ("total" in per_stage)
    for stage in stages:
        cost = per_stage[stage]
        lines.append(
            f"{stage:<{w}}{cost.jobs:>8}{cost.sbatch:>8}{cost.core_hours:>14.2f}"
            f"{cost.gpu_hours:>12.2f}"
        )
    lines.append("(sbatch: a job group, one submission, counts in each stage it holds jobs of)")
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


SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
GENERATED_FAMILIES = ("ice_basal", "premelt", "bilayer_metal", "cluster_metal")


def full_config(configfile: str) -> dict:
    """The config file with the schema's defaults filled in (as the workflow sees it)."""
    from snakemake.utils import validate

    config, _ = load_config_file(configfile)
    validate(config, str(SCHEMA))
    return config


def planned_dft_sizes(config: dict, samples: list[str], base: Path) -> dict[str, DftSize]:
    """Size of the DFT job of each planned sample: one generated structure per family (sample 0,
    MD cut to one step: the MD moves atoms, it does not change their number or the cell),
    imported files read as they are (paths relative to ``base``)."""
    from iceafm.structures import generate_structure
    from iceafm.structures.premelt import premelt_start

    families = config["structures"]["families"]
    ranks = int(config["dft"]["resources"]["ranks"])
    by_family: dict[str, DftSize] = {}
    imports = sorted(glob.glob(str(base / families["import"]["glob"]))) if (
        families.get("import", {}).get("glob")
    ) else []
    sizes = {}
    for sample in samples:
        family, _, index = sample.rpartition("-")
        if family == "import":
            from ase.io import read

            sizes[sample] = dft_size(read(imports[int(index)]), config["dft"], ranks)
            continue
        if family not in by_family:
            params = {k: v for k, v in families[family].items() if k != "count"}
            seed = int(config["structures"]["seed"])
            if family == "premelt":  # the MD moves atoms, the size is its starting slab's
                atoms = premelt_start(params, seed, 0)[0]
            else:
                atoms = generate_structure(family, 0, params, seed)
            by_family[family] = dft_size(atoms, config["dft"], ranks)
        sizes[sample] = by_family[family]
    return sizes


def pilot_config(config: dict, n: int) -> dict:
    """``config`` cut to ``n`` structures, taken round-robin over the families with samples."""
    families = config["structures"]["families"]
    available = {f: families[f].get("count", 0) for f in GENERATED_FAMILIES if f in families}
    counts = dict.fromkeys(available, 0)
    while sum(counts.values()) < n and any(counts[f] < available[f] for f in counts):
        for family in counts:
            if counts[family] < available[family] and sum(counts.values()) < n:
                counts[family] += 1
    pilot = yaml.safe_load(yaml.safe_dump(config))
    for family, count in counts.items():
        pilot["structures"]["families"][family]["count"] = count
    pilot["structures"]["families"].pop("import", None)
    return pilot


def run_pilot(configfile: str, profile: str, repo: Path, n: int, pilot_dir: Path) -> None:
    """Run ``n`` structures of ``configfile`` (structures and DFT) in ``pilot_dir`` under
    ``profile``, so that the plan extrapolates from runs of the target settings."""
    config, _ = load_config_file(configfile)
    pilot = pilot_config(full_config(configfile), n)
    pilot_dir.mkdir(parents=True, exist_ok=True)
    pilot_file = pilot_dir / "pilot.yaml"
    pilot_file.write_text(yaml.safe_dump(pilot, sort_keys=False))
    samples = [
        f"{family}-{i:05d}"
        for family in GENERATED_FAMILIES
        for i in range(pilot["structures"]["families"].get(family, {}).get("count", 0))
    ]
    targets = [f"results/dft/{s}/dft.json" for s in samples]
    cmd = [sys.executable, "-m", "snakemake", "--profile", profile, "--configfile",
           str(pilot_file), "--directory", str(pilot_dir), *targets]  # fmt: skip
    print(f"iceafm.plan: pilot of {len(samples)} structure(s) in {pilot_dir}", file=sys.stderr)
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PlanError(f"pilot run in {pilot_dir} failed: {error_line(proc.stderr + proc.stdout)}")


def profile_arrays(profile: str) -> tuple[set[str], int]:
    """Rules the profile submits as job arrays, and its array size limit."""
    path = Path(profile) / "config.yaml" if Path(profile).is_dir() else Path(profile)
    if path.is_dir() or not path.exists():
        path = Path(profile) / "profile.yaml"
    settings = yaml.safe_load(path.read_text()) if path.exists() else {}
    rules = str(settings.get("slurm-array-jobs") or "none")
    names = set() if rules == "none" else {r.strip() for r in rules.split(",") if r.strip()}
    return names, int(settings.get("slurm-array-limit", 1000))


def measurements(run_dir: str, config: dict, jobs: list[PlannedJob], base: Path) -> Measured:
    """Measured walls of ``run_dir`` and, when it holds DFT runs, the DFT model and sizes."""
    measured = Measured(read_benchmarks(run_dir))
    measured.member_wall_s = {
        stage: sum(v) / len(v) for stage, v in member_seconds(run_dir).items()
    }
    runs = read_measurements(run_dir)
    dft_samples = [
        s for j in jobs if j.base_rule == "dft" for s in (j.dft_members or (j.sample,)) if s
    ]
    if runs and dft_samples:
        measured.dft_model = CostModel(runs)
        measured.dft_sizes = planned_dft_sizes(config, dft_samples, base)
    return measured


def main(argv: list[str] | None = None) -> int:
    """Print the plan of a campaign; optionally write it as JSON."""
    parser = argparse.ArgumentParser(prog="python -m iceafm.plan", description=__doc__)
    parser.add_argument("--configfile", default="config/paper.yaml")
    parser.add_argument("--profile", default="profiles/slurm")
    parser.add_argument(
        "--bench-dir", default=".", help="run dir whose benchmarks and DFT records to use"
    )
    parser.add_argument("--pilot", type=int, metavar="N", help="first run N structures")
    parser.add_argument("--pilot-dir", default="pilot", help="where --pilot runs (default pilot/)")
    parser.add_argument("--json", help="also write the plan here (JSON)")
    args = parser.parse_args(argv)
    # The workflow is this source tree (src layout); paths are taken relative to the caller's
    # folder when they exist there, else relative to the repository (the defaults).
    repo = Path(__file__).resolve().parents[2]
    configfile, profile = (
        str(Path(p).resolve() if Path(p).exists() else repo / p)
        for p in (args.configfile, args.profile)
    )
    bench_dir = args.bench_dir
    try:
        if args.pilot:
            bench_dir = str(Path(args.pilot_dir).resolve())
            run_pilot(configfile, profile, repo, args.pilot, Path(bench_dir))
        jobs = parse_dry_run(dry_run(configfile, profile, repo))
        measured = measurements(bench_dir, full_config(configfile), jobs, Path.cwd())
        walls = [wall_seconds(job, measured) for job in jobs]
        per_rule, per_stage, sources = estimate(
            jobs, measured, *profile_arrays(profile), walls=walls
        )
    except (PlanError, ConfigCheckError, CostModelError) as err:
        print(f"iceafm.plan: {err}", file=sys.stderr)
        return 2
    print(format_plan(per_rule, per_stage, sources))
    over = over_runtime(jobs, walls)
    if over:
        print(format_over_runtime(over))
    if args.json:
        payload = {
            "configfile": args.configfile,
            "jobs_per_rule": per_rule,
            "wall_time_source": sources,
            "stages": {stage: asdict(cost) for stage, cost in per_stage.items()},
            "over_runtime": over,
        }
        write_json_atomic(args.json, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
