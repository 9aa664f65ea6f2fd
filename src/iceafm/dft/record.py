"""The ``dft.json`` record of one calculation: writing it and checking it downstream."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from iceafm.dft.errors import DftFailedError
from iceafm.io.atomic import write_json_atomic

STATUSES = ("converged", "failed")


def structure_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of the structure file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def job_context() -> dict[str, Any]:
    """Where the job ran: hostname, ISO date, and the SLURM job id when ``SLURM_JOB_ID`` is set."""
    return {
        "hostname": socket.gethostname(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }


def write_record(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Write ``record`` as indented JSON, atomically; ``status`` must be one of STATUSES."""
    if record.get("status") not in STATUSES:
        raise ValueError(f"{path}: status {record.get('status')!r}, expected one of {STATUSES}")
    write_json_atomic(path, record, sort_keys=True)


def read_record(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``dft.json`` record (any status)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DftFailedError(f"{path}: unreadable DFT record ({err})") from err
    if record.get("status") not in STATUSES:
        raise DftFailedError(f"{path}: status {record.get('status')!r}, expected {STATUSES}")
    return record


def require_converged(path: str | os.PathLike) -> dict[str, Any]:
    """The record at ``path`` if its calculation converged; else :class:`DftFailedError`
    whose one-line message gives the recorded reason (for downstream exclusion lists)."""
    record = read_record(path)
    if record["status"] != "converged":
        raise DftFailedError(f"{path}: DFT failed: {record.get('reason')}")
    return record
