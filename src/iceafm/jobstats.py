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


BATCH_SEPARATOR = "__"
"""Batch rules are named ``<stage rule>__<batch>`` (iceafm.batches)."""

_HEADER = re.compile(r"\s*(?:local)?rule (\S+):\s*")
_OUTPUT = re.compile(r"\s+output: (.*)")


def per_sample_counts(snakemake_output: str) -> dict[str, int]:
    """Rule name -> units of work from a (non-quiet) dry run: the samples of the batch rules
    (``afm__ice_basal_00000`` adds its number of outputs to ``afm``), one per job of every other
    rule; includes 'total'; {} if the run lists no job. So a rerun scope reads the same whether
    the cheap stages run one job per sample or per batch.

    Raises:
        ValueError: the output has a 'Job stats' table but no job blocks (a ``--quiet`` run).
    """
    stats = parse_job_stats(snakemake_output)
    if not stats:
        return {}
    counts: dict[str, int] = {}
    rule = None
    for line in snakemake_output.splitlines():
        header = _HEADER.fullmatch(line)
        if header:
            rule = header[1]
            base, batched, _ = rule.partition(BATCH_SEPARATOR)
            counts[base] = counts.get(base, 0) + (0 if batched else 1)
            continue
        output = _OUTPUT.fullmatch(line)
        if rule is not None and output and BATCH_SEPARATOR in rule:
            base = rule.partition(BATCH_SEPARATOR)[0]
            counts[base] += len(output[1].split(", "))
            rule = None
    if not counts:
        raise ValueError("dry-run output has a 'Job stats' table but no job blocks (--quiet?)")
    counts["total"] = sum(counts.values())
    return counts
