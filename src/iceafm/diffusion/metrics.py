"""Quality of generated water slabs: validity, O-O distance distributions, H-bonds, completion F1
by depth band, TIP4P/Ice energy; and the ice Ih lattice baseline for completion.

Distances use the minimum image along x and y (the slabs' periodic directions), open z.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from scipy.stats import wasserstein_distance

from iceafm.diffusion.graph import mic_xy
from iceafm.md.tip4p_ice import TIP4P_ICE
from iceafm.metrics.detection import Counts, match_atoms
from iceafm.structures.checks import count_waters, hbond_counts

OH_MAX_A = 1.2
"""An H is bonded to an O within this distance (validity), A."""
MIN_NONBONDED_A = 1.3
"""Validity: no two atoms of different molecules closer than this, A (an H-bond's H...O is about
1.75 A in ice; O-O contacts under 2.3 A do not occur in water)."""
RDF_MAX_A = 6.0
"""O-O pair distances up to this enter the RDF comparison, A."""

# TIP4P/Ice (iceafm.md.tip4p_ice: Abascal et al., J. Chem. Phys. 122, 234511 (2005)) in A, eV, e.
TIP4P_ICE_SIGMA_A = TIP4P_ICE.sigma_a
TIP4P_ICE_EPSILON_EV = TIP4P_ICE.epsilon_k * 8.617333262e-5  # k_B, eV/K
TIP4P_ICE_QH_E = TIP4P_ICE.q_h_e
TIP4P_ICE_DOM_A = TIP4P_ICE.d_om_a
COULOMB_EV_A = 14.399645  # e^2 / (4 pi eps0), eV A

Array = TypeVar("Array")
"""A numpy array or a torch tensor (the pair energy serves both the metric and the relaxation)."""


def _length(vectors: Array) -> Array:
    """Euclidean length over the last axis (numpy and torch alike)."""
    return (vectors**2).sum(-1) ** 0.5


def tip4p_ice_pair_energy(a: Array, b: Array) -> Array:
    """TIP4P/Ice energy of molecule pairs, eV: O-O Lennard-Jones plus the Coulomb sum over the
    charges on H1, H2 and the M site (d_OM along the H-O-H bisector of the actual geometry).

    Args:
        a, b: [p, 3, 3] molecules O, H1, H2, A, ``b`` already at its periodic image next to
            ``a``; numpy arrays or torch tensors (the result is of the same kind, differentiable
            for torch).

    Returns:
        [p] energies, eV (no cutoff or switch applied).
    """
    sr6 = (TIP4P_ICE_SIGMA_A / _length(b[:, 0] - a[:, 0])) ** 6
    energy = 4 * TIP4P_ICE_EPSILON_EV * (sr6**2 - sr6)
    charges = (-2 * TIP4P_ICE_QH_E, TIP4P_ICE_QH_E, TIP4P_ICE_QH_E)
    sites = []
    for w in (a, b):
        bisector = w[:, 1] + w[:, 2] - 2 * w[:, 0]
        m_site = w[:, 0] + TIP4P_ICE_DOM_A * bisector / _length(bisector)[:, None]
        sites.append((m_site, w[:, 1], w[:, 2]))
    for q_a, site_a in zip(charges, sites[0], strict=True):
        for q_b, site_b in zip(charges, sites[1], strict=True):
            energy = energy + COULOMB_EV_A * q_a * q_b / _length(site_b - site_a)
    return energy


def _waters(atoms: Atoms) -> Atoms:
    return atoms[[i for i, s in enumerate(atoms.get_chemical_symbols()) if s in ("O", "H")]]


def validity(
    atoms: Atoms, min_nonbonded_a: float = MIN_NONBONDED_A, oh_max_a: float = OH_MAX_A
) -> bool:
    """True when every O has exactly two H within ``oh_max_a``, every H exactly one such O, and no
    two atoms of different molecules (so defined) are closer than ``min_nonbonded_a`` (A).
    Substrate atoms are ignored."""
    water = _waters(atoms)
    symbols = np.array(water.get_chemical_symbols())
    if not len(water):
        return False
    i, j = neighbor_list("ij", water, oh_max_a)
    oh = (symbols[i] == "O") & (symbols[j] == "H")
    h_count = np.bincount(i[oh], minlength=len(water))[symbols == "O"]
    o_count = np.bincount(j[oh], minlength=len(water))[symbols == "H"]
    if not ((h_count == 2).all() and (o_count == 1).all()):
        return False
    molecule = np.arange(len(water))
    molecule[j[oh]] = i[oh]
    i, j = neighbor_list("ij", water, min_nonbonded_a)
    return bool((molecule[i] == molecule[j]).all())


def validity_fraction(
    structures: Sequence[Atoms], min_nonbonded_a: float = MIN_NONBONDED_A
) -> float:
    """Share of structures that pass :func:`validity`."""
    return float(np.mean([validity(a, min_nonbonded_a) for a in structures])) if structures else 0.0


def oo_distances(atoms: Atoms, r_max_a: float = RDF_MAX_A) -> np.ndarray:
    """All O-O pair distances below ``r_max_a`` (each pair once), A: the sample of the RDF."""
    o = atoms[[k for k, s in enumerate(atoms.get_chemical_symbols()) if s == "O"]]
    i, j, d = neighbor_list("ijd", o, r_max_a)
    return d[i < j]


def oo_nearest(atoms: Atoms) -> np.ndarray:
    """Nearest-neighbour O-O distance of every O, A (inf for an isolated O)."""
    o = atoms[[k for k, s in enumerate(atoms.get_chemical_symbols()) if s == "O"]]
    i, d = neighbor_list("id", o, 8.0)
    out = np.full(len(o), np.inf)
    np.minimum.at(out, i, d)
    return out


def w1(sample: np.ndarray, reference: np.ndarray) -> float:
    """Wasserstein-1 distance between two 1D samples (A for distances)."""
    sample, reference = np.asarray(sample), np.asarray(reference)
    sample, reference = sample[np.isfinite(sample)], reference[np.isfinite(reference)]
    if not len(sample) or not len(reference):
        return float("nan")
    return float(wasserstein_distance(sample, reference))


def hbond_stats(structures: Sequence[Atoms]) -> dict[str, float]:
    """H-bond statistics of waters (O,H,H first) over structures: ``hbonds_per_molecule`` (donated
    + accepted, 4 in bulk ice), ``donated_per_molecule``, ``ice_rule_fraction`` (molecules that
    donate 2 and accept 2). Geometric criterion of ``iceafm.structures.checks.hbond_counts``."""
    donated, accepted = [], []
    for atoms in structures:
        d, a = hbond_counts(atoms)
        donated.append(d)
        accepted.append(a)
    d, a = np.concatenate(donated), np.concatenate(accepted)
    return {
        "hbonds_per_molecule": float(np.mean(d + a)),
        "donated_per_molecule": float(np.mean(d)),
        "ice_rule_fraction": float(np.mean((d == 2) & (a == 2))),
    }


def _mic_toward(points: np.ndarray, targets: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Each point moved by a lattice vector (a, b) to the image nearest any target, A."""
    if not len(points) or not len(targets):
        return points
    delta = targets[None, :, :] - points[:, None, :]
    wrapped = mic_xy(delta, cell)
    nearest = (wrapped**2).sum(-1).argmin(axis=1)
    rows = np.arange(len(points))
    return points + (delta - wrapped)[rows, nearest]


