#!/usr/bin/env bash
# Regrow the premelting-surface MD of benchmarks/premelt_md.py on a GPU node and export its
# frames (benchmarks/data/premelt_md_frames.npz, tracked): the held-out trajectory (run 1) at
# each temperature for the longest time the budget allows, runs 2-3 to RUNS23_PS.
# Usage (repo root, wheels of openmm, openmm-cuda-13, ase, genice3 and its needs in .whl/, as
# `pip download --no-deps --only-binary=:all: --python-version 3.12` fetches them; cp312, the
# GPU node's Python):
#   bash benchmarks/gpu_md_frames.sh OUT_DIR BUDGET_S [RUNS23_PS]
# then copy OUT_DIR/premelt_md_frames.npz to benchmarks/data/. The trajectories resume from the
# node's checkpoints (benchmarks/work/premelt_md), so a second call on the same node grows them
# on. 2026-11-27, one H100 with CUDA MPS: BUDGET_S 380 gave run 1 3.8 ns and runs 2-3 1.5 ns; a
# second call of 270 s on run 1 alone took it to 7.7-7.8 ns.
set -euo pipefail
out=$1 budget=$2 runs23_ps=${3:-1500}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)
echo "device: $gpu"
python3 -c "import openmm as mm; print('CUDA platform:', mm.Platform.getPlatformByName('CUDA').getName())"
nvidia-cuda-mps-control -d 2>/dev/null && echo "CUDA MPS on" || echo "no CUDA MPS"
md="python3 benchmarks/premelt_md.py --grow-only --parallel --platform CUDA --budget-s $budget"
$md --runs 1 --length-ps 20000 > "$out/md_run1.log" 2>&1 &
$md --runs 2 3 --length-ps "$runs23_ps" > "$out/md_runs23.log" 2>&1 &
wait
tail -n 2 "$out"/md_*.log
python3 benchmarks/premelt_md.py --export-frames "$out/premelt_md_frames.npz" --runs 1 2 3 \
    --grown-on "$gpu (OpenMM CUDA platform, $(python3 -c 'import openmm; print(openmm.__version__)'))"
