"""Dry-run overhead of the campaign at cluster scale.

Plans the paper config scaled to 10,000 structures (`snakemake -n`) and measures wall time and
peak RSS of the Snakemake process; as a baseline, the same number of jobs per rule in a trivial
workflow (no config validation, no input functions) is planned in the same run.
Writes benchmarks/results/workflow_overhead.json. Goals: dryrun_seconds <= 15,
dryrun_peak_rss_mb <= 1000 on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import machine_info, write_result

from iceafm.jobstats import parse_job_stats

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


def trivial_snakefile(per_rule: dict[str, int]) -> str:
    """A chain of trivial rules with the same job count per rule as the campaign."""
    per_rule = {rule: count for rule, count in per_rule.items() if rule != "total"}
    n = max(per_rule.values())
    lines = [f"IDS = [f'{{i:05d}}' for i in range({n})]", "rule all:", "    input: 'done.txt'"]
    previous = None
    for rule, count in per_rule.items():
        src = f"'{previous}/{{i}}.txt'" if previous else "[]"
        if count > 1:
            lines += [f"rule {rule}:", f"    input: {src}", f"    output: '{rule}/{{i}}.txt'",
                      "    shell: 'touch {output}'"]
            previous = rule
    lines += ["rule gather:", f"    input: expand('{previous}/{{i}}.txt', i=IDS)",
              "    output: 'done.txt'", "    shell: 'touch {output}'"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "config.yaml").write_text(yaml.safe_dump(scaled_paper_config(args.structures)))
        ours = [sys.executable, "-m", "snakemake", "-n", "--quiet", "all",
                "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
                "--configfile", str(work / "config.yaml"), "--cores", "2"]
        seconds, rss_mb, text = timed_dry_run(ours, REPO)
        stats = parse_job_stats(text)
        base = work / "baseline"
        base.mkdir()
        (base / "Snakefile").write_text(trivial_snakefile(stats))
        base_cmd = [sys.executable, "-m", "snakemake", "-n", "--quiet", "all",
                    "--cores", "2"]
        base_seconds, base_rss_mb, base_text = timed_dry_run(base_cmd, base)
    record = {
        **machine_info(),
        "structures": args.structures,
        "jobs": stats["total"],
        "jobs_per_rule": stats,
        "dryrun_seconds": round(seconds, 2),
        "dryrun_peak_rss_mb": round(rss_mb, 1),
        "baseline_jobs": parse_job_stats(base_text)["total"],
        "baseline_dryrun_seconds": round(base_seconds, 2),
        "baseline_dryrun_peak_rss_mb": round(base_rss_mb, 1),
        "ratio_seconds_vs_baseline": round(seconds / base_seconds, 2),
        "goals": {"dryrun_seconds": "<= 15", "dryrun_peak_rss_mb": "<= 1000"},
    }
    print(write_result("workflow_overhead", record).read_text())


if __name__ == "__main__":
    main()
