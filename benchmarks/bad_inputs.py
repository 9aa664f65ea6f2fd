"""Bad-input table (issue 14): how many bad inputs stop with a clear one-line error.

Runs every row of ``tests/bad_inputs_table.py`` (the same table as
``tests/workflow/test_bad_inputs.py``) in a fresh folder and counts: ``tried``, ``one_line``
(failed with a first error line naming the culprit and no traceback), ``tracebacks`` (a Python
traceback reached the terminal), ``silent`` (accepted: exit status 0), ``knowable_before_run``
and ``stopped_before_jobs`` (of those, stopped before any job). Goals: tracebacks 0, silent 0,
stopped_before_jobs == knowable_before_run. Writes benchmarks/results/bad_inputs.json.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

from common import machine_info, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bad_inputs_table import TABLE, run_case  # noqa: E402


def main() -> int:
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
    path = write_result("bad_inputs", record)
    print(
        f"{path}: tried {record['tried']}, one_line {record['one_line']}, tracebacks "
        f"{record['tracebacks']}, silent {record['silent']}, stopped_before_jobs "
        f"{record['stopped_before_jobs']}/{record['knowable_before_run']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
