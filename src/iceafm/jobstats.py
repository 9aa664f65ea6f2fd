"""Reading Snakemake's own job summaries (the 'Job stats' table of a run or dry run)."""

from __future__ import annotations

import re

_ROW = re.compile(r"\s*(\S+)\s+(\d+)\s*")


def parse_job_stats(snakemake_output: str) -> dict[str, int]:
    """Rule name -> job count from the first 'Job stats:' table; includes 'total'; {} if none."""
    if "Job stats:" not in snakemake_output:
        return {}
    counts: dict[str, int] = {}
    for line in snakemake_output.split("Job stats:", 1)[1].splitlines()[3:]:
        match = _ROW.fullmatch(line)
        if not match:
            break
        counts[match[1]] = int(match[2])
    return counts
