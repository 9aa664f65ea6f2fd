"""Shared benchmark plumbing: machine/version metadata and atomic JSON results."""

from __future__ import annotations

import datetime as dt
import os
import platform
from importlib import metadata
from pathlib import Path

from iceafm.io.atomic import write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results"


def machine_info(packages: tuple[str, ...] = ()) -> dict:
    """Machine, Python and package versions, and the date, for a benchmark record."""
    versions = {}
    for name in ("iceafm", "snakemake", *packages):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count()},
        "python": platform.python_version(),
        "versions": versions,
    }


def write_result(name: str, record: dict) -> Path:
    """Write ``benchmarks/results/<name>.json`` atomically and return its path."""
    path = RESULTS / f"{name}.json"
    write_json_atomic(path, record)
    return path
