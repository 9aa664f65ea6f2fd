#!/usr/bin/env bash
# Set everything up, then run the demo campaign (config/config.yaml) to its figures and report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export OMP_NUM_THREADS=1
.venv/bin/snakemake --profile profiles/local "$@"
.venv/bin/snakemake --profile profiles/local --report results/report.zip "$@"
echo "[demo] figures in results/figures/, paper figures in results/paper/, report in results/report.zip"
