"""Every bad input of the table (tests/bad_inputs_table.py) stops with one line naming the
culprit, no traceback on the terminal, and before any job where it is knowable before the run.
"""

from __future__ import annotations

import pytest
from bad_inputs_table import TABLE, BadInput, run_case


def test_table_is_large_and_distinct():
    assert len(TABLE) >= 40
    assert len({case.name for case in TABLE}) == len(TABLE)
    kinds = {case.kind for case in TABLE}
    assert {"config", "duplicate", "yaml", "import", "file", "cli"} <= kinds


@pytest.mark.slow
@pytest.mark.parametrize("case", TABLE, ids=[case.name for case in TABLE])
def test_bad_input_stops_with_one_line(case: BadInput, tmp_path):
    outcome = run_case(case, tmp_path / "run")
    assert not outcome.silent, f"{case.name}: accepted (exit status 0)"
    assert not outcome.traceback, f"{case.name}: a traceback reached the terminal"
    assert case.culprit in outcome.first_error_line, (case.culprit, outcome.first_error_line)
    if case.before_jobs:
        assert outcome.stopped_before_jobs, f"{case.name}: not stopped before the jobs"
