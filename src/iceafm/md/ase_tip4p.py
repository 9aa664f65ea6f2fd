"""ASE TIP4P rigid-water Langevin MD of an ice slab's top bilayers: the baseline of
``benchmarks/premelt_md.py`` (and of ``benchmarks/diffusion.py``'s premelted slabs).

This was the ``premelt`` family's engine before OpenMM (:mod:`iceafm.md.simulate`): pure Python,
about 0.1-0.4 s per step for tens of waters, so only sub-picosecond runs were affordable. The
lower bilayers are held fixed, the top ``melt_bilayers`` move under TIP4P (ASE's calculator) as
rigid molecules (RATTLE on O-H1, O-H2, H1-H2) with a Langevin thermostat. The TIP4P cutoff is
min(7 A, half the shortest periodic cell length).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.calculators.tip4p import TIP4P
from ase.constraints import FixAtoms, FixBondLengths
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta

from iceafm.structures.errors import StructureError
from iceafm.structures.ice_basal import basal_slab, genice_seed_from

TIP4P_RC_MAX_A = 7.0
TIP4P_SWITCH_WIDTH_A = 1.0


def tip4p_cutoff_a(atoms: Atoms) -> float:
    """TIP4P cutoff for ``atoms``: min(7 A, half the shortest periodic cell length), A."""
    periodic_lengths = atoms.cell.lengths()[atoms.pbc]
    return min(TIP4P_RC_MAX_A, float(periodic_lengths.min()) / 2)


class RigidWaterBonds(FixBondLengths):
    """RATTLE on O-H1, O-H2 and H1-H2 of whole water molecules, vectorised over molecules.

    ASE's ``FixBondLengths`` applies the same iteration pair by pair with a minimum-image search
    each time (about 0.4 s per MD step for 24 waters); here the pairs of one bond type share no
    atom, so updating them all at once is the same Gauss-Seidel sweep. Molecules must stay whole
    (H = O + bond vector), which holds because the MD never wraps positions.
    """

    def __init__(self, molecules: np.ndarray, tolerance: float = 1e-10):
        """Args: molecules: water indices (atoms 3m, 3m+1, 3m+2) to keep rigid."""
        self.groups = [
            (3 * np.asarray(molecules) + a, 3 * np.asarray(molecules) + b)
            for a, b in ((0, 1), (0, 2), (1, 2))
        ]
        pairs = np.concatenate([np.column_stack(group) for group in self.groups])
        super().__init__(pairs, tolerance=tolerance)

    def initialize_bond_lengths(self, atoms: Atoms) -> np.ndarray:
        """Current lengths of all constrained pairs, in ``self.pairs`` order, A."""
        return np.linalg.norm(
            atoms.positions[self.pairs[:, 0]] - atoms.positions[self.pairs[:, 1]], axis=1
        )

    def _iterate(self, atoms: Atoms, update) -> None:
        """Sweep the three bond types until ``update`` reports no correction above tolerance."""
        if self.bondlengths is None:
            self.bondlengths = self.initialize_bond_lengths(atoms)
        lengths = np.split(self.bondlengths, 3)
        masses = atoms.get_masses()
        for _ in range(self.maxiter):
            corrected = [
                update(a, b, length, masses[a], masses[b])
                for (a, b), length in zip(self.groups, lengths, strict=True)
            ]
            if not any(corrected):
                return
        raise RuntimeError(f"RATTLE did not converge in {self.maxiter} sweeps")

    def adjust_positions(self, atoms: Atoms, new: np.ndarray) -> None:
        old = atoms.positions

        def update(a, b, length, ma, mb) -> bool:
            d0 = old[a] - old[b]
            d1 = new[a] - new[b]
            x = 0.5 * (length**2 - (d1 * d1).sum(1)) / (d0 * d1).sum(1)
            mu = 1 / (1 / ma + 1 / mb)
            new[a] += (x * mu / ma)[:, None] * d0
            new[b] -= (x * mu / mb)[:, None] * d0
            return bool((np.abs(x) > self.tolerance).any())

        self._iterate(atoms, update)

    def adjust_momenta(self, atoms: Atoms, p: np.ndarray) -> None:
        old = atoms.positions

        def update(a, b, length, ma, mb) -> bool:
            d = old[a] - old[b]
            dv = p[a] / ma[:, None] - p[b] / mb[:, None]
            x = -(dv * d).sum(1) / length**2
            mu = 1 / (1 / ma + 1 / mb)
            p[a] += (x * mu)[:, None] * d
            p[b] -= (x * mu)[:, None] * d
            return bool((np.abs(x) > self.tolerance).any())

        self._iterate(atoms, update)


def tip4p_dynamics(
    slab: Atoms,
    free_water: np.ndarray,
    temperature_k: float,
    timestep_fs: float,
    friction_per_fs: float,
    rng: np.random.Generator,
) -> tuple[Atoms, Langevin]:
    """Rigid TIP4P Langevin MD of the free waters with the others fixed, set up, not run.

    Args:
        slab: waters only, ordered O,H,H, orthorhombic cell, pbc (True, True, False).
        free_water: boolean mask [n_water], True for molecules that move.
        temperature_k: thermostat temperature, K.
        timestep_fs: time step, fs.
        friction_per_fs: Langevin friction, 1/fs.
        rng: generator for the initial velocities and the Langevin noise.

    Returns:
        (a copy of ``slab`` with calculator, constraints and thermal momenta, its dynamics:
        ``dynamics.run(n)`` runs n steps).
    """
    atoms = slab.copy()
    fixed_atoms = np.repeat(~free_water, 3)
    rc = tip4p_cutoff_a(atoms)
    atoms.calc = TIP4P(rc=rc, width=min(TIP4P_SWITCH_WIDTH_A, rc / 2))
    atoms.set_constraint(
        [
            FixAtoms(mask=fixed_atoms),
            RigidWaterBonds(np.flatnonzero(free_water)),
        ]
    )
    thermalize_momenta(atoms, temperature_k, rng=rng)
    atoms.set_momenta(atoms.get_momenta() * ~fixed_atoms[:, None])
    dynamics = Langevin(
        atoms,
        timestep=timestep_fs * units.fs,
        temperature_K=temperature_k,
        friction=friction_per_fs / units.fs,
        fixcm=False,
        rng=rng,
    )
    return atoms, dynamics


def melt_top(
    slab: Atoms,
    free_water: np.ndarray,
    temperature_k: float,
    md_steps: int,
    timestep_fs: float,
    friction_per_fs: float,
    rng: np.random.Generator,
) -> Atoms:
    """Run rigid TIP4P Langevin MD on the free waters with the others fixed; return the last frame.

    Args: as :func:`tip4p_dynamics`, and md_steps: number of MD steps.

    Returns:
        Copy of ``slab`` at the final step, without constraints or calculator.
    """
    atoms, dynamics = tip4p_dynamics(
        slab, free_water, temperature_k, timestep_fs, friction_per_fs, rng
    )
    dynamics.run(md_steps)
    final = atoms.copy()
    final.set_constraint()
    final.calc = None
    return final


def ase_premelt(params: dict, rng: np.random.Generator) -> Atoms:
    """Basal ice slab whose top bilayers ran ASE TIP4P MD (the former ``premelt`` family).

    Args:
        params: ``bilayers``, ``supercell`` ([nx, ny]), ``vacuum_a`` (A), ``melt_bilayers``
            (top bilayers that move, 1 .. bilayers - 1), ``temperature_k`` (K), ``md_steps``,
            ``timestep_fs`` (fs), ``friction_per_fs`` (1/fs).
        rng: the sample's generator (proton disorder, velocities, thermostat noise).

    Returns:
        Atoms ordered O,H,H; info has n_fixed_water (the bottom molecules that did not move).
    """
    bilayers = int(params["bilayers"])
    melt_bilayers = int(params["melt_bilayers"])
    if not 1 <= melt_bilayers < bilayers:
        raise StructureError(
            f"premelt: melt_bilayers = {melt_bilayers}, expected 1 .. bilayers - 1 = {bilayers - 1}"
        )
    supercell = (int(params["supercell"][0]), int(params["supercell"][1]))
    slab, bilayer_of_water = basal_slab(
        supercell, bilayers, float(params["vacuum_a"]), genice_seed_from(rng)
    )
    free_water = bilayer_of_water >= bilayers - melt_bilayers
    atoms = melt_top(
        slab,
        free_water,
        float(params["temperature_k"]),
        int(params["md_steps"]),
        float(params["timestep_fs"]),
        float(params["friction_per_fs"]),
        rng,
    )
    atoms.info["n_fixed_water"] = int((~free_water).sum())
    atoms.info["generator"] = f"ice_basal + TIP4P Langevin MD (rc = {tip4p_cutoff_a(slab):.2f} A)"
    return atoms
