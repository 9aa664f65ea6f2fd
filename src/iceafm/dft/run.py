"""One GPAW calculation: SCF with restart checkpoints, cube export, ``dft.json`` record.

Run under MPI with ``mpiexec -n N gpaw python -m iceafm.dft ...`` (see ``__main__``). Rank 0
writes every file, each atomically. Exit codes of :func:`run_dft`: 0 when the outputs are
complete (converged, or failure recorded on the last attempt), :data:`EXIT_RETRY` when the SCF
did not converge and Snakemake should retry; the next attempt gets more robust settings. An
attempt killed from outside resumes from its checkpoint with unchanged settings: the settings
follow the attempt history in the scratch folder (:mod:`iceafm.dft.attempts`), not Snakemake's
attempt number.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any

import ase.io
import numpy as np
from ase import Atoms
from ase.units import Bohr, Hartree

from iceafm.dft.attempts import AttemptHistory
from iceafm.dft.cube import write_cube_atomic, write_failed_marker
from iceafm.dft.errors import DftConfigError
from iceafm.dft.record import job_context, structure_sha256, write_record
from iceafm.dft.settings import (
    gpaw_parameters,
    max_attempts,
    prepare_cell,
    pw_grid_factor,
    robust_settings,
    settings_key,
)
from iceafm.io.atomic import write_text_atomic

EXIT_RETRY = 3


def _read_structure(path: Path) -> Atoms:
    try:
        return ase.io.read(path, format="extxyz")
    except Exception as err:  # ASE raises many kinds for a bad file
        raise DftConfigError(f"{path}: not a readable extxyz structure ({err})") from err


def export_fields(
    calc: Any, grid_refinement: int, pw_factor: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Potential phi (Hartree a.u., positive near nuclei) and all-electron density
    (electrons/Bohr^3), both of shape (nx, ny, nz) on the same grid (all ranks get them).

    GPAW's electrostatic potential is the potential energy of an electron (eV) on the fine
    grid (twice GPAW's grid); ppafm wants phi itself, hence the sign change. Both fields are
    subsampled onto ``grid_refinement`` (1 or 2) times the cube grid of
    :func:`iceafm.dft.settings.grid_shape`, which GPAW's grid refines ``pw_factor`` times
    (:func:`iceafm.dft.settings.pw_grid_factor`; 1 in FD and LCAO mode). Subsampling keeps
    every k-th point, each of which *is* a point of the finer grid: no interpolation.
    """
    electron_potential_ev = calc.get_electrostatic_potential()
    step = 2 * pw_factor // grid_refinement
    phi_ha = -electron_potential_ev[::step, ::step, ::step] / Hartree
    density = calc.get_all_electron_density(gridrefinement=grid_refinement) * Bohr**3
    density = density[::pw_factor, ::pw_factor, ::pw_factor]
    if phi_ha.shape != density.shape:
        raise RuntimeError(
            f"potential grid {phi_ha.shape} != density grid {density.shape} "
            f"(grid_refinement {grid_refinement}, pw_factor {pw_factor})"
        )
    return phi_ha, density


