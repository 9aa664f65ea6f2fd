"""Premelted ice Ih basal surface: decorrelated frames of TIP4P/Ice MD (OpenMM) of a basal slab.

The family runs ``len(temperatures_below_tm_k) x trajectories_per_temperature`` trajectories
(rule ``md``, :func:`run_premelt_trajectory`), trajectory ``t`` at
``Tm - temperatures_below_tm_k[t // trajectories_per_temperature]`` (Tm = 270 K, TIP4P/Ice:
:mod:`iceafm.md.tip4p_ice`). Each starts from its own GenIce3 slab (proton disorder), holds its
lower ``bilayers - melt_bilayers`` bilayers fixed (the bulk below) and samples one frame every
``frame_spacing_ps`` after ``equilibration_ps``. Sample ``i`` is frame ``i // T`` of trajectory
``i % T`` (T trajectories), so consecutive samples come from different trajectories and adding
samples never reruns an MD job; ``count`` may not exceed T x frames per trajectory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import ase.io
import numpy as np
from ase import Atoms

from iceafm.io.atomic import atomic_path
from iceafm.md.simulate import MDSettings, run_trajectory
from iceafm.md.tip4p_ice import MELTING_POINT_K, TIP4P_ICE
from iceafm.structures.checks import gas_phase_atoms
from iceafm.structures.errors import StructureError
from iceafm.structures.ice_basal import basal_slab, genice_seed_from

MD_STREAM = 1
"""Last SeedSequence entry of trajectory streams ([seed, family, trajectory, 1]); sample
streams have three entries, so the two never coincide."""
HELD_OUT_MD_STREAM = 2
"""Last SeedSequence entry of the held-out trajectories ([seed, family, trajectory, 2]): the
label-free reference of rule ``adapt`` (``adapt.evaluation.reference``), independent of every
training trajectory (its own GenIce proton disorder and thermostat seed)."""


def trajectory_temperatures(params: dict) -> list[float]:
    """Thermostat temperature of each trajectory, K (Tm minus the undercooling)."""
    per = int(params["trajectories_per_temperature"])
    below = [float(d) for d in params["temperatures_below_tm_k"]]
    return [MELTING_POINT_K - d for d in below for _ in range(per)]


def md_settings(params: dict, temperature_k: float) -> MDSettings:
    """The MD settings of one trajectory from the family section."""
    return MDSettings(
        temperature_k=temperature_k,
        equilibration_ps=float(params["equilibration_ps"]),
        production_ps=float(params["production_ps"]),
        frame_spacing_ps=float(params["frame_spacing_ps"]),
        timestep_fs=float(params["timestep_fs"]),
        friction_per_ps=float(params["friction_per_ps"]),
        cutoff_a=float(params["cutoff_a"]),
    )


def capacity(params: dict) -> int:
    """Samples the trajectories can give: trajectories x frames per trajectory."""
    temperatures = trajectory_temperatures(params)
    return len(temperatures) * md_settings(params, temperatures[0]).n_frames


def sample_source(index: int, params: dict) -> tuple[int, int]:
    """(trajectory, frame) of sample ``index``."""
    n_traj = len(trajectory_temperatures(params))
    if index >= capacity(params):
        raise StructureError(
            f"premelt: sample {index} needs frame {index // n_traj} of trajectory "
            f"{index % n_traj}, but each trajectory has only "
            f"{capacity(params) // n_traj} frames (production_ps / frame_spacing_ps)"
        )
    return index % n_traj, index // n_traj


def premelt_start(
    params: dict, seed: int, trajectory: int, held_out: bool = False
) -> tuple[Atoms, np.ndarray, int]:
    """Starting slab of ``trajectory`` (``held_out``: of its held-out twin at the same
    temperature, :data:`HELD_OUT_MD_STREAM`): (atoms, fixed-water mask [n_water], MD seed)."""
    bilayers, melt = int(params["bilayers"]), int(params["melt_bilayers"])
    if not 1 <= melt < bilayers:
        raise StructureError(
            f"premelt: melt_bilayers = {melt}, expected 1 .. bilayers - 1 = {bilayers - 1}"
        )
    from iceafm.structures import FAMILY_CODES

    rng = np.random.default_rng(
        np.random.SeedSequence([seed, FAMILY_CODES["premelt"], trajectory,
                                HELD_OUT_MD_STREAM if held_out else MD_STREAM])  # fmt: skip
    )
    supercell = (int(params["supercell"][0]), int(params["supercell"][1]))
    slab, bilayer_of_water = basal_slab(
        supercell, bilayers, float(params["vacuum_a"]), genice_seed_from(rng)
    )
    return slab, bilayer_of_water < bilayers - melt, int(rng.integers(2**31 - 1))


def run_premelt_trajectory(
    params: dict,
    seed: int,
    trajectory: int,
    out: str | os.PathLike,
    checkpoint: str | os.PathLike,
    checkpoint_every_ps: float = 1.0,
    platform: str = "auto",
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> None:
    """Run trajectory ``trajectory`` of the family and write its frames (multi-frame extxyz).

    ``params`` with ``held_out: true`` (rule ``md_reference``; the family section has no such
    key): run its held-out twin instead (:func:`premelt_start`), frames marked ``held_out``."""
    temperatures = trajectory_temperatures(params)
    if not 0 <= trajectory < len(temperatures):
        raise StructureError(
            f"premelt: trajectory {trajectory}, expected 0 .. {len(temperatures) - 1}"
        )
    held_out = bool(params.get("held_out", False))
    slab, fixed, md_seed = premelt_start(params, seed, trajectory, held_out)
    settings = md_settings(params, temperatures[trajectory])
    frames = run_trajectory(
        slab, fixed, settings, md_seed, checkpoint, checkpoint_every_ps, platform, threads, log
    )
    for frame in frames:
        frame.info.update(
            trajectory=trajectory,
            temperature_k=settings.temperature_k,
            n_fixed_water=int(fixed.sum()),
            generator=(
                f"OpenMM {_openmm_version()} {TIP4P_ICE.name} Langevin NVT, PME + slab "
                f"correction, basal slab from genice3"
            ),
        )
        if held_out:
            frame.info["held_out"] = True
    with atomic_path(out) as tmp:
        ase.io.write(tmp, frames, format="extxyz")


def _openmm_version() -> str:
    import openmm

    return openmm.__version__


def generate_premelt(params: dict, index: int, md_frames: Sequence[str]) -> Atoms:
    """Sample ``index`` of the family: its frame of its trajectory's frames file, without the
    gas-phase waters (:func:`iceafm.structures.checks.gas_phase_atoms`; their count, if any, in
    ``info["gas_phase_waters_removed"]``).

    Args:
        params: the family section (schema defaults filled).
        index: sample index.
        md_frames: the frames files of all trajectories, in trajectory order.
    """
    trajectory, frame = sample_source(index, params)
    if len(md_frames) != len(trajectory_temperatures(params)):
        raise StructureError(
            f"premelt: {len(md_frames)} frames files, expected one per trajectory "
            f"({len(trajectory_temperatures(params))})"
        )
    atoms = ase.io.read(md_frames[trajectory], index=frame, format="extxyz")
    if atoms.info.get("trajectory") != trajectory:
        raise StructureError(f"premelt: {md_frames[trajectory]} is not trajectory {trajectory}")
    atoms.info["md_frame"] = frame
    # A molecule evaporated into the vacuum is pumped away in UHV before imaging, and the AFM
    # scan heights would count from it. Recorded only when there was one: the other samples'
    # files stay as earlier versions wrote them.
    gas = gas_phase_atoms(atoms)
    if gas.any():
        del atoms[np.flatnonzero(gas)]
        atoms.info["gas_phase_waters_removed"] = int(gas.sum()) // 3
    return atoms
