"""Config ``dft`` section -> effective (robust-level-scaled) settings -> GPAW keyword arguments.

The config section is validated by ``workflow/schemas/config.schema.yaml`` (which also holds
the defaults); this module checks the keys it reads so that a direct caller gets a one-line
error too. Units: ``h`` and ``vacuum_a`` in A, ``smearing_ev`` and ``convergence.energy_ev``
(per valence electron) in eV, ``kpt_density`` in k-points per A^-1, ``pw_ecut_ev`` in eV.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import kptdensity2monkhorstpack
from ase.units import Bohr, Hartree

from iceafm.dft.errors import DftConfigError

MODES = ("lcao", "fd", "pw")
#: Keys of the ``dft`` section that shape the result (``resources`` only shapes the job).
RESULT_KEYS = (
    "mode",
    "basis",
    "h",
    "pw_ecut_ev",
    "xc",
    "kpts",
    "kpt_density",
    "smearing_ev",
    "vacuum_a",
    "dipole_correction",
    "convergence",
    "maxiter",
    "mixer",
    "grid_refinement",
    "retries",
    "robust",
)


def result_section(dft_config: dict[str, Any]) -> dict[str, Any]:
    """The part of the ``dft`` config section that shapes the outputs (for rule ``params``)."""
    missing = [key for key in RESULT_KEYS if key not in dft_config]
    if missing:
        raise DftConfigError(f"config dft: missing key(s) {missing}; expected all of {RESULT_KEYS}")
    return {key: copy.deepcopy(dft_config[key]) for key in RESULT_KEYS}


def max_attempts(dft_config: dict[str, Any]) -> int:
    """Number of attempts Snakemake makes: ``retries + 1``."""
    retries = dft_config.get("retries")
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise DftConfigError(f"config dft.retries: got {retries!r}, expected an integer >= 0")
    return retries + 1


def robust_settings(dft_config: dict[str, Any], robust_level: int) -> dict[str, Any]:
    """Effective settings after ``robust_level`` SCF non-convergences of this calculation.

    Level 0 is the config as written. Each level is more robust than the last: ``maxiter`` is
    multiplied by ``robust.maxiter_factor``, the mixing ``beta`` by ``robust.beta_factor`` and
    the Fermi-Dirac width by ``robust.smearing_factor``, once per level. The level counts SCF
    non-convergences only (see :mod:`iceafm.dft.attempts`): an attempt killed by the system
    (OOM, TIMEOUT, scancel, SIGKILL) resumes with unchanged settings.
    """
    settings = result_section(dft_config)
    if settings["mode"] not in MODES:
        raise DftConfigError(f"config dft.mode: got {settings['mode']!r}, expected one of {MODES}")
    if settings["grid_refinement"] not in (1, 2):
        raise DftConfigError(
            f"config dft.grid_refinement: got {settings['grid_refinement']!r}, expected 1 or 2"
        )
    if not isinstance(robust_level, int) or robust_level < 0:
        raise DftConfigError(f"robust level: got {robust_level!r}, expected an integer >= 0")
    robust = settings["robust"]
    settings["maxiter"] = int(round(settings["maxiter"] * robust["maxiter_factor"] ** robust_level))
    settings["mixer"]["beta"] = settings["mixer"]["beta"] * robust["beta_factor"] ** robust_level
    settings["smearing_ev"] = settings["smearing_ev"] * robust["smearing_factor"] ** robust_level
    settings["robust_level"] = robust_level
    return settings


def settings_key(settings: dict[str, Any], structure_sha256: str) -> str:
    """Hex digest identifying a calculation: structure plus every effective setting.

    A restart file is reused only when this key matches, so a retry with more robust
    settings never continues from a checkpoint written with the old ones, and a resumed
    (killed) attempt with unchanged settings always does.
    """
    text = json.dumps({"structure": structure_sha256, "settings": settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def prepare_cell(atoms: Atoms, vacuum_a: float) -> tuple[Atoms, np.ndarray]:
    """Copy of ``atoms`` with at least ``vacuum_a`` A of vacuum on both sides of each
    non-periodic axis, and the shift (A, shape (3,)) that was added to all positions.

    Periodic axes keep the structure's cell. A non-periodic axis whose vacuum already suffices
    is left alone (shift 0). Exported cubes subtract the shift from their origin so they stay in
    the structure's own frame. A non-periodic cell vector must be orthogonal to the others.
    """
    prepared = atoms.copy()
    shift_a = np.zeros(3)
    cell = prepared.cell.array.copy()
    for axis in np.flatnonzero(~prepared.pbc):
        others = [cell[i] for i in range(3) if i != axis]
        length = np.linalg.norm(cell[axis])
        if length > 0 and any(abs(np.dot(cell[axis], o)) > 1e-6 * length for o in others):
            raise DftConfigError(
                f"structure cell: non-periodic axis {axis} is not orthogonal to the other cell "
                f"vectors ({cell.round(4).tolist()}); expected an orthogonal vacuum axis"
            )
        if length == 0:
            normal = np.cross(*others)
            if np.linalg.norm(normal) == 0:
                raise DftConfigError(
                    f"structure cell: axis {axis} and another axis have zero length; expected "
                    "a cell (use pbc=False with a box for molecules)"
                )
            normal /= np.linalg.norm(normal)
        else:
            normal = cell[axis] / length
        coords = prepared.positions @ normal
        low, high = coords.min(), coords.max()
        if low >= vacuum_a and length - high >= vacuum_a:
            continue
        new_length = high - low + 2 * vacuum_a
        cell[axis] = normal * new_length
        shift_a += normal * (vacuum_a - low)
    prepared.set_cell(cell)
    prepared.positions += shift_a
    return prepared, shift_a


def kpoint_grid(settings: dict[str, Any], atoms: Atoms) -> list[int]:
    """Gamma-centred Monkhorst-Pack size (shape (3,)); 1 along non-periodic axes."""
    if settings["kpt_density"] is not None:
        size = kptdensity2monkhorstpack(atoms, settings["kpt_density"], even=False)
    else:
        size = np.asarray(settings["kpts"], dtype=int)
    return [int(n) if periodic else 1 for n, periodic in zip(size, atoms.pbc, strict=True)]


def is_slab(atoms: Atoms) -> bool:
    """True for a surface slab: periodic in x and y, not in z."""
    return bool(atoms.pbc[0] and atoms.pbc[1] and not atoms.pbc[2])


def grid_shape(cell: np.ndarray, h: float) -> list[int]:
    """Points per axis (shape (3,)) of GPAW's real-space grid for spacing ``h`` (A) in a cell
    (A, shape (3, 3)): per axis the nearest multiple of 4 to L / h, L the distance between the
    lattice planes (GPAW's ``h2gpts``). FD and LCAO compute on it; the exported cubes are on it
    (``grid_refinement`` 1) in every mode."""
    lengths = (np.linalg.inv(cell) ** 2).sum(0) ** -0.5
    return [int(n) for n in np.maximum(4, (lengths / h / 4 + 0.5).astype(int) * 4)]


def pw_grid_factor(settings: dict[str, Any], atoms: Atoms) -> int:
    """How many times finer than :func:`grid_shape` GPAW's grid is in ``pw`` mode (1 in the
    other modes): the smallest integer m whose grid holds the cutoff ``pw_ecut_ev``.

    GPAW's fine grid (twice the grid) must hold the plane waves of the compensation charges and
    the dipole-layer sawtooth, up to 8 x ecut: each grid step |a_i| / (m N_i) (Bohr) must be
    below pi / (2 sqrt(ecut)) (ecut in Hartree), GPAW's own default spacing for a cutoff. A grid
    m times finer keeps the cube grid a subgrid of it, so PW cubes sit on the FD/LCAO points.
    """
    if settings["mode"] != "pw":
        return 1
    shape = np.asarray(grid_shape(atoms.cell.array, float(settings["h"])))
    step_bohr = atoms.cell.lengths() / shape / Bohr
    limit_bohr = np.pi / (2 * np.sqrt(float(settings["pw_ecut_ev"]) / Hartree))
    return int(np.floor(step_bohr.max() / limit_bohr)) + 1


def gpaw_parameters(settings: dict[str, Any], atoms: Atoms) -> dict[str, Any]:
    """GPAW keyword arguments (no ``txt``) for ``settings`` applied to the prepared ``atoms``.

    The basis is passed for FD and PW too, where it gives GPAW its LCAO initial guess. PW mode
    gets the grid :func:`pw_grid_factor` times finer than ``h``'s (``gpts``) instead of ``h``. Slabs
    get GPAW's dipole-layer correction when ``dipole_correction`` is set, so the vacuum
    potential is flat on both sides instead of carrying an artificial field.
    """
    mode: str | dict[str, Any] = settings["mode"]
    if mode == "pw":
        mode = {"name": "pw", "ecut": float(settings["pw_ecut_ev"])}
    params: dict[str, Any] = {
        "mode": mode,
        "basis": settings["basis"],
        "h": float(settings["h"]),
        "xc": settings["xc"],
        "kpts": {"size": kpoint_grid(settings, atoms), "gamma": True},
        "occupations": {"name": "fermi-dirac", "width": float(settings["smearing_ev"])},
        "convergence": {
            "energy": float(settings["convergence"]["energy_ev"]),
            "density": float(settings["convergence"]["density"]),
        },
        "maxiter": int(settings["maxiter"]),
        "mixer": {
            "beta": float(settings["mixer"]["beta"]),
            "nmaxold": int(settings["mixer"]["nmaxold"]),
            "weight": float(settings["mixer"]["weight"]),
        },
    }
    if settings["mode"] == "pw":
        factor = pw_grid_factor(settings, atoms)
        del params["h"]
        params["gpts"] = [factor * n for n in grid_shape(atoms.cell.array, float(settings["h"]))]
    if settings["dipole_correction"] and is_slab(atoms):
        params["poissonsolver"] = {"dipolelayer": "xy"}
    return params