class _Checkpoint:
    """Restart file ``<scratch>/<key>.gpw`` (+ ``.json`` with the iterations it holds)."""

    def __init__(self, scratch_dir: Path, key: str, world: Any):
        self.gpw = scratch_dir / f"{key[:24]}.gpw"
        self.meta = self.gpw.with_suffix(".json")
        self.world = world
        self.scratch_dir = scratch_dir

    @property
    def name(self) -> str:
        """File name stem, as recorded in the attempt history."""
        return self.gpw.stem

    def iterations(self) -> int:
        """SCF iterations stored in a valid checkpoint; 0 when there is none."""
        if not (self.gpw.is_file() and self.meta.is_file()):
            return 0
        try:
            return int(json.loads(self.meta.read_text())["iterations"])
        except (ValueError, KeyError):
            return 0

    def drop_stale(self, created: set[str]) -> None:
        """Remove the restart files of other settings/structures that earlier attempts
        created (stems in ``created``, from the attempt history); nothing else (rank 0)."""
        if self.world.rank == 0:
            for stem in created - {self.name}:
                for name in (f"{stem}.gpw", f"{stem}.json", f"{stem}.gpw.part"):
                    (self.scratch_dir / name).unlink(missing_ok=True)
        self.world.barrier()

    def save(self, calc: Any, iterations: int) -> None:
        """Write the full state (wave functions included), atomically (collective)."""
        partial = self.gpw.with_name(self.gpw.name + ".part")
        if self.world.rank == 0:
            self.scratch_dir.mkdir(parents=True, exist_ok=True)
        self.world.barrier()
        calc.write(str(partial), mode="all")
        if self.world.rank == 0:
            os.replace(partial, self.gpw)
            write_text_atomic(self.meta, json.dumps({"iterations": iterations}) + "\n")
        self.world.barrier()

    def remove(self) -> None:
        if self.world.rank == 0:
            for path in (self.gpw, self.meta, self.gpw.with_name(self.gpw.name + ".part")):
                path.unlink(missing_ok=True)
        self.world.barrier()


