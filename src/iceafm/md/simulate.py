"""Langevin NVT of a rigid TIP4P/Ice slab in OpenMM, restartable, sampling decorrelated frames.

The slab (waters O,H,H, orthorhombic cell, vacuum along z) is placed in an MD box with a taller
vacuum (:func:`md_box_a`) for PME with the slab dipole correction; frames are shifted back into
the slab's own cell. A checkpoint (one ``.npz``: the OpenMM state as XML, the step, the frames
so far and a digest of everything that shapes the run) is written atomically every
``checkpoint_every_ps``; a run that finds a checkpoint with the same digest continues from it
(a killed job loses at most one interval), a checkpoint with another digest is ignored. The
digest leaves out ``production_ps``: a longer production continues a shorter run's trajectory
(and a shorter one takes the first frames of a longer run's), so a long run can be grown in
stages. After a restart the Langevin noise is reseeded from (seed, step), so a run is
reproducible for a given kill point, not bit-identical to an uninterrupted one; it keeps the z
box of its checkpoint (a run started before the box rule changed continues in its own box).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from iceafm.io.atomic import atomic_path
from iceafm.md.tip4p_ice import KB_KJ_PER_MOL_K, TIP4P_ICE, build_system

PLATFORMS = ("auto", "CPU", "CUDA", "OpenCL", "Reference")
"""OpenMM platforms; ``auto`` takes CUDA when its plugin loads (openmm-cuda-12 or -13, the node's
CUDA major version; openmm-cuda-13 8.6.1 tested on an H100), else CPU."""


@dataclass(frozen=True)
class MDSettings:
    """What shapes a trajectory (times in ps, lengths in A, temperature in K)."""

    temperature_k: float
    equilibration_ps: float
    production_ps: float
    frame_spacing_ps: float
    timestep_fs: float = 2.0
    friction_per_ps: float = 1.0
    cutoff_a: float = 9.0

    def steps(self, ps: float) -> int:
        """Number of MD steps in ``ps`` picoseconds (rounded)."""
        return round(ps * 1000 / self.timestep_fs)

    @property
    def n_frames(self) -> int:
        """Frames sampled in the production run, one every ``frame_spacing_ps``."""
        return self.steps(self.production_ps) // self.steps(self.frame_spacing_ps)


class MDError(ValueError):
    """Settings an MD run cannot use (one line, names the value)."""


BOX_OVER_SLAB = 3.0
"""z box / slab thickness for PME with the Yeh-Berkowitz slab correction (J. Chem. Phys. 111,
3155 (1999)): the volume factor 3 (empty space twice the slab) that LAMMPS documents for it
(``kspace_modify slab 3.0``).
Measured on a premelted 266 K frame of the 6-bilayer benchmark slab (benchmarks/README.md,
premelt_md): forces in a z box of 3 x the lattice slab (2.7 x the premelted one) differ from an
8 x box's by 9e-6 of their RMS at tight PME tolerance; a 4 x box (used before 2026-11-26) only
made the PME grid a third taller."""


def md_box_a(
    slab: Atoms, cutoff_a: float, box_z_a: float | None = None
) -> tuple[np.ndarray, float]:
    """MD box lengths (A) and the z shift (A) from the slab's cell into it.

    z box = max(:data:`BOX_OVER_SLAB` x slab thickness, thickness + 2 x cutoff + 2 A, the slab
    cell's height): vacuum for PME with the Yeh-Berkowitz correction and no real-space
    interaction with the slab's image; ``box_z_a`` (A) instead, when given (a checkpoint's box).
    """
    z = slab.positions[:, 2]
    thickness = float(z.max() - z.min())
    lengths = slab.cell.lengths()
    if box_z_a is None:
        box_z_a = max(BOX_OVER_SLAB * thickness, thickness + 2 * cutoff_a + 2.0, float(lengths[2]))
    box = np.array([lengths[0], lengths[1], box_z_a])
    shift = box[2] / 2 - (z.max() + z.min()) / 2
    return box, float(shift)


def effective_cutoff_a(box_a: np.ndarray, cutoff_a: float) -> float:
    """``cutoff_a`` clipped to just under half the shortest box length (OpenMM's PME limit), A.

    Small demo cells (one 9.04 x 7.82 A ice cell) get 3.9 A: only the first LJ shell; PME still
    sums all the electrostatics. Use a supercell >= [2, 2] for a 7.8 A cutoff.
    """
    return float(min(cutoff_a, 0.499 * float(np.min(box_a))))


def choose_platform(name: str, threads: int):
    """OpenMM platform ``name`` (``auto``: CUDA if it loads, else CPU) and its properties."""
    import openmm as mm

    if name not in PLATFORMS:
        raise MDError(f"platform = {name!r}, expected one of {list(PLATFORMS)}")
    available = [mm.Platform.getPlatform(i).getName() for i in range(mm.Platform.getNumPlatforms())]
    if name == "auto":
        name = "CUDA" if "CUDA" in available else "CPU"
    if name not in available:
        raise MDError(f"platform = {name!r} is not available here (found {available})")
    properties = {"Threads": str(max(1, threads))} if name == "CPU" else {}
    return mm.Platform.getPlatformByName(name), properties


def run_digest(slab: Atoms, fixed_water: np.ndarray, settings: MDSettings, seed: int) -> str:
    """Digest of everything that shapes the trajectory up to any step (a checkpoint is reused
    only on a match); not ``production_ps``, which only says where it stops."""
    shaping = {k: v for k, v in asdict(settings).items() if k != "production_ps"}
    h = hashlib.sha256()
    h.update(json.dumps({"settings": shaping, "seed": seed}, sort_keys=True).encode())
    h.update(np.ascontiguousarray(slab.positions, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(slab.cell.lengths(), dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(fixed_water, dtype=bool).tobytes())
    return h.hexdigest()[:16]


def _noise_seed(seed: int, step: int) -> int:
    """Random seed for the Langevin noise from ``step`` on (``step`` 0: the velocities use
    ``_noise_seed(seed, 0) + 1``); OpenMM wants 31 bits and reads 0 as 'random'."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0] % (2**31 - 3)) + 1


def _save_checkpoint(
    path: Path, digest: str, step: int, state_xml: str, frames: list, n_atoms: int
) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            digest=np.array(digest),
            step=np.array(step),
            state_xml=np.array(state_xml),
            frames=np.array(frames, dtype=np.float64).reshape(len(frames), n_atoms, 3),
        )


