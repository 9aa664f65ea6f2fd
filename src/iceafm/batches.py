"""Stable batches of samples for the cheap per-sample stages (structures, AFM, labels).

A campaign of N structures would be 4 N Snakemake jobs if every stage ran one job per sample;
planning those takes minutes and a cluster gets seconds-long jobs. The cheap stages therefore
run one job per *batch* of samples, with per-sample output files kept.

Membership is stable: sample ``{family}-{index}`` belongs to block ``index // size`` of its
family, whatever the family's count, so adding samples only fills the family's last block and
opens new ones. How a grown block stays exact:

- Structures (:func:`make_batches` with ``existing``): a block whose structures exist only in
  part is split into the members that exist and those that do not, so the job that makes the
  new members never touches (and Snakemake never reruns the DFT of) the existing ones. The
  split is invisible to Snakemake's rerun triggers: a structure job's params are the family's
  settings, the same for every batch of the family, and generated families have no inputs.
  Imported files are one batch each (``UNBATCHED``): their input differs per member.
- AFM and labels (:func:`run_batch`): a job recomputes only its *pending* members, those with
  a missing output or whose stamp (digest of the stage's settings and the *content* of the
  member's inputs, recorded in the batch's stamp file after each finished member) differs from
  the current one. When no member is pending, the job runs for a reason the stamps do not
  cover (changed script code, ``--forcerun``, an upstream job that reran): then every member is
  recomputed.

Outputs of batch rules carry Snakemake's ``update`` flag, so Snakemake does not delete a
batch's finished members before the job runs (it backs them up and restores them if the job
fails); with ``--keep-incomplete`` (profiles/slurm) a killed batch keeps the members it
finished, and its retry computes only the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from iceafm.io.atomic import write_json_atomic

# Requested SLURM wall minutes per member of a batch job, per stage: about 10-20x the wall time
# measured per sample on the 2-core development machine (structure 5 s, AFM 10 s on the demo
# scan, labels 2 s; iceafm.plan.DEFAULT_WALL_S), as the paper's scans are larger. A batch asks
# for BATCH_OVERHEAD_MIN + members x this, times the attempt.
MEMBER_RUNTIME_MIN = {"structure": 1.0, "afm": 3.0, "labels": 0.5}
BATCH_OVERHEAD_MIN = 5

STAMP_DIR = "results/.batches"


@dataclass(frozen=True)
class Batch:
    """One batch: consecutive samples ``{family}-{first..first+len(members)-1}`` of a family."""

    family: str
    first: int
    members: tuple[str, ...]

    @property
    def name(self) -> str:
        """``{family}_{first:05d}``: a rule-name-safe id (rules are named ``<stage>__<name>``)."""
        return f"{self.family}_{self.first:05d}"

    def indices(self) -> range:
        return range(self.first, self.first + len(self.members))


UNBATCHED = ("import",)
"""Families whose samples are one batch each (their input files differ per member)."""


def make_batches(
    samples: Sequence[str], size: int, existing: Collection[str] | None = None
) -> list[Batch]:
    """Split sample ids ``{family}-{index:05d}`` into batches by block ``index // size``.

    With ``existing`` (samples whose output exists), a block with some members in it and some
    not is split in two batches: those in ``existing`` and the rest (module docstring).

    Raises:
        ValueError: ``size`` < 1 or a sample id without a numeric ``-index`` suffix.
    """
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    groups: dict[tuple[str, int, bool], list[tuple[int, str]]] = {}
    for sample in samples:
        family, _, index = sample.rpartition("-")
        if not family or not index.isdigit():
            raise ValueError(f"sample id {sample!r}: expected '<family>-<index>'")
        block = int(index) if family in UNBATCHED else int(index) // size
        done = existing is not None and sample in existing
        groups.setdefault((family, block, done), []).append((int(index), sample))
    batches = []
    for (family, _, _), members in groups.items():
        members.sort()
        batches.append(Batch(family, members[0][0], tuple(s for _, s in members)))
    return batches


def batch_runtime_min(stage: str, n_members: int, attempt: int = 1) -> int:
    """SLURM wall minutes requested by a ``stage`` batch of ``n_members`` samples."""
    return int(attempt * (BATCH_OVERHEAD_MIN + round(MEMBER_RUNTIME_MIN[stage] * n_members)))


def stamp_path(log_path: str | os.PathLike) -> Path:
    """The stamp file of the batch job with log ``logs/<stage>/<batch>.log``:
    ``results/.batches/<stage>/<batch>.json`` (named from the log, not from a param: the
    batch's params must not change when a structure block is split or joined)."""
    log = Path(log_path)
    return Path(STAMP_DIR) / log.parent.name / f"{log.stem}.json"


def member_stamp(
    settings: object, inputs: Sequence[str], file_digests: dict[str, bytes] | None = None
) -> str:
    """Digest (sha256 hex) of the stage settings and the content of one member's inputs;
    ``file_digests`` caches each file's digest across the members of a batch (members may
    share inputs, e.g. MD trajectories)."""
    cache = {} if file_digests is None else file_digests
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in inputs:
        if path not in cache:
            with open(path, "rb") as handle:
                cache[path] = hashlib.file_digest(handle, "sha256").digest()
        digest.update(cache[path])
    return digest.hexdigest()


@dataclass(frozen=True)
class Member:
    """One sample of a batch job: its id, output paths and input paths."""

    sample: str
    outputs: tuple[str, ...]
    inputs: tuple[str, ...] = ()


def _is_pending(member: Member, stamp: str, recorded: Mapping[str, Mapping]) -> bool:
    if recorded.get(member.sample, {}).get("stamp") != stamp:
        return True
    return not all(os.path.exists(p) for p in member.outputs)


@dataclass(frozen=True)
class BatchReport:
    """What a batch job did: members recomputed and members kept (already up to date)."""

    computed: tuple[str, ...]
    kept: tuple[str, ...]


def run_batch(
    members: Sequence[Member],
    settings: object,
    log_path: str | os.PathLike,
    compute: Callable[[Member], None],
) -> BatchReport:
    """Run ``compute`` on each pending member (module docstring), recording stamps as it goes.

    ``compute(member)`` must write the member's outputs (atomically). After each finished
    member the stamp file (:func:`stamp_path` of the job's log) is rewritten atomically with
    ``{sample: {stamp, seconds}}`` (wall seconds of that member), so a job killed mid-batch
    keeps what it finished.
    """
    path = stamp_path(log_path)
    recorded: dict[str, dict] = json.loads(path.read_text()) if path.exists() else {}
    file_digests: dict[str, bytes] = {}
    stamps = {m.sample: member_stamp(settings, m.inputs, file_digests) for m in members}
    pending = [m for m in members if _is_pending(m, stamps[m.sample], recorded)]
    if not pending:
        pending = list(members)
    pending_ids = {m.sample for m in pending}
    kept = [m for m in members if m.sample not in pending_ids]
    recorded = {m.sample: recorded[m.sample] for m in kept}
    for member in pending:
        start = time.perf_counter()
        compute(member)
        recorded[member.sample] = {
            "stamp": stamps[member.sample],
            "seconds": round(time.perf_counter() - start, 3),
        }
        write_json_atomic(path, recorded, sort_keys=True)
    write_json_atomic(path, recorded, sort_keys=True)
    return BatchReport(tuple(m.sample for m in pending), tuple(m.sample for m in kept))


def member_seconds(run_dir: str | os.PathLike) -> dict[str, list[float]]:
    """Measured wall seconds per member, by stage, from the stamp files under ``run_dir``."""
    seconds: dict[str, list[float]] = {}
    for path in sorted(Path(run_dir).glob(f"{STAMP_DIR}/*/*.json")):
        for entry in json.loads(path.read_text()).values():
            seconds.setdefault(path.parent.name, []).append(float(entry["seconds"]))
    return seconds
