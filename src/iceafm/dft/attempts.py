"""Per-calculation attempt history: why each earlier attempt ended, and what that implies.

A DFT attempt can end in three ways: its outputs are written (``converged`` or, on the last
try, a recorded failure), its SCF does not converge (``scf_not_converged``: the next attempt
gets more robust settings), or the system kills it (OOM, TIMEOUT, ``scancel``, node failure,
SIGKILL) before it can say anything. Snakemake's attempt number cannot tell these apart, so
each attempt writes ``<scratch>/attempts.json`` (atomically) when it starts and when it ends:
an entry still marked ``running`` when the next attempt starts belongs to a killed attempt,
which resumes from its checkpoint with unchanged settings. The robust level of an attempt is
the number of earlier SCF non-convergences of the same calculation (structure + config).

The history is removed once the outputs are written (it is copied into ``dft.json``), so a
forced rerun starts afresh at level 0.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

from iceafm.dft.record import job_context
from iceafm.io.atomic import write_json_atomic

HISTORY_NAME = "attempts.json"
KILLED_REASON = (
    "started but never finished: killed from outside (SIGKILL, OOM, TIMEOUT, scancel or node "
    "failure); the next attempt resumed from its checkpoint with the same settings"
)
OUTCOMES = ("running", "converged", "scf_not_converged", "failed", "killed")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class AttemptHistory:
    """The attempts of one calculation, identified by ``calculation_key`` (structure + the
    config's level-0 settings), stored in ``scratch_dir/attempts.json``.

    Only rank 0 should call the writing methods; the caller broadcasts what others need.
    """

    def __init__(self, scratch_dir: str | os.PathLike, calculation_key: str):
        self.path = Path(scratch_dir) / HISTORY_NAME
        self.key = calculation_key
        self.entries: list[dict[str, Any]] = []
        self.foreign_checkpoints: list[str] = []
        if self.path.is_file():
            try:
                stored = json.loads(self.path.read_text())
            except (OSError, json.JSONDecodeError):
                stored = {}
            entries = stored.get("attempts", []) if isinstance(stored, dict) else []
            if stored.get("calculation") == self.key:
                self.entries = entries
            else:
                # Another structure or config used this folder: its checkpoints are stale.
                self.foreign_checkpoints = [e["checkpoint"] for e in entries if "checkpoint" in e]

    def robust_level(self) -> int:
        """Number of earlier attempts whose SCF did not converge."""
        return sum(1 for entry in self.entries if entry["outcome"] == "scf_not_converged")

    def checkpoints(self) -> set[str]:
        """Names of every restart file an attempt of this folder's history created."""
        return {e["checkpoint"] for e in self.entries if "checkpoint" in e} | set(
            self.foreign_checkpoints
        )

    def begin(self, snakemake_attempt: int, robust_level: int, checkpoint: str) -> None:
        """Mark unfinished earlier attempts as killed, then record this one as running."""
        for entry in self.entries:
            if entry["outcome"] == "running":
                entry.update(outcome="killed", reason=KILLED_REASON)
        self.entries.append(
            {
                "snakemake_attempt": snakemake_attempt,
                "robust_level": robust_level,
                "checkpoint": checkpoint,
                "outcome": "running",
                "started": _now(),
                **job_context(),
            }
        )
        self._write()

    def end(self, outcome: str, reason: str = "", scf_iterations: int | None = None) -> None:
        """Record how the current (last) attempt ended."""
        if outcome not in OUTCOMES[1:]:
            raise ValueError(f"outcome {outcome!r}, expected one of {OUTCOMES[1:]}")
        self.entries[-1].update(
            outcome=outcome, reason=reason, ended=_now(), scf_iterations=scf_iterations
        )
        self._write()

    def remove(self) -> None:
        """Delete the history file (the outputs, holding a copy, are written)."""
        self.path.unlink(missing_ok=True)

    def _write(self) -> None:
        write_json_atomic(self.path, {"calculation": self.key, "attempts": self.entries})