def _load_checkpoint(path: Path, digest: str, log: Callable[[str], None]):
    """(step, state_xml, frames) of a matching checkpoint, else None."""
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            if str(data["digest"]) != digest:
                log(f"checkpoint {path} is from other settings: starting afresh")
                return None
            return int(data["step"]), str(data["state_xml"]), list(data["frames"])
    except (OSError, ValueError, KeyError) as err:
        log(f"checkpoint {path} unreadable ({err}): starting afresh")
        return None


def slab_context(
    slab: Atoms,
    fixed_water: np.ndarray,
    settings: MDSettings,
    platform: str = "auto",
    threads: int = 1,
    box_z_a: float | None = None,
):
    """The OpenMM context of a slab's MD (no positions set yet): TIP4P/Ice with PME and the
    slab correction in the :func:`md_box_a` box (z: ``box_z_a`` A when given), cutoff
    :func:`effective_cutoff_a`, Langevin.

    Returns:
        (context, integrator, box lengths (3,) A, z shift from the slab's cell into the box A,
        cutoff A).
    """
    import openmm as mm

    box, shift = md_box_a(slab, settings.cutoff_a, box_z_a)
    cutoff = effective_cutoff_a(box, settings.cutoff_a)
    system = build_system(len(slab) // 3, box, np.asarray(fixed_water, bool), cutoff)
    integrator = mm.LangevinMiddleIntegrator(
        settings.temperature_k, settings.friction_per_ps, settings.timestep_fs / 1000
    )
    plat, properties = choose_platform(platform, threads)
    return mm.Context(system, integrator, plat, properties), integrator, box, shift, cutoff


def start_state(context, slab: Atoms, shift_a: float, temperature_k: float, seed: int) -> None:
    """Put ``slab`` (shifted by ``shift_a`` along z, A) into a :func:`slab_context` context, with
    Maxwell-Boltzmann velocities at ``temperature_k`` (K) from ``seed``."""
    positions_nm = np.zeros((context.getSystem().getNumParticles(), 3))
    positions_nm[: len(slab)] = (slab.positions + [0, 0, shift_a]) * 0.1
    context.setPositions(positions_nm)
    context.computeVirtualSites()
    context.setVelocitiesToTemperature(temperature_k, _noise_seed(seed, 0) + 1)
    context.applyVelocityConstraints(1e-6)


def run_trajectory(
    slab: Atoms,
    fixed_water: np.ndarray,
    settings: MDSettings,
    seed: int,
    checkpoint: str | os.PathLike,
    checkpoint_every_ps: float = 1.0,
    platform: str = "auto",
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> list[Atoms]:
    """Equilibrate, then sample ``settings.n_frames`` frames, one every ``frame_spacing_ps``.

    Args:
        slab: waters O,H,H, orthorhombic cell (A), vacuum along z.
        fixed_water: boolean mask [n_water]; True molecules do not move (the bulk-like base).
        settings: the trajectory's physics and lengths.
        seed: seeds the initial velocities and the Langevin noise.
        checkpoint: path of the checkpoint ``.npz`` (resumed from when its digest matches).
        checkpoint_every_ps: simulated time between checkpoints, ps.
        platform: OpenMM platform (:data:`PLATFORMS`).
        threads: CPU platform threads.
        log: receives one line per event (start/resume, each checkpoint with temperature).

    Returns:
        The frames: copies of ``slab`` with the MD positions (A) in the slab's cell (each
        molecule whole, its O inside the cell laterally); info has time_ps (from the start of
        production) and step.
    """
    import openmm as mm

    n_water = len(slab) // 3
    digest = run_digest(slab, fixed_water, settings, seed)
    checkpoint = Path(checkpoint)
    resumed = _load_checkpoint(checkpoint, digest, log)
    state = None if resumed is None else mm.XmlSerializer.deserialize(resumed[1])
    # a resumed run keeps the z box it was started in (same PME grid, same frames' shift)
    box_z = None
    if state is not None:
        box_z = state.getPeriodicBoxVectors()[2][2].value_in_unit(mm.unit.angstrom)
    context, integrator, box, shift, cutoff = slab_context(
        slab, fixed_water, settings, platform, threads, box_z
    )
    plat = context.getPlatform()
    if resumed is None:
        start_state(context, slab, shift, settings.temperature_k, seed)
        step, frames = 0, []
        log(f"start: {n_water} waters, box {np.round(box, 2).tolist()} A, cutoff {cutoff:.2f} A, "
            f"{plat.getName()} platform, {settings}")
    else:
        step, _, frames = resumed
        context.setState(state)
        log(f"resumed from checkpoint at step {step} with {len(frames)} frames, "
            f"z box {box[2]:.2f} A")
        frames = frames[: settings.n_frames]  # a longer run's checkpoint: its first frames
    integrator.setRandomNumberSeed(_noise_seed(seed, step))

    n_free = int((~np.asarray(fixed_water, bool)).sum())
    dof = 6 * n_free  # rigid molecules: 3 translations + 3 rotations each
    equil = settings.steps(settings.equilibration_ps)
    spacing = settings.steps(settings.frame_spacing_ps)
    total = equil + settings.n_frames * spacing
    every = max(1, settings.steps(checkpoint_every_ps))
    while step < total:
        next_frame = equil + (len(frames) + 1) * spacing
        target = min(next_frame, (step // every + 1) * every, total)
        integrator.step(target - step)
        step = target
        if step == next_frame:
            state = context.getState(getPositions=True)
            pos = state.getPositions(asNumpy=True).value_in_unit(mm.unit.angstrom)
            frames.append(np.asarray(pos[: 3 * n_water]) - [0, 0, shift])
        if step % every == 0 or step == total:
            state = context.getState(
                getPositions=True, getVelocities=True, getEnergy=True, getParameters=True
            )
            kinetic = state.getKineticEnergy().value_in_unit(mm.unit.kilojoule_per_mole)
            temperature = 2 * kinetic / (dof * KB_KJ_PER_MOL_K) if dof else 0.0
            state_xml = mm.XmlSerializer.serialize(state)
            _save_checkpoint(checkpoint, digest, step, state_xml, frames, len(slab))
            log(f"step {step}/{total} ({step * settings.timestep_fs / 1000:.2f} ps): "
                f"T = {temperature:.1f} K, {len(frames)} frames, checkpoint written")
    out = []
    lateral = slab.cell.lengths()[:2]
    for k, positions in enumerate(frames):
        # whole molecules back into the cell laterally (by their O; the MD never wraps)
        molecules = np.array(positions).reshape(n_water, 3, 3)
        molecules[:, :, :2] -= np.floor(molecules[:, :1, :2] / lateral) * lateral
        positions = molecules.reshape(-1, 3)
        frame = Atoms(slab.get_chemical_symbols(), positions, cell=slab.cell, pbc=slab.pbc)
        frame.info.update(
            time_ps=(k + 1) * settings.frame_spacing_ps, step=equil + (k + 1) * spacing
        )
        out.append(frame)
    return out


def sample_bulk(
    bulk: Atoms,
    temperature_k: float,
    equilibration_ps: float,
    production_ps: float,
    frame_spacing_ps: float,
    seed: int,
    platform: str = "CPU",
    threads: int = 1,
) -> list[Atoms]:
    """Frames of periodic bulk water/ice (NVT, Langevin, rigid TIP4P/Ice, PME with the LJ
    long-range correction, cutoff just under half the shortest box length): a reference at the
    same temperature and lateral cell as a slab, e.g. to calibrate a liquid cut on the order
    parameter (:func:`iceafm.md.order.calibrated_cut`).

    Args:
        bulk: waters O,H,H, orthorhombic cell (A), pbc all True (e.g.
            :func:`iceafm.structures.ice_basal.ice_ih_bulk`).
        temperature_k: K. equilibration_ps, production_ps, frame_spacing_ps: ps.
        seed: initial velocities and Langevin noise.

    Returns:
        ``production_ps / frame_spacing_ps`` frames, copies of ``bulk`` with the MD positions (A).
    """
    import openmm as mm

    n = len(bulk) // 3
    box = bulk.cell.lengths()
    system = build_system(n, box, np.zeros(n, bool), effective_cutoff_a(box, 9.0),
                          slab_correction=False, dispersion_correction=True)  # fmt: skip
    step_ps = 0.002
    integrator = mm.LangevinMiddleIntegrator(temperature_k, 1.0, step_ps)
    integrator.setRandomNumberSeed(_noise_seed(seed, 0))
    plat, properties = choose_platform(platform, threads)
    context = mm.Context(system, integrator, plat, properties)
    positions = np.zeros((system.getNumParticles(), 3))
    positions[: 3 * n] = bulk.positions * 0.1
    context.setPositions(positions)
    context.computeVirtualSites()
    context.setVelocitiesToTemperature(temperature_k, _noise_seed(seed, 0) + 1)
    integrator.step(round(equilibration_ps / step_ps))
    frames = []
    for _ in range(round(production_ps / frame_spacing_ps)):
        integrator.step(round(frame_spacing_ps / step_ps))
        pos = context.getState(getPositions=True).getPositions(asNumpy=True)
        frame = bulk.copy()
        frame.positions = np.asarray(pos.value_in_unit(mm.unit.angstrom))[: 3 * n]
        frames.append(frame)
    return frames


__all__ = ["MDError", "MDSettings", "PLATFORMS", "TIP4P_ICE", "run_trajectory", "sample_bulk"]
