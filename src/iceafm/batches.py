"""Stable batches of samples for the cheap per-sample stages (structures, AFM, labels), and
for DFT when ``dft.batch_size`` > 1.

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
- DFT with ``dft.batch_size`` > 1 (:mod:`iceafm.dft.batch`): blocks split like structures (by
  whether ``dft.json`` exists), members kept as in AFM and labels and, beyond the stamp, only
  if their ``dft.json`` records the job's settings and structure; a job with no pending member
  keeps them all (a DFT rerun is never implied by a code or mtime trigger alone).

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

    def indices_of_members(self) -> list[int]:
        """Each member's index (members of a split block need not be consecutive)."""
        return [int(s.rpartition("-")[2]) for s in self.members]


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


def block_rule_name(batch: Batch, size: int, block_members: Collection[str]) -> str:
    """Rule-name-safe id of ``batch`` that says its members: :attr:`Batch.name` when it holds
    every sample of its block (``block_members``, the block's samples in the campaign), else
    that name plus ``_m<hex>``, the bitmask of its members' offsets in the block (a block split
    by ``existing``). :func:`batch_from_rule_name` inverts it."""
    if set(batch.members) == set(block_members):
        return batch.name
    start = batch.first // size * size
    mask = sum(1 << (index - start) for index in batch.indices_of_members())
    return f"{batch.name}_m{mask:x}"


def batch_from_rule_name(name: str, size: int, samples: Sequence[str]) -> Batch:
    """The batch that :func:`block_rule_name` named ``name``, among ``samples``.

    Raises:
        ValueError: ``name`` is not such a name, or names samples not in ``samples``.
    """
    head, _, tail = name.rpartition("_")
    mask = None
    if tail.startswith("m"):
        mask, (head, _, tail) = int(tail[1:], 16), head.rpartition("_")
    if not head or not tail.isdigit():
        raise ValueError(f"batch name {name!r}: expected '<family>_<first>[_m<hex>]'")
    family, first = head, int(tail)
    if family in UNBATCHED:  # one sample per batch
        size, mask = 1, None
    start = first // size * size
    by_index = {}
    for sample in samples:
        fam, _, index = sample.rpartition("-")
        if fam == family and start <= int(index) < start + size:
            by_index[int(index)] = sample
    if mask is None:
        indices = sorted(by_index)
    else:
        indices = [start + k for k in range(size) if mask >> k & 1]
    if not indices or indices[0] != first or any(i not in by_index for i in indices):
        raise ValueError(f"batch name {name!r}: its members are not samples of this campaign")
    return Batch(family, first, tuple(by_index[i] for i in indices))


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


def _is_pending(
    member: Member,
    stamp: str,
    recorded: Mapping[str, Mapping],
    is_current: Callable[[Member], bool] | None,
) -> bool:
    if not all(os.path.exists(p) for p in member.outputs):
        return True
    if is_current is not None:
        return not is_current(member)
    return recorded.get(member.sample, {}).get("stamp") != stamp


@dataclass(frozen=True)
class BatchReport:
    """What a batch job did: members recomputed, members kept (already up to date) and
    members whose computation did not finish (``compute`` returned False; no stamp)."""

    computed: tuple[str, ...]
    kept: tuple[str, ...]
    unfinished: tuple[str, ...] = ()


def run_batch(
    members: Sequence[Member],
    settings: object,
    log_path: str | os.PathLike,
    compute: Callable[[Member], bool | None],
    is_current: Callable[[Member], bool] | None = None,
    recompute_if_none_pending: bool = True,
) -> BatchReport:
    """Run ``compute`` on each pending member (module docstring), recording stamps as it goes.

    ``compute(member)`` must write the member's outputs (atomically); it returns False when
    the member did not finish but the batch should go on (DFT: SCF to retry), and the member
    gets no stamp. After each finished member the stamp file (:func:`stamp_path` of the job's
    log) is rewritten atomically with ``{sample: {stamp, seconds}}`` (wall seconds of that
    member), so a job killed mid-batch keeps what it finished. ``is_current(member)``, if
    given, replaces the stamp comparison with what a member's outputs record themselves (DFT:
    the settings hash and structure digest in ``dft.json``), for members with all outputs: a
    member is kept by its own record, whichever batch (or split of a block) wrote it, and
    outputs restored by Snakemake from before a failed update are recomputed.
    With ``recompute_if_none_pending`` False a job with no pending member keeps them all
    (DFT: the outputs' own records are the truth, not the job's code or the inputs' mtimes).
    """
    path = stamp_path(log_path)
    recorded: dict[str, dict] = json.loads(path.read_text()) if path.exists() else {}
    file_digests: dict[str, bytes] = {}
    stamps = {m.sample: member_stamp(settings, m.inputs, file_digests) for m in members}
    pending = [m for m in members if _is_pending(m, stamps[m.sample], recorded, is_current)]
    if not pending and recompute_if_none_pending:
        pending = list(members)
    pending_ids = {m.sample for m in pending}
    kept = [m for m in members if m.sample not in pending_ids]
    recorded = {m.sample: recorded[m.sample] for m in kept}
    unfinished = []
    for member in pending:
        start = time.perf_counter()
        if compute(member) is False:
            unfinished.append(member.sample)
            continue
        recorded[member.sample] = {
            "stamp": stamps[member.sample],
            "seconds": round(time.perf_counter() - start, 3),
        }
        write_json_atomic(path, recorded, sort_keys=True)
    write_json_atomic(path, recorded, sort_keys=True)
    computed = tuple(m.sample for m in pending if m.sample not in unfinished)
    return BatchReport(computed, tuple(m.sample for m in kept), tuple(unfinished))


def member_seconds(run_dir: str | os.PathLike) -> dict[str, list[float]]:
    """Measured wall seconds per member, by stage, from the stamp files under ``run_dir``."""
    seconds: dict[str, list[float]] = {}
    for path in sorted(Path(run_dir).glob(f"{STAMP_DIR}/*/*.json")):
        for entry in json.loads(path.read_text()).values():
            seconds.setdefault(path.parent.name, []).append(float(entry["seconds"]))
    return seconds
