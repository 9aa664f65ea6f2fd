"""DFT batches (config ``dft.batch_size`` > 1): one SLURM job runs several structures, one
after another, each its own GPAW MPI launch with the same command as rule ``dft``.

    python -m iceafm.dft.batch --structures S1 S2 --outputs H1 D1 R1 H2 D2 R2 --log-dir logs/dft
        --batch-log LOG --settings JSON [--launcher srun] --ranks N --attempt A

Each member's GPAW output goes to ``<log-dir>/<sample>.log`` (appended), as rule ``dft``'s.

Members and the retry of a killed batch are :func:`iceafm.batches.run_batch`'s: a member is
kept when its three outputs exist and its ``dft.json`` records the job's settings (provenance
``config_sha256``) and structure (``structure_sha256``), see :func:`record_is_current`, whoever
wrote it (another split of the block, rule ``dft``); else it is recomputed. The stamp file
(``results/.batches/dft/``) records each computed member's wall seconds for ``iceafm.plan``.
A member whose SCF must be retried (exit status 3) or whose input is bad (2) does not stop
the batch: the others run, and the job then fails so that Snakemake retries it (next
attempt), which recomputes only the unfinished members. A job with nothing pending keeps all
(``--forcerun`` of a batch recomputes nothing that is current: delete the outputs instead).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iceafm.batches import (
    Batch,
    Member,
    batch_from_rule_name,
    block_rule_name,
    make_batches,
    run_batch,
)
from iceafm.dft.record import structure_sha256
from iceafm.provenance import section_hash

#: Output file names of one member, in the order of the batch rule's outputs.
MEMBER_OUTPUTS = ("hartree.cube", "density.cube", "dft.json")


@dataclass(frozen=True)
class Launch:
    """How each member is started: ``launcher`` (``mpiexec``, ``srun``; None: run gpaw
    directly, one rank), ``ranks``, the Snakemake ``attempt`` (1-based) and SCF iterations
    between restart files (``checkpoint_every``)."""

    launcher: str | None
    ranks: int
    attempt: int
    checkpoint_every: int


def record_is_current(
    record_path: str | os.PathLike, structure: str | os.PathLike, settings: Mapping[str, Any]
) -> bool:
    """Whether ``dft.json`` at ``record_path`` was computed from ``structure`` (same SHA-256)
    with ``settings`` (the rule's ``dft`` result section; same provenance hash)."""
    try:
        record = json.loads(Path(record_path).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if not isinstance(record, dict):
        return False
    recorded_hash = (record.get("provenance") or {}).get("config_sha256")
    return recorded_hash == section_hash(dict(settings)) and record.get(
        "structure_sha256"
    ) == structure_sha256(structure)


def existing_records(folder: str | os.PathLike = "results/dft") -> set[str]:
    """Samples whose ``<folder>/<sample>/dft.json`` exists (one listing, one stat each)."""
    if not os.path.isdir(folder):
        return set()
    return {s for s in os.listdir(folder) if os.path.exists(os.path.join(folder, s, "dft.json"))}


def job_step_targets(argv: Sequence[str]) -> list[str]:
    """Rule names a Snakemake job step was started for: its ``--target-jobs`` values
    (``rule:wildcards`` each) on the command line ``argv``; empty if none."""
    if "--target-jobs" not in argv:
        return []
    rules = []
    for arg in argv[list(argv).index("--target-jobs") + 1 :]:
        if arg.startswith("-"):
            break
        rules.append(arg.partition(":")[0])
    return rules


def batch_jobs(
    samples: Sequence[str], size: int, existing: Collection[str], targets: Sequence[str] = ()
) -> list[tuple[str, Batch]]:
    """(name, batch) of each DFT batch job (rule ``dft__<name>``): blocks of ``size`` samples
    split into the members in ``existing`` (dft.json exists) and the new ones
    (:func:`iceafm.batches.make_batches`), so adding samples never reruns an existing
    structure's DFT; a split part's name says its members (:func:`block_rule_name`).

    A SLURM job step parses the workflow again, when that split may have changed (members of
    its own batch finished before a retry): given its ``targets`` (:func:`job_step_targets`;
    Snakemake sets its DAG settings only after parsing), the DFT batches among them are taken
    from their names instead.
    """
    names = [r.removeprefix("dft__") for r in targets if r.startswith("dft__")]
    if names:
        return [(n, batch_from_rule_name(n, size, samples)) for n in names]
    block_of = {s: b.members for b in make_batches(samples, size) for s in b.members}
    return [
        (block_rule_name(b, size, block_of[b.members[0]]), b)
        for b in make_batches(samples, size, existing=existing)
    ]


def job_resources(section: Mapping[str, Any], n_members: int = 1) -> dict[str, Any]:
    """Snakemake resources of a DFT job over ``n_members`` structures run one after another
    (rule ``dft``: one; rules ``dft__<batch>``: the batch's members), from the config section
    ``dft.resources``: ``tasks`` = ranks, the SLURM plugin's ``mpi`` flag for more than one rank
    (a single rank is a plain one-task job: the plugin refuses 1-task MPI jobs), memory
    ``mem_mb_per_rank`` x ranks x attempt (MB; the members run in turn, so one calculation's),
    wall time ``runtime_min`` x members x attempt (minutes), the ``attempt`` itself (the SCF
    retry level) and ``checkpoint_every``. The launcher comes from the rule (site-dependent)."""
    ranks = section["ranks"]
    return {
        "mpi": "mpi" if ranks > 1 else "",
        "tasks": ranks,
        "mem_mb": lambda wildcards, attempt: section["mem_mb_per_rank"] * ranks * attempt,
        "runtime": lambda wildcards, attempt: section["runtime_min"] * n_members * attempt,
        "attempt": lambda wildcards, attempt: attempt,
        "checkpoint_every": section["checkpoint_every"],
    }


def site_resources(
    overwrites: Mapping[str, Mapping[str, Any]],
    rule: str = "dft",
    keys: tuple[str, ...] = ("mpi_launcher", "cpus_per_task"),
) -> dict[str, Any]:
    """The ``keys`` that a profile's ``set-resources`` give ``rule`` (Snakemake's parsed
    overwrites, by rule), as written there. Default: what rule ``dft`` gets that a DFT batch job
    needs as well, the site's ``mpi_launcher`` and ``cpus_per_task`` (memory and wall time come
    from ``dft.resources``); rule md takes train's ``slurm_partition`` for GPU MD."""
    site = overwrites.get(rule, {})
    return {k: getattr(site[k], "raw", site[k]) for k in keys if k in site}


def member_command(
    structure: str,
    outputs: tuple[str, str, str],
    log: str,
    settings_json: str,
    scratch: str,
    launch: Launch,
) -> list[str]:
    """Argument list of one member's calculation: ``[launcher -n ranks] gpaw python -m
    iceafm.dft ...`` with ``outputs`` = (hartree, density, record) paths, as rule ``dft``."""
    prefix = [*launch.launcher.split(), "-n", str(launch.ranks)] if launch.launcher else []
    hartree, density, record = outputs
    return [
        *prefix, "gpaw", "python", "-m", "iceafm.dft", "--structure", structure,
        "--hartree", hartree, "--density", density, "--record", record, "--log", log,
        "--settings", settings_json, "--attempt", str(launch.attempt),
        "--checkpoint-every", str(launch.checkpoint_every), "--scratch", scratch,
    ]  # fmt: skip


def member_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of a member's launch: one thread per rank, OpenMPI may oversubscribe
    (and run as root when the job does), as rule ``dft`` sets it."""
    env = {**environ, "OMP_NUM_THREADS": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1"}
    if os.getuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def run_member(command: list[str], log: str | os.PathLike) -> int:
    """Run one member's ``command`` with stdout and stderr appended to its ``log``; return
    its exit status (0 outputs complete, 3 SCF to retry, 2 bad input: iceafm.dft)."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as handle:
        return subprocess.run(
            command, stdout=handle, stderr=subprocess.STDOUT, env=member_env(os.environ)
        ).returncode


def main(argv: list[str] | None = None) -> int:
    """Run a batch job's pending members (module docstring). Exit status 0 when every member
    finished, 3 when some did not (their exit status in the batch log): Snakemake retries."""
    parser = argparse.ArgumentParser(prog="python -m iceafm.dft.batch", description=__doc__)
    parser.add_argument("--structures", nargs="+", required=True, help="members' extxyz files")
    parser.add_argument(
        "--outputs", nargs="+", required=True, help="hartree, density, record per member"
    )
    parser.add_argument("--log-dir", required=True, help="folder of the members' GPAW logs")
    parser.add_argument("--batch-log", required=True, help="this job's log (stamp file name)")
    parser.add_argument("--settings", required=True, help="the dft result section as JSON")
    parser.add_argument("--launcher", default="", help="MPI launcher; empty: gpaw directly")
    parser.add_argument("--ranks", type=int, default=1)
    parser.add_argument("--attempt", type=int, default=1)
    parser.add_argument("--checkpoint-every", type=int, default=0)
    args = parser.parse_args(argv)
    n = len(MEMBER_OUTPUTS)
    if len(args.outputs) != n * len(args.structures):
        parser.error(f"expected {n} outputs per structure")
    logging.basicConfig(filename=args.batch_log, level=logging.INFO, format="%(message)s")
    log = logging.getLogger("iceafm.dft.batch")
    settings = json.loads(args.settings)
    launch = Launch(args.launcher or None, args.ranks, args.attempt, args.checkpoint_every)
    members = [
        Member(Path(s).stem, tuple(args.outputs[n * i : n * i + n]), (s,))
        for i, s in enumerate(args.structures)
    ]
    logs = {m.sample: str(Path(args.log_dir) / f"{m.sample}.log") for m in members}
    failed: dict[str, int] = {}

    def compute(member: Member) -> bool:
        scratch = f"scratch/dft/{member.sample}"
        outputs = member.outputs
        command = member_command(
            member.inputs[0], outputs, logs[member.sample], args.settings, scratch, launch
        )
        code = run_member(command, logs[member.sample])
        log.info("%s: exit status %d (attempt %d)", member.sample, code, launch.attempt)
        if code != 0:
            failed[member.sample] = code
        return code == 0

    report = run_batch(
        members,
        settings,
        args.batch_log,
        compute,
        is_current=lambda m: record_is_current(m.outputs[2], m.inputs[0], settings),
        recompute_if_none_pending=False,
    )
    log.info(
        "batch: %d computed, %d kept (up to date), %d unfinished",
        len(report.computed), len(report.kept), len(report.unfinished),
    )  # fmt: skip
    if failed:
        detail = ", ".join(f"{s} (exit {code}, see {logs[s]})" for s, code in failed.items())
        print(f"iceafm.dft.batch: unfinished member(s): {detail}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