def run_dft(
    structure_path: str | os.PathLike,
    hartree_path: str | os.PathLike,
    density_path: str | os.PathLike,
    record_path: str | os.PathLike,
    log: IO[str] | None,
    dft_config: dict[str, Any],
    attempt: int,
    scratch_dir: str | os.PathLike,
    checkpoint_every: int = 0,
) -> int:
    """Run GPAW for one structure and write the outputs.

    ``attempt`` is Snakemake's attempt number (1-based): it only decides whether a retry is
    still possible. The settings are the config's, made more robust once per earlier SCF
    non-convergence in ``scratch_dir``'s attempt history (:mod:`iceafm.dft.attempts`).
    ``log`` receives GPAW's text output (one line per SCF iteration) on rank 0. Restart files
    live in ``scratch_dir`` (never an output): a rerun with the same structure and settings
    (a killed attempt) continues from the last checkpoint, written every ``checkpoint_every``
    SCF iterations (0: none); they are removed once the outputs are written. Only files this
    function created are ever removed from ``scratch_dir``.
    Returns 0 or :data:`EXIT_RETRY` (see module docstring).
    """
    from gpaw import GPAW, KohnShamConvergenceError
    from gpaw import __version__ as gpaw_version
    from gpaw.mpi import broadcast, world

    structure_path = Path(structure_path)
    start_s = time.perf_counter()
    atoms = _read_structure(structure_path)
    structure_hash = structure_sha256(structure_path)
    n_attempts = max_attempts(dft_config)
    if not isinstance(attempt, int) or attempt < 1:
        raise DftConfigError(f"attempt: got {attempt!r}, expected an integer >= 1")
    scratch_dir = Path(scratch_dir)
    history = AttemptHistory(
        scratch_dir, settings_key(robust_settings(dft_config, 0), structure_hash)
    )
    robust_level = broadcast(history.robust_level() if world.rank == 0 else None, comm=world)
    settings = robust_settings(dft_config, robust_level)
    prepared, shift_a = prepare_cell(atoms, float(settings["vacuum_a"]))
    parameters = gpaw_parameters(settings, prepared)
    checkpoint = _Checkpoint(scratch_dir, settings_key(settings, structure_hash), world)
    checkpoint.drop_stale(history.checkpoints() if world.rank == 0 else set())
    if world.rank == 0:
        history.begin(attempt, robust_level, checkpoint.name)
    world.barrier()
    done_iterations = checkpoint.iterations()

    def note(text: str) -> None:
        if log is not None and world.rank == 0:
            log.write(f"# iceafm.dft: {text}\n")
            log.flush()

    note(
        f"attempt {attempt}/{n_attempts}, robust level {robust_level} (earlier SCF "
        f"non-convergences), {world.size} rank(s), structure {structure_path}"
    )
    if done_iterations:
        note(f"restarting from {checkpoint.gpw} ({done_iterations} SCF iterations done)")
        calc = GPAW(str(checkpoint.gpw), txt=log)
        prepared = calc.get_atoms()
    else:
        calc = GPAW(**parameters, txt=log)
    restarted_from = done_iterations
    iterations = done_iterations
    reason = ""
    every = int(checkpoint_every)
    try:
        for ctx in calc.iconverge(prepared):
            iterations = restarted_from + ctx.niter
            if every and ctx.niter % every == 0:
                checkpoint.save(calc, iterations)
        converged = True
    except KohnShamConvergenceError:
        converged = False
        reason = (
            f"SCF not converged in {settings['maxiter']} iterations (attempt {attempt}/"
            f"{n_attempts}, robust level {robust_level}, mixer beta "
            f"{settings['mixer']['beta']:.4g}, smearing {settings['smearing_ev']:.4g} eV)"
        )

    record: dict[str, Any] = {
        "structure": str(structure_path),
        "structure_sha256": structure_hash,
        "attempt": attempt,
        "max_attempts": n_attempts,
        "robust_level": robust_level,
        "settings": settings,
        "gpaw_parameters": parameters,
        "gpaw_version": gpaw_version,
        "ranks": world.size,
        "scf_iterations": iterations,
        "restarted_from_iterations": restarted_from,
        "converged": converged,
        **job_context(),
    }
    if not converged:
        note(reason)
        checkpoint.remove()
        # Retry while both another robust level and another Snakemake attempt remain.
        if robust_level + 1 < n_attempts and attempt < n_attempts:
            if world.rank == 0:
                history.end("scf_not_converged", reason, iterations)
            world.barrier()
            note(f"exit {EXIT_RETRY}: retry with robust level {robust_level + 1}")
            return EXIT_RETRY
        wall_s = time.perf_counter() - start_s
        if world.rank == 0:
            history.end("failed", reason, iterations)
        record.update(
            status="failed",
            reason=reason,
            energy_ev=None,
            wall_seconds=wall_s,
            core_seconds=wall_s * world.size,
            attempts=history.entries,
        )
        if world.rank == 0:
            write_failed_marker(hartree_path, reason)
            write_failed_marker(density_path, reason)
            write_record(record_path, record)
            history.remove()
        world.barrier()
        return 0

    energy_ev = float(calc.get_potential_energy(prepared))
    dipole_ea = calc.get_dipole_moment(prepared)
    pw_factor = pw_grid_factor(settings, prepared)
    phi_ha, density = export_fields(calc, int(settings["grid_refinement"]), pw_factor)
    wall_s = time.perf_counter() - start_s
    record.update(
        status="converged",
        reason="",
        energy_ev=energy_ev,
        dipole_moment_e_a=[float(x) for x in dipole_ea],
        grid_shape=list(phi_ha.shape),
        pw_grid_factor=pw_factor,
        grid_spacing_a=(prepared.cell.lengths() / np.asarray(phi_ha.shape)).tolist(),
        vacuum_shift_a=shift_a.tolist(),
        wall_seconds=wall_s,
        core_seconds=wall_s * world.size,
    )
    if world.rank == 0:
        history.end("converged", "", iterations)
        record["attempts"] = history.entries
        cube_atoms = prepared.copy()
        cube_atoms.positions -= shift_a
        origin_a = -shift_a
        write_cube_atomic(
            hartree_path,
            cube_atoms,
            phi_ha,
            origin_a,
            "iceafm electrostatic potential phi (Hartree a.u.), GPAW",
        )
        write_cube_atomic(
            density_path,
            cube_atoms,
            density,
            origin_a,
            "iceafm all-electron density (electrons/Bohr^3), GPAW",
        )
        write_record(record_path, record)
        history.remove()
    world.barrier()
    checkpoint.remove()
    note(f"converged in {iterations} SCF iterations, {wall_s:.1f} s")
    return 0
