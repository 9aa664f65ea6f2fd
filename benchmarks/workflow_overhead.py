"""Dry-run overhead of the campaign at cluster scale.

Plans the paper config scaled to 10,000 structures (`snakemake -n`), with the paper's
`dft.batch_size` (DFT jobs of several structures), and measures wall time and peak RSS of the
Snakemake process; Snakemake's floor, the same number of jobs per stage rule in a trivial
workflow (no config validation, no input functions), is planned in the same run (`floor_*`),
and so is the same campaign with one DFT job per structure (`unbatched_dft`, dft.batch_size 1)
and with each of `--sweep-dft-batch-sizes` (`dft_batch_size_sweep`, each with Snakemake's floor
for its job counts, one output per job: `floor_one_output_per_job_seconds`).
A cProfile'd dry run at `--profile-structures` says where the time goes (`profile`; with DFT
batches of the sweep's largest size, `profile_dft_batched`), and
`dft_rule_parts` what each part of the DFT rule costs: CPU seconds of interleaved dry runs at
`--parts-structures` with the (unbatched, dft.batch_size 1) DFT rule stripped step by step
(resources, side outputs and log, input), next to the floor at the same job counts.
Writes benchmarks/results/workflow_overhead.json. Goals: dryrun_seconds <= 15,
dryrun_peak_rss_mb <= 1000 on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import yaml
from common import machine_info, write_result

from iceafm.jobstats import BATCH_SEPARATOR, parse_job_stats

REPO = Path(__file__).resolve().parents[1]


def scaled_paper_config(n_structures: int, dft_batch_size: int | None = None) -> dict:
    """The paper config with family counts scaled (proportionally) to ``n_structures`` in all,
    and ``dft.batch_size`` set if given (else the paper's)."""
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    if dft_batch_size is not None:
        config["dft"]["batch_size"] = dft_batch_size
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


def timed_dry_run(
    cmd: list[str], cwd: Path, cpu: list[float] | None = None
) -> tuple[float, float, str]:
    """Run ``cmd``; return (wall seconds, peak RSS in MB of that process, stdout); append its
    CPU seconds (user + system) to ``cpu`` if given."""
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if cpu is not None:
            cpu.append(usage.ru_utime + usage.ru_stime)
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


def receipt_ceiling_snakefile(
    n_structures: int, block: int, dft_record_only: bool = False
) -> str:
    """A scratch workflow with the plan that the receipt design (benchmarks/README.md, issue 12)
    would give the paper campaign at its best: one job and one declared file (a receipt) per
    block of ``block`` samples for structures, AFM and labels, the dataset gathering the AFM and
    labels receipts, and one DFT job per structure with the shipped rule's declarations (its
    block's structure receipt as input; hartree, density and record outputs; a log; params;
    retries; the 7 resources of rule dft, 3 of them attempt-scaled callables), each AFM receipt
    requesting its members' potentials and records. With ``dft_record_only`` each DFT job
    declares only its record (``dft.json``, the potential and density written beside it and
    not declared: the record, written last, is the DFT job's receipt) and AFM receipts request
    records only. Nothing of the campaign's config, validation, other stages or figures: a
    floor for that design, not a plan of it."""
    if dft_record_only:
        dft_output, afm_hartree = 'record="results/dft/{sample}/dft.json",', ""
    else:
        dft_output = (
            'hartree="results/dft/{sample}/hartree.cube", '
            'density="results/dft/{sample}/density.cube", '
            'record="results/dft/{sample}/dft.json",'
        )
        afm_hartree = (
            'hartree=lambda w: [f"results/dft/{s}/hartree.cube" for s in members(w.block)],'
        )
    return textwrap.dedent(f"""\
        B = {block}
        S = [f"s-{{i:05d}}" for i in range({n_structures})]


        def members(block):
            return S[int(block) * B : (int(block) + 1) * B]


        rule all:
            input: "results/dataset.done"


        rule structure_block:
            output: "results/.batches/structure/{{block}}.json"
            params: settings="{{}}"
            resources: mem_mb=500, runtime=lambda w, attempt: 60 * attempt
            shell: "touch {{output}}"


        rule dft:
            input: lambda w: f"results/.batches/structure/{{int(w.sample[2:]) // B}}.json"
            output: {dft_output}
            params: settings='{{"mode": "pw"}}'
            log: "logs/dft/{{sample}}.log"
            retries: 2
            resources:
                mpi_launcher="mpiexec", mpi="mpi", tasks=16, checkpoint_every=500,
                mem_mb=lambda w, attempt: 32000 * attempt,
                runtime=lambda w, attempt: 1080 * attempt,
                attempt=lambda w, attempt: attempt,
            shell: "touch {{output}} {{log}}"


        rule afm_block:
            input:
                structure="results/.batches/structure/{{block}}.json",
                {afm_hartree}
                record=lambda w: [f"results/dft/{{s}}/dft.json" for s in members(w.block)],
            output: "results/.batches/afm/{{block}}.json"
            log: "logs/afm/{{block}}.log"
            resources: mem_mb=lambda w, attempt: 2000 * attempt, runtime=lambda w, attempt: 300
            shell: "touch {{output}}"


        rule labels_block:
            input: "results/.batches/structure/{{block}}.json"
            output: "results/.batches/labels/{{block}}.json"
            log: "logs/labels/{{block}}.log"
            resources: mem_mb=500, runtime=lambda w, attempt: 60 * attempt
            shell: "touch {{output}}"


        rule dataset:
            input:
                expand("results/.batches/{{stage}}/{{block}}.json", stage=["afm", "labels"],
                       block=range(-(-{n_structures} // B)))
            output: "results/dataset.done"
            shell: "touch {{output}}"
        """)


#: The dry run of a trivial floor workflow, run in its folder (:func:`floor_workflow`).
FLOOR_DRY_RUN = [sys.executable, "-m", "snakemake", "-n", "--quiet", "all", "--cores", "2"]


def scratch_workflow(folder: Path, snakefile: str) -> Path:
    """``folder``, created, holding ``snakefile`` (a Snakefile's text): plan it with
    FLOOR_DRY_RUN there."""
    folder.mkdir(parents=True)
    (folder / "Snakefile").write_text(snakefile)
    return folder


def floor_workflow(folder: Path, per_rule: dict[str, int]) -> Path:
    """:func:`scratch_workflow` with the :func:`trivial_snakefile` of ``per_rule``."""
    return scratch_workflow(folder, trivial_snakefile(per_rule))


def planned_scratch(folder: Path, snakefile: str, floor_seconds: float) -> dict:
    """Plan ``snakefile`` in ``folder`` (:func:`scratch_workflow`): its ``jobs``,
    ``dryrun_seconds``, ``dryrun_cpu_seconds``, ``dryrun_peak_rss_mb`` and
    ``ratio_seconds_vs_floor`` (against ``floor_seconds``, the floor measured in the same run)."""
    cpu: list[float] = []
    seconds, rss_mb, text = timed_dry_run(FLOOR_DRY_RUN, scratch_workflow(folder, snakefile), cpu)
    return {
        "jobs": parse_job_stats(text)["total"],
        "dryrun_seconds": round(seconds, 2),
        "dryrun_cpu_seconds": round(cpu[0], 2),
        "dryrun_peak_rss_mb": round(rss_mb, 1),
        "ratio_seconds_vs_floor": round(seconds / floor_seconds, 2),
    }


PROFILED = {
    "parse": "workflow.py:.*\\(include\\)",
    "dag_build": "workflow.py:.*\\(_build_dag\\)",
    "producer_lookup": "dag.py:.*\\(file2jobs\\)",
    "output_prefix_lookup": "output_index.py:.*\\(match\\)",
    "rule_output_matching": "rules.py:.*\\(is_producer\\)",
    "job_creation": "dag.py:.*\\(new_job\\)",
    "input_functions": "rules.py:.*\\(apply_input_function\\)",
    "resources": "rules.py:.*\\(expand_resources\\)",
    "params": "rules.py:.*\\(expand_params\\)",
    "needrun": "dag.py:.*\\(update_needrun\\)",
    "directory_output_check": "dag.py:.*\\(check_directory_outputs\\)",
    "dryrun_printing": "executors/dryrun.py:.*\\(printjob\\)",
    "shell_formatting": "jobs.py:.*\\(shellcmd\\)",
    "glob": "glob.py:.*\\(glob\\)",
    # costs inside the parts above that per-job choices of the rules drive
    "output_regex_matching": "io/__init__.py:.*\\(match\\)",
    "regex_compilation": "re/_compiler.py:.*\\(compile\\)",
    "resource_signature_inspection": "common/__init__.py:.*\\(get_function_params\\)",
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


MINIMAL_DFT = """rule dft:
    {input}output:
        "results/dft/{{sample}}/dft.json",
    shell:
        "touch {{output}}"


"""


def dft_rule_variant(tree: Path, variant: str) -> Path:
    """A copy of the workflow (Snakefile, workflow/, config/, src/ linked) under ``tree`` whose
    dft rule declares less: ``as_shipped`` (unchanged), ``dft_without_resources`` (no
    resources, a one-placeholder shell command), ``dft_one_output_no_log`` (that, with only
    dft.json and no log; the potential and density become dft.json wherever used) and
    ``dft_without_input`` (that, without the structure input). Returns its Snakefile."""
    root = tree / variant
    shutil.copytree(REPO / "workflow", root / "workflow")
    shutil.copytree(REPO / "config", root / "config")
    shutil.copy(REPO / "Snakefile", root / "Snakefile")
    (root / "src").symlink_to(REPO / "src")
    rules = root / "workflow" / "rules"
    text = (rules / "dft.smk").read_text()
    # rule dft is the `if DFT_BATCH_SIZE == 1:` branch, indented by 4
    start, end = text.index("    rule dft:"), text.index("\nelse:\n") + 1
    rule = textwrap.dedent(text[start:end])
    if variant == "dft_without_resources":
        rule = rule[: rule.index("    resources:")] + rule[rule.index("    conda:") :]
        rule = rule[: rule.index("    shell:")] + '    shell:\n        "touch {output}"\n\n\n'
    elif variant in ("dft_one_output_no_log", "dft_without_input"):
        structure = '"results/structures/{sample}.extxyz"'
        given = "" if variant == "dft_without_input" else f"input:\n        {structure},\n    "
        rule = MINIMAL_DFT.format(input=given)
    elif variant != "as_shipped":
        raise ValueError(variant)
    rule = textwrap.indent(rule.rstrip("\n") + "\n\n", "    ", lambda line: line.strip() != "")
    (rules / "dft.smk").write_text(text[:start] + rule + text[end:])
    if variant in ("dft_one_output_no_log", "dft_without_input"):
        for smk in rules.glob("*.smk"):
            edited = re.sub(r"(hartree|density)\.cube", "dft.json", smk.read_text())
            smk.write_text(edited)
    return root / "Snakefile"


VARIANTS = ("as_shipped", "dft_without_resources", "dft_one_output_no_log", "dft_without_input")


def dft_rule_parts(n_structures: int, repeats: int) -> dict:
    """CPU seconds (min of ``repeats`` interleaved dry runs) of the campaign at ``n_structures``
    with each :data:`VARIANTS` dft rule and of the trivial floor with the same job counts: the
    differences are what each part of the DFT rule costs planning."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp)
        config = tree / "config.yaml"
        config.write_text(yaml.safe_dump(scaled_paper_config(n_structures, 1), sort_keys=False))
        commands = {}
        for variant in VARIANTS:
            work = tree / "work" / variant
            work.mkdir(parents=True)
            commands[variant] = [
                sys.executable, "-m", "snakemake", "-n", "--quiet", "all", "--cores", "2",
                "--snakefile", str(dft_rule_variant(tree, variant)), "--directory", str(work),
                "--configfile", str(config),
            ]  # fmt: skip
        _, _, text = timed_dry_run(commands["as_shipped"], tree)
        floor = floor_workflow(tree / "floor", jobs_per_stage_rule(parse_job_stats(text)))
        commands["floor"] = FLOOR_DRY_RUN
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):
            for name, cmd in commands.items():
                timed_dry_run(cmd, floor if name == "floor" else tree, cpu[name])
    return {
        "structures": n_structures,
        "repeats": repeats,
        "jobs": parse_job_stats(text)["total"],
        "cpu_seconds_min": {name: round(min(values), 2) for name, values in cpu.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=10_000)
    parser.add_argument("--profile-structures", type=int, default=2_000)
    parser.add_argument("--parts-structures", type=int, default=2_000)
    parser.add_argument("--parts-repeats", type=int, default=3)
    parser.add_argument("--sweep-dft-batch-sizes", type=int, nargs="*", default=[10, 25])
    args = parser.parse_args()

    def command(work: Path, n: int, dft_batch_size: int | None = None) -> list[str]:
        (work / "config.yaml").write_text(
            yaml.safe_dump(scaled_paper_config(n, dft_batch_size), sort_keys=False)
        )
        return [sys.executable, "-m", "snakemake", "-n", "--quiet", "all",
                "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
                "--configfile", str(work / "config.yaml"), "--cores", "2"]  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # CPU seconds (user + system) next to the wall seconds: the shared machine's load
        # scales wall times unevenly
        cpu: dict[str, list[float]] = {}
        seconds, rss_mb, text = timed_dry_run(
            command(work, args.structures), REPO, cpu.setdefault("main", [])
        )
        stats = parse_job_stats(text)
        unbatched = work / "unbatched"
        unbatched.mkdir()
        u_seconds, u_rss_mb, u_text = timed_dry_run(
            command(unbatched, args.structures, 1), REPO, cpu.setdefault("unbatched", [])
        )
        sweep = {}
        for size in args.sweep_dft_batch_sizes:
            folder = work / f"dft_batch_{size}"
            folder.mkdir()
            s_seconds, s_rss_mb, s_text = timed_dry_run(
                command(folder, args.structures, size), REPO, cpu.setdefault(str(size), [])
            )
            # Snakemake's floor for these job counts, one output file per job: what the plan
            # would cost if each batch job declared one file (a receipt) instead of its members'
            s_stats = parse_job_stats(s_text)
            f_seconds, f_rss_mb, _ = timed_dry_run(
                FLOOR_DRY_RUN, floor_workflow(folder / "floor", jobs_per_stage_rule(s_stats))
            )
            sweep[str(size)] = {
                "jobs": s_stats["total"],
                "dryrun_seconds": round(s_seconds, 2),
                "dryrun_cpu_seconds": round(cpu[str(size)][0], 2),
                "dryrun_peak_rss_mb": round(s_rss_mb, 1),
                "floor_one_output_per_job_seconds": round(f_seconds, 2),
                "floor_one_output_per_job_peak_rss_mb": round(f_rss_mb, 1),
            }
        per_rule = jobs_per_stage_rule(stats)
        base_seconds, base_rss_mb, base_text = timed_dry_run(
            FLOOR_DRY_RUN, floor_workflow(work / "floor", per_rule), cpu.setdefault("floor", [])
        )
        # the receipt design's best case, as rule dft declares its files today and with its
        # record alone declared (receipt_ceiling_snakefile)
        ceilings = {
            key: planned_scratch(
                work / key,
                receipt_ceiling_snakefile(args.structures, 100, dft_record_only=record_only),
                base_seconds,
            )
            for key, record_only in (
                ("receipt_ceiling", False),
                ("receipt_ceiling_dft_record_only", True),
            )
        }
        small = work / "profiled"
        small.mkdir()
        shares = profile_dry_run(command(small, args.profile_structures), REPO)
        # the same with DFT batches of the sweep's largest size: the per-file costs
        batched = work / "profiled_batched"
        batched.mkdir()
        size = max(args.sweep_dft_batch_sizes, default=1)
        batched_shares = profile_dry_run(command(batched, args.profile_structures, size), REPO)
    record = {
        **machine_info(),
        "structures": args.structures,
        "dft_batch_size": scaled_paper_config(1)["dft"].get("batch_size", 1),
        "jobs": stats["total"],
        "jobs_per_rule": per_rule,
        "dryrun_seconds": round(seconds, 2),
        "dryrun_peak_rss_mb": round(rss_mb, 1),
        "dryrun_cpu_seconds": round(cpu["main"][0], 2),
        "floor_jobs": parse_job_stats(base_text)["total"],
        "floor_seconds": round(base_seconds, 2),
        "floor_peak_rss_mb": round(base_rss_mb, 1),
        "floor_cpu_seconds": round(cpu["floor"][0], 2),
        "ratio_seconds_vs_floor": round(seconds / base_seconds, 2),
        # the same campaign with one DFT job per structure, planned in the same run
        "unbatched_dft": {
            "dft_batch_size": 1,
            "jobs": parse_job_stats(u_text)["total"],
            "dryrun_seconds": round(u_seconds, 2),
            "dryrun_peak_rss_mb": round(u_rss_mb, 1),
            "dryrun_cpu_seconds": round(cpu["unbatched"][0], 2),
        },
        "dft_batch_size_sweep": sweep,
        **ceilings,
        # planning time per job: ours and the trivial floor's (ms)
        "ms_per_job": round(1000 * seconds / stats["total"], 3),
        "floor_ms_per_job": round(1000 * base_seconds / parse_job_stats(base_text)["total"], 3),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "profile": {"structures": args.profile_structures, "share_of_time": shares},
        "profile_dft_batched": {
            "structures": args.profile_structures,
            "dft_batch_size": size,
            "share_of_time": batched_shares,
        },
        "dft_rule_parts": dft_rule_parts(args.parts_structures, args.parts_repeats),
        "goals": {"dryrun_seconds": "<= 15", "dryrun_peak_rss_mb": "<= 1000"},
    }
    print(write_result("workflow_overhead", record).read_text())


if __name__ == "__main__":
    main()