def completion_counts(
    generated_o_a: np.ndarray,
    true_o_a: np.ndarray,
    z_top_a: float,
    cell: np.ndarray,
    bands_a: Sequence[tuple[float, float]],
    cutoff_a: float = 1.0,
) -> list[Counts]:
    """TP/FP/FN of generated vs true O (the free region only) per depth band.

    Optimal one-to-one matching within ``cutoff_a`` (``iceafm.metrics.detection.match_atoms``)
    after moving each generated O to its xy image nearest the true O. Depth = z_top - z; a TP or
    FN counts in the true atom's band, an FP in the generated atom's band; atoms outside every
    band are ignored.
    """
    gen = _mic_toward(
        np.asarray(generated_o_a, float).reshape(-1, 3),
        np.asarray(true_o_a, float).reshape(-1, 3),
        cell,
    )
    true = np.asarray(true_o_a, float).reshape(-1, 3)
    pi, ti = match_atoms(gen, true, cutoff_a)

    def band(z):
        depth = z_top_a - z
        out = np.full(len(z), -1)
        for k, (lo, hi) in enumerate(bands_a):
            out[(depth >= lo) & (depth < hi)] = k
        return out

    gb, tb = band(gen[:, 2]), band(true[:, 2])
    counts = [Counts() for _ in bands_a]
    matched_true = np.zeros(len(true), bool)
    matched_true[ti] = True
    matched_gen = np.zeros(len(gen), bool)
    matched_gen[pi] = True
    for k in range(len(bands_a)):
        counts[k].add(
            int((matched_true & (tb == k)).sum()),
            int((~matched_gen & (gb == k)).sum()),
            int((~matched_true & (tb == k)).sum()),
        )
    return counts


def free_oxygens(atoms: Atoms, fixed: np.ndarray) -> np.ndarray:
    """Positions of the O that are not held fixed, [k, 3], A."""
    symbols = np.array(atoms.get_chemical_symbols())
    return atoms.positions[(symbols == "O") & ~np.asarray(fixed, bool)]


def tip4p_ice_energy_per_molecule(atoms: Atoms, cutoff_a: float | None = None) -> float:
    """TIP4P/Ice intermolecular energy per water, eV (O-O Lennard-Jones, charges on H and the M
    site, molecule pairs with O-O minimum-image distance below ``cutoff_a``; plain truncation, no
    Ewald sum: compare structures of the same cell only). The M site sits d_OM along the H-O-H
    bisector of the actual geometry. Default cutoff: min(7 A, half the shorter of a, b)."""
    n = count_waters(atoms)
    if n < 2:
        return float("nan")
    pos = atoms.positions[: 3 * n].reshape(n, 3, 3)
    cell = np.asarray(atoms.cell)
    if cutoff_a is None:
        cutoff_a = min(7.0, 0.5 * min(np.linalg.norm(cell[0]), np.linalg.norm(cell[1])))
    waters = atoms[: 3 * n]
    o_only = waters[::3]
    i, j, shift = neighbor_list("ijS", o_only, cutoff_a)
    keep = i < j
    i, j, shift = i[keep], j[keep], shift[keep]
    offset = shift @ cell
    return float(tip4p_ice_pair_energy(pos[i], pos[j] + offset[:, None, :]).sum()) / n
