"""Dry-run overhead of the campaign at cluster scale.

Plans the paper config scaled to 10,000 structures (`snakemake -n`) and measures wall time and
peak RSS of the Snakemake process; Snakemake's floor, the same number of jobs per stage rule in
a trivial workflow (no config validation, no input functions), is planned in the same run
(`floor_*`). A cProfile'd dry run at `--profile-structures` says where the time goes.
Writes benchmarks/results/workflow_overhead.json. Goals: dryrun_seconds <= 15,
dryrun_peak_rss_mb <= 1000 on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import machine_info, write_result

from iceafm.jobstats import BATCH_SEPARATOR, parse_job_stats

REPO = Path(__file__).resolve().parents[1]


def scaled_paper_config(n_structures: int) -> dict:
    """The paper config with family counts scaled (proportionally) to ``n_structures`` in all."""
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    families = config["structures"]["families"]
    total = sum(f.get("count", 0) for f in families.values())
    names = [n for n, f in families.items() if f.get("count", 0)]
    for name in names:
        families[name]["count"] = n_structures * families[name]["count"] // total
    families[names[0]]["count"] += n_structures - sum(families[n]["count"] for n in names)
    # premelt frames come from MD trajectories: enough of them for the scaled count
    for section in families.values():
        if "trajectories_per_temperature" in section:
            frames = section["production_ps"] / section["frame_spacing_ps"]
            per_temperature = frames * len(section["temperatures_below_tm_k"])
            section["trajectories_per_temperature"] = math.ceil(section["count"] / per_temperature)
    return config


def timed_dry_run(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """Run ``cmd``; return (wall seconds, peak RSS in MB of that process, stdout)."""
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"dry run failed ({proc.returncode}): {' '.join(cmd)}\n{text[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, text


def jobs_per_stage_rule(stats: dict[str, int]) -> dict[str, int]:
    """Jobs per rule with batch rules (``afm__<batch>``) counted under their stage rule."""
    folded: dict[str, int] = {}
    for rule, count in stats.items():
        if rule != "total":
            base = rule.split(BATCH_SEPARATOR)[0]
            folded[base] = folded.get(base, 0) + count
    return folded


def trivial_snakefile(per_rule: dict[str, int]) -> str:
    """Trivial rules with the same job count per rule as the campaign, all gathered by one
    target (1 job each for `gather` and `all`, like the campaign's dataset and all)."""
    lines = ["rule all:", "    input: 'done.txt'"]
    gathered = []
    for rule, count in per_rule.items():
        if count > 1 and rule not in ("all",):
            lines += [f"rule {rule}:", f"    output: '{rule}/{{i}}.txt'",
                      "    shell: 'touch {output}'"]
            gathered.append(f"expand('{rule}/{{i}}.txt', i=range({count}))")
    lines += ["rule gather:", f"    input: {', '.join(gathered)}",
              "    output: 'done.txt'", "    shell: 'touch {output}'"]
    return "\n".join(lines) + "\n"


PROFILED = {
    "parse": "workflow.py:.*\\(include\\)",
    "dag_build": "workflow.py:.*\\(_build_dag\\)",
    "producer_lookup": "dag.py:.*\\(file2jobs\\)",
    "rule_output_matching": "rules.py:.*\\(is_producer\\)",
    "job_creation": "dag.py:.*\\(new_job\\)",
    "input_functions": "rules.py:.*\\(apply_input_function\\)",
    "resources": "rules.py:.*\\(expand_resources\\)",
    "params": "rules.py:.*\\(expand_params\\)",
    "needrun": "dag.py:.*\\(update_needrun\\)",
    "dryrun_printing": "executors/dryrun.py:.*\\(printjob\\)",
    "shell_formatting": "jobs.py:.*\\(shellcmd\\)",
    "glob": "glob.py:.*\\(glob\\)",
}


def profile_dry_run(cmd: list[str], cwd: Path) -> dict[str, float]:
    """Fraction of a cProfile'd dry run's time in each part of :data:`PROFILED` (cumulative
    times; parts overlap: resources and shell formatting fall in dry-run printing)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "prof.out"
        prof = [sys.executable, "-m", "cProfile", "-o", str(out), *cmd[1:]]
        subprocess.run(prof, cwd=cwd, capture_output=True, check=True)
        stats = pstats.Stats(str(out))
    total = max(v[3] for v in stats.stats.values())
    shares = {}
    for name, pattern in PROFILED.items():
        times = [v[3] for (f, line, fn), v in stats.stats.items()
                 if re.search(pattern, f"{f}:{line}({fn})")]
        shares[name] = round(max(times, default=0.0) / total, 3)
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=10_000)
    parser.add_argument("--profile-structures", type=int, default=2_000)
    args = parser.parse_args()

    def command(work: Path, n: int) -> list[str]:
        (work / "config.yaml").write_text(
            yaml.safe_dump(scaled_paper_config(n), sort_keys=False)
        )
        return [sys.executable, "-m", "snakemake", "-n", "--quiet", "all",
                "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
                "--configfile", str(work / "config.yaml"), "--cores", "2"]  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seconds, rss_mb, text = timed_dry_run(command(work, args.structures), REPO)
        stats = parse_job_stats(text)
        per_rule = jobs_per_stage_rule(stats)
        base = work / "floor"
        base.mkdir()
        (base / "Snakefile").write_text(trivial_snakefile(per_rule))
        base_cmd = [sys.executable, "-m", "snakemake", "-n", "--quiet", "all", "--cores", "2"]
        base_seconds, base_rss_mb, base_text = timed_dry_run(base_cmd, base)
        small = work / "profiled"
        small.mkdir()
        shares = profile_dry_run(command(small, args.profile_structures), REPO)
    record = {
        **machine_info(),
        "structures": args.structures,
        "jobs": stats["total"],
        "jobs_per_rule": per_rule,
        "dryrun_seconds": round(seconds, 2),
        "dryrun_peak_rss_mb": round(rss_mb, 1),
        "floor_jobs": parse_job_stats(base_text)["total"],
        "floor_seconds": round(base_seconds, 2),
        "floor_peak_rss_mb": round(base_rss_mb, 1),
        "ratio_seconds_vs_floor": round(seconds / base_seconds, 2),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "profile": {"structures": args.profile_structures, "share_of_time": shares},
        "goals": {"dryrun_seconds": "<= 15", "dryrun_peak_rss_mb": "<= 1000"},
    }
    print(write_result("workflow_overhead", record).read_text())


if __name__ == "__main__":
    main()
