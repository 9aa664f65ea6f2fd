#!/usr/bin/env bash
# Idempotent set-up on Debian/Ubuntu with Python 3.11: Debian packages (GPAW build, MPI,
# single-node SLURM for the tests), a virtual environment in .venv, and the iceafm package
# with pinned dependencies. Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

APT_PACKAGES=(
  build-essential python3-dev python3-venv pkg-config
  libxc-dev libopenblas-dev liblapack-dev libfftw3-dev           # GPAW build
  libopenmpi-dev openmpi-bin libscalapack-openmpi-dev            # MPI DFT
  slurmctld slurmd slurm-client munge                             # tests/slurm: real single-node cluster
  pocl-opencl-icd ocl-icd-libopencl1 ocl-icd-opencl-dev           # afm.engine: opencl on CPUs (PoCL)
)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
  echo "[setup] error: $PYTHON is Python $("$PYTHON" -V 2>&1 | cut -d' ' -f2); iceafm needs Python 3.11 (set PYTHON=python3.11)" >&2
  exit 1
}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv

# Reinstall only when the pins or the GPAW build config changed.
STAMP=.venv/.iceafm-installed
WANT=$(cat pyproject.toml tools/gpaw_siteconfig.py | sha256sum | cut -c1-16)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "[setup] installing iceafm and pinned dependencies into .venv (GPAW compiles: a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first, alone, so that the local CPU wheel is taken (torch==2.13.0).
  .venv/bin/python -m pip install -q torch==2.13.0
  GPAW_CONFIG="$ROOT/tools/gpaw_siteconfig.py" .venv/bin/python -m pip install -q -e ".[dft,opencl,test]"
  echo "$WANT" > "$STAMP"
fi

# `snakemake --profile slurm` looks the bare name up in ~/.config/snakemake/, not in profiles/.
CONFIG_HOME=${XDG_CONFIG_HOME:-$HOME/.config}
mkdir -p "$CONFIG_HOME/snakemake"
if [ ! -e "$CONFIG_HOME/snakemake/slurm" ] || [ -L "$CONFIG_HOME/snakemake/slurm" ]; then
  ln -sfn "$ROOT/profiles/slurm" "$CONFIG_HOME/snakemake/slurm"
  echo "[setup] linked $CONFIG_HOME/snakemake/slurm -> profiles/slurm"
fi
echo "[setup] ready: $(.venv/bin/python -V), $(.venv/bin/snakemake --version | head -1) snakemake"
