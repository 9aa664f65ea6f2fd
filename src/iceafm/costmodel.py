"""DFT cost model for the campaign plan: core-seconds per job from what the job computes.

A GPAW job's cost grows with its size x = G * N_e * K (grid points G of the calculation's
real-space grid, valence electrons N_e, k-points K) and with the MPI ranks R it runs on (a
parallel efficiency below 1 makes core-seconds grow with R). The model, per mode m::

    core_seconds = c_m * x**p_m * R**MPI_ALPHA

Each estimate is *extrapolated from one measured run*, the one of the same mode nearest in
log x (its core-seconds scaled by (x / x_ref)**p and (R / R_ref)**MPI_ALPHA), and says which
run and how far (``x / x_ref``). p_m is fitted (least squares in log-log) when the measured
runs of a mode span sizes at least ``FIT_SPAN`` apart, else :data:`DEFAULT_EXPONENT`. A mode
without a measured run is extrapolated from a measured mode times the measured mode cost ratio
:data:`FD_OVER_LCAO` (and :data:`FD_OVER_PW`). Measured runs are ``dft.json`` records
(settings, ranks, core-seconds) and the structure they name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.io import read

from iceafm.dft.settings import grid_shape, kpoint_grid, prepare_cell

# Valence electrons of GPAW's default PAW setups (gpaw-setups 24.x) for the elements the
# generators and typical imports use.
VALENCE_ELECTRONS = {
    "H": 1, "C": 4, "N": 5, "O": 6, "F": 7, "Na": 1, "Mg": 2, "Al": 3, "Si": 4, "Cl": 7,
    "K": 9, "Ni": 10, "Cu": 11, "Ru": 8, "Rh": 9, "Pd": 10, "Ag": 11, "Pt": 10, "Au": 11,
}  # fmt: skip

# Cost exponent in x when the runs of a mode do not span sizes enough to fit it: GPAW's FD and
# LCAO costs at fixed band count per electron grow about linearly in G and K and somewhat
# faster than linearly in N_e (orthogonalisation); 1.0 is the conservative middle.
DEFAULT_EXPONENT = 1.0
FIT_SPAN = 1.5
# Core-seconds grow as R**MPI_ALPHA with R ranks (parallel efficiency R**-0.1: 76 % at 16
# ranks), an assumption: only 1-2 ranks could be measured on the development machine.
MPI_ALPHA = 0.1
# FD / LCAO and FD / PW (240 eV, on FD's grid) CPU seconds at equal h, measured in one run
# (benchmarks/results/dft_cost.json, 2026-11-26, 1 rank, two demo structures: FD 2232, LCAO
# 112, PW 562 CPU-s in all). CPU seconds, not wall-clock core-seconds, because the shared
# development machine's load scaled the wall times unevenly (wall core-seconds gave 8.3).
FD_OVER_LCAO = 19.9
FD_OVER_PW = 3.97
MODE_FACTOR = {"lcao": 1.0, "fd": FD_OVER_LCAO, "pw": FD_OVER_LCAO / FD_OVER_PW}


class CostModelError(ValueError):
    """A measurement or a planned job the model cannot use (named in the message)."""


@dataclass(frozen=True)
class DftSize:
    """What a DFT job computes: mode, grid points, valence electrons, k-points, MPI ranks."""

    mode: str
    grid_points: int
    electrons: int
    kpoints: int
    ranks: int

    @property
    def x(self) -> float:
        """Size measure G * N_e * K."""
        return float(self.grid_points) * self.electrons * self.kpoints


@dataclass(frozen=True)
class Measurement:
    """One measured DFT run: its size, core-seconds and where it came from."""

    size: DftSize
    core_seconds: float
    source: str


@dataclass(frozen=True)
class Estimate:
    """Estimated core-seconds of one job and the measurement it extrapolates from."""

    core_seconds: float
    source: str
    x_ratio: float
    mode_from: str


def grid_points(cell: np.ndarray, h: float) -> int:
    """Points of GPAW's real-space grid for spacing ``h`` (A)
    (:func:`iceafm.dft.settings.grid_shape`)."""
    return int(np.prod(grid_shape(cell, h)))


def dft_size(atoms: Atoms, settings: dict[str, Any], ranks: int) -> DftSize:
    """Size of the GPAW job for ``atoms`` with the ``dft`` ``settings`` on ``ranks`` ranks."""
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(VALENCE_ELECTRONS))
    if unknown:
        raise CostModelError(f"no valence electron count for element(s) {unknown}")
    prepared, _ = prepare_cell(atoms, float(settings["vacuum_a"]))
    electrons = sum(VALENCE_ELECTRONS[s] for s in atoms.get_chemical_symbols())
    kpoints = int(np.prod(kpoint_grid(settings, prepared)))
    mode = settings["mode"] if isinstance(settings["mode"], str) else settings["mode"]["name"]
    return DftSize(
        mode, grid_points(prepared.cell.array, float(settings["h"])), electrons, kpoints, ranks
    )


def read_measurements(run_dir: str | Path) -> list[Measurement]:
    """Converged DFT runs under ``run_dir/results/dft/*/dft.json``, sized from their records'
    settings and ranks and the structure file each names (relative to ``run_dir``)."""
    run_dir = Path(run_dir)
    measured = []
    for path in sorted(run_dir.glob("results/dft/*/dft.json")):
        record = json.loads(path.read_text())
        if record.get("status") != "converged":
            continue
        try:
            structure = Path(record["structure"])
            atoms = read(structure if structure.is_absolute() else run_dir / structure)
            size = dft_size(atoms, record["settings"], int(record["ranks"]))
            core_s = float(record["core_seconds"])
        except (KeyError, OSError, TypeError, ValueError) as err:
            raise CostModelError(f"{path}: not a usable DFT measurement ({err})") from err
        measured.append(Measurement(size, core_s, str(path)))
    return measured


