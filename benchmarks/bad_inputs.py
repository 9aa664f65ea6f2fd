"""Bad-input table (issue 14): how many bad inputs stop with a clear one-line error.

Runs every row of ``tests/bad_inputs_table.py`` (the same table as
``tests/workflow/test_bad_inputs.py``) in a fresh folder and counts: ``tried``, ``one_line``
(failed with a first error line naming the culprit and no traceback), ``tracebacks`` (a Python
traceback reached the terminal), ``silent`` (accepted: exit status 0), ``knowable_before_run``
and ``stopped_before_jobs`` (of those, stopped before any job). Goals: tracebacks 0, silent 0,
stopped_before_jobs == knowable_before_run. Baseline in the same run: the same table against
the tree of ``--baseline-commit`` (before issue 14), under ``baseline``.
Writes benchmarks/results/bad_inputs.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine_info, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bad_inputs_table import TABLE, run_case  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
COUNTS = ("tried", "one_line", "tracebacks", "silent", "knowable_before_run", "stopped_before_jobs")


def baseline_counts(commit: str) -> dict:
    """The table's counts against the tree of ``commit`` (git archive into a temporary folder,
    this script rerun there with ICEAFM_REPO pointing at it)."""
    with tempfile.TemporaryDirectory(prefix="bad_inputs_baseline_") as folder:
        tree = Path(folder) / "tree"
        tree.mkdir()
        archive = subprocess.run(
            ["git", "archive", commit], cwd=REPO, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        out = Path(folder) / "baseline.json"
        env = {**os.environ, "ICEAFM_REPO": str(tree)}
        subprocess.run(
            [sys.executable, __file__, "--counts-only", str(out)], env=env, check=True
        )
        return {"commit": commit, **json.loads(out.read_text())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-commit", default="6f8469d", help="tree before issue 14")
    parser.add_argument("--counts-only", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    outcomes = []
    start = time.perf_counter()
    for case in TABLE:
        with tempfile.TemporaryDirectory(prefix="bad_input_") as folder:
            outcome = run_case(case, Path(folder) / "run")
        outcomes.append(outcome)
        verdict = "one line" if outcome.one_line else "FAILED"
        print(f"{verdict:8} {case.name}: {outcome.first_error_line[:120]}", flush=True)
    knowable = [o for o in outcomes if o.before_jobs]
    record = {
        **machine_info(),
        "tried": len(outcomes),
        "one_line": sum(o.one_line for o in outcomes),
        "tracebacks": sum(o.traceback for o in outcomes),
        "silent": sum(o.silent for o in outcomes),
        "knowable_before_run": len(knowable),
        "stopped_before_jobs": sum(bool(o.stopped_before_jobs) for o in knowable),
        "by_kind": {
            kind: sum(1 for o in outcomes if o.kind == kind)
            for kind in sorted({o.kind for o in outcomes})
        },
        "wall_seconds": round(time.perf_counter() - start, 1),
        "cases": [dataclasses.asdict(o) for o in outcomes],
    }
    if args.counts_only:
        Path(args.counts_only).write_text(json.dumps({k: record[k] for k in COUNTS}))
        return 0
    record["baseline"] = baseline_counts(args.baseline_commit)
    path = write_result("bad_inputs", record)
    print(
        f"{path}: tried {record['tried']}, one_line {record['one_line']}, tracebacks "
        f"{record['tracebacks']}, silent {record['silent']}, stopped_before_jobs "
        f"{record['stopped_before_jobs']}/{record['knowable_before_run']}; baseline "
        f"{ {k: record['baseline'][k] for k in COUNTS} }"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
