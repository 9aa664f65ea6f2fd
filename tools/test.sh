#!/usr/bin/env bash
# Set everything up, then run the linters and the whole test suite (unit, workflow, slurm).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export OMP_NUM_THREADS=1
.venv/bin/ruff check .
.venv/bin/python -m pytest -ra --durations=15 "$@"