def _normalised(m: Measurement) -> float:
    """Core-seconds per R**MPI_ALPHA."""
    return m.core_seconds / m.size.ranks**MPI_ALPHA


def fitted_exponent(runs: Sequence[Measurement]) -> float:
    """Least-squares p of log(core-s / R**alpha) = log c + p log x, or DEFAULT_EXPONENT when
    the runs span less than FIT_SPAN in x."""
    xs = np.log([m.size.x for m in runs])
    if len(runs) < 2 or xs.max() - xs.min() < math.log(FIT_SPAN):
        return DEFAULT_EXPONENT
    ys = np.log([_normalised(m) for m in runs])
    return float(np.polyfit(xs, ys, 1)[0])


class CostModel:
    """Estimates from a set of measured runs (module docstring)."""

    def __init__(self, measurements: Sequence[Measurement]) -> None:
        if not measurements:
            raise CostModelError("no converged DFT measurement to extrapolate from")
        self.by_mode: dict[str, list[Measurement]] = {}
        for m in measurements:
            self.by_mode.setdefault(m.size.mode, []).append(m)
        self.exponent = {mode: fitted_exponent(runs) for mode, runs in self.by_mode.items()}

    def estimate(self, target: DftSize) -> Estimate:
        """Core-seconds of a job of size ``target``.

        Raises:
            CostModelError: the target's mode is neither measured nor in MODE_FACTOR.
        """
        mode_from = target.mode
        if mode_from not in self.by_mode:
            convertible = [m for m in self.by_mode if m in MODE_FACTOR]
            if target.mode not in MODE_FACTOR or not convertible:
                raise CostModelError(
                    f"mode {target.mode}: no measured run of it and no measured cost ratio to "
                    f"the measured mode(s) {sorted(self.by_mode)}"
                )
            mode_from = convertible[0]
        runs = self.by_mode[mode_from]
        ref = min(runs, key=lambda m: abs(math.log(target.x / m.size.x)))
        ratio = target.x / ref.size.x
        factor = MODE_FACTOR[target.mode] / MODE_FACTOR[mode_from]
        core_s = _normalised(ref) * ratio ** self.exponent[mode_from] * factor
        return Estimate(core_s * target.ranks**MPI_ALPHA, ref.source, ratio, mode_from)
