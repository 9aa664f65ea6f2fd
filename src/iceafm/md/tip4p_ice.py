"""TIP4P/Ice water as an OpenMM ``System``: rigid molecules, a massless charge site M, PME.

OpenMM 8.6 ships TIP3P, TIP4P-Ew, TIP4P-FB, TIP5P, OPC and SPC/E but not TIP4P/Ice, so the
model is defined here from its publication:

    J. L. F. Abascal, E. Sanz, R. G. Fernandez and C. Vega, "A potential model for the study of
    ices and amorphous water: TIP4P/Ice", J. Chem. Phys. 122, 234511 (2005), Table I:
    sigma = 3.1668 A, epsilon/k = 106.1 K, q_H = 0.5897 e, q_M = -2 q_H, d_OM = 0.1577 A,
    r_OH = 0.9572 A, HOH = 104.52 deg (the TIP4P geometry).

Its melting point: 272.2 K from free energies in that paper; direct coexistence gives 269.8 K
(R. G. Fernandez, J. L. F. Abascal and C. Vega, J. Chem. Phys. 124, 144506 (2006)) and about
270 K is the value used in later premelting work (e.g. Conde, Vega and Patrykiejew, J. Chem.
Phys. 129, 014702 (2008)), hence :data:`MELTING_POINT_K` = 270 K.

Particle order in the ``System``: the waters' O,H,H (as in the project's structure contract),
then one M site per molecule (indices 3 n_water + m). Units are OpenMM's: nm, ps, kJ/mol, e.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KB_KJ_PER_MOL_K = 0.008314462618
"""Boltzmann constant, kJ/(mol K) (CODATA 2018)."""
ONE_4PI_EPS0 = 138.935456
"""Coulomb constant in OpenMM units, kJ mol^-1 nm e^-2."""
O_MASS_DA = 15.9994
H_MASS_DA = 1.008


@dataclass(frozen=True)
class Tip4pModel:
    """A rigid four-site water model (LJ on O, charges on H and M); lengths in A."""

    name: str
    sigma_a: float
    epsilon_k: float
    q_h_e: float
    d_om_a: float
    r_oh_a: float
    hoh_deg: float
    melting_point_k: float

    @property
    def epsilon_kj_mol(self) -> float:
        """LJ well depth, kJ/mol."""
        return self.epsilon_k * KB_KJ_PER_MOL_K

    @property
    def r_hh_a(self) -> float:
        """H-H distance of the rigid molecule, A."""
        return 2 * self.r_oh_a * math.sin(math.radians(self.hoh_deg) / 2)

    @property
    def m_weight(self) -> float:
        """a in M = O + a (H1 - O) + a (H2 - O): M on the bisector at d_OM from O."""
        return self.d_om_a / (2 * self.r_oh_a * math.cos(math.radians(self.hoh_deg) / 2))


TIP4P_ICE = Tip4pModel(
    name="TIP4P/Ice",
    sigma_a=3.1668,
    epsilon_k=106.1,
    q_h_e=0.5897,
    d_om_a=0.1577,
    r_oh_a=0.9572,
    hoh_deg=104.52,
    melting_point_k=270.0,
)
"""Abascal et al., J. Chem. Phys. 122, 234511 (2005); Tm: see the module docstring."""
MELTING_POINT_K = TIP4P_ICE.melting_point_k


def build_system(
    n_water: int,
    box_a: np.ndarray,
    fixed_water: np.ndarray,
    cutoff_a: float,
    slab_correction: bool = True,
    dispersion_correction: bool = False,
    model: Tip4pModel = TIP4P_ICE,
    ewald_tolerance: float = 5e-4,
):
    """The OpenMM ``System`` of ``n_water`` rigid TIP4P/Ice molecules in an orthorhombic box.

    Electrostatics: PME (3D periodic) with real-space and LJ cutoff ``cutoff_a``; the LJ
    long-range (homogeneous) correction only with ``dispersion_correction`` (bulk boxes: a slab
    would get it wrong). For a slab in a box
    with vacuum along z, ``slab_correction`` adds the Yeh-Berkowitz term (J. Chem. Phys. 111,
    3155 (1999)) E = 2 pi M_z^2 / V (x Coulomb constant), M_z = sum_i q_i z_i, which removes
    the spurious interaction of the slab's dipole with its images along z (use a z box at least
    about 3 x the slab thickness). Molecules in ``fixed_water`` get zero mass (they do not move,
    OpenMM's way of freezing atoms) and no constraints; the others are rigid (three distance
    constraints) with M a virtual site.

    Args:
        n_water: number of molecules (particles O,H,H per molecule, then the M sites).
        box_a: orthorhombic box lengths (3,), A.
        fixed_water: boolean mask [n_water], True for molecules held fixed.
        cutoff_a: real-space and LJ cutoff, A (less than half the shortest box length).
        slab_correction: add the Yeh-Berkowitz slab dipole correction along z.
        dispersion_correction: add OpenMM's LJ long-range correction (bulk only).
        model: the water model.
        ewald_tolerance: OpenMM's PME error tolerance.

    Returns:
        openmm.System.
    """
    import openmm as mm

    nm = 0.1
    box_nm = np.asarray(box_a, dtype=float) * nm
    system = mm.System()
    system.setDefaultPeriodicBoxVectors(
        mm.Vec3(box_nm[0], 0, 0), mm.Vec3(0, box_nm[1], 0), mm.Vec3(0, 0, box_nm[2])
    )
    for fixed in fixed_water:
        scale = 0.0 if fixed else 1.0
        system.addParticle(O_MASS_DA * scale)
        system.addParticle(H_MASS_DA * scale)
        system.addParticle(H_MASS_DA * scale)
    nonbonded = mm.NonbondedForce()
    nonbonded.setNonbondedMethod(mm.NonbondedForce.PME)
    nonbonded.setCutoffDistance(cutoff_a * nm)
    nonbonded.setEwaldErrorTolerance(ewald_tolerance)
    nonbonded.setUseDispersionCorrection(dispersion_correction)
    q_h = model.q_h_e
    for _ in range(n_water):
        nonbonded.addParticle(0.0, model.sigma_a * nm, model.epsilon_kj_mol)
        nonbonded.addParticle(q_h, 1.0, 0.0)
        nonbonded.addParticle(q_h, 1.0, 0.0)
    a = model.m_weight
    for m in range(n_water):
        o, h1, h2 = 3 * m, 3 * m + 1, 3 * m + 2
        site = system.addParticle(0.0)
        system.setVirtualSite(site, mm.ThreeParticleAverageSite(o, h1, h2, 1 - 2 * a, a, a))
        nonbonded.addParticle(-2 * q_h, 1.0, 0.0)
        members = (o, h1, h2, site)
        for i in range(4):
            for j in range(i + 1, 4):
                nonbonded.addException(members[i], members[j], 0.0, 1.0, 0.0)
        if not fixed_water[m]:
            system.addConstraint(o, h1, model.r_oh_a * nm)
            system.addConstraint(o, h2, model.r_oh_a * nm)
            system.addConstraint(h1, h2, model.r_hh_a * nm)
    system.addForce(nonbonded)
    if slab_correction:
        dipole = mm.CustomExternalForce("q*z")
        dipole.addPerParticleParameter("q")
        for particle in range(system.getNumParticles()):
            charge = nonbonded.getParticleParameters(particle)[0]
            charge = charge.value_in_unit(charge.unit)
            if charge != 0.0:
                dipole.addParticle(particle, [charge])
        volume = float(np.prod(box_nm))
        correction = mm.CustomCVForce(f"{2 * math.pi * ONE_4PI_EPS0 / volume!r}*mz^2")
        correction.addCollectiveVariable("mz", dipole)
        system.addForce(correction)
    return system
