"""Per-bilayer order of an ice slab and the thickness of its quasi-liquid layer (QLL).

Order parameter: the tetrahedral order of each O among its (up to) four nearest O neighbours
within ``r_cut_a`` (Errington and Debenedetti, Nature 409, 318 (2001)), written as the mean over
neighbour pairs so that a surface molecule with three ice-like bonds also scores 1:

    q_i = 1 - (9/4) <(cos psi_jk + 1/3)^2>_{j<k}

(with four neighbours this is the usual 1 - 3/8 sum_{j<k} (cos psi_jk + 1/3)^2). Molecules with
fewer than three neighbours score 0. As in Lechner and Dellago (J. Chem. Phys. 129, 114707
(2008)) for q6, q_i is then averaged over the molecule and its neighbours, which narrows the
ice and liquid distributions. A molecule is liquid-like when that average is below
``Q_LIQUID``; the QLL thickness in bilayers is the number of liquid-like molecules divided by
the molecules per bilayer (the definition of Conde, Vega and Patrykiejew, J. Chem. Phys. 129,
014702 (2008), there with q6), counted over the molecules that the MD let move.

ASE's neighbour list (pbc as the slab's: periodic in x, y) gives the neighbours; freud and
pyscal3 would add a compiled dependency for a 4-neighbour order parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

R_CUT_A = 3.5
"""O-O first-shell cutoff, A (first minimum of g_OO in water and ice)."""
Q_LIQUID = 0.85
"""Averaged q below which a molecule is liquid-like (ice Ih at 250 K: 0.93-1; liquid TIP4P/Ice
at 300 K: about 0.6-0.8, both measured here, see tests/unit/test_md_order.py)."""
BILAYER_A = 3.677
"""Basal bilayer spacing of ice Ih, c/2 (GenIce3's ice1h_unit: c = 7.354 A)."""


@dataclass(frozen=True)
class OrderProfile:
    """Order per bilayer (0 = bottom); arrays of shape [n_bilayers]."""

    z_a: np.ndarray  # bilayer centre heights, A
    q_mean: np.ndarray  # mean averaged q of the molecules in the bilayer
    liquid_fraction: np.ndarray  # fraction of liquid-like molecules
    count: np.ndarray  # molecules in the bilayer
    qll_bilayers: float  # liquid-like molecules (moving ones) / molecules per bilayer


def tetrahedral_order(atoms: Atoms, r_cut_a: float = R_CUT_A) -> np.ndarray:
    """Tetrahedral order q_i of each water O (waters O,H,H first), shape [n_water]."""
    oxygens = atoms[[i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "O"]]
    n = len(oxygens)
    i_idx, d_vec = neighbor_list("iD", oxygens, r_cut_a)
    dist = np.linalg.norm(d_vec, axis=1)
    q = np.zeros(n)
    order = np.lexsort((dist, i_idx))
    i_idx, d_vec, dist = i_idx[order], d_vec[order], dist[order]
    starts = np.searchsorted(i_idx, np.arange(n + 1))
    for i in range(n):
        vec = d_vec[starts[i] : starts[i + 1]][:4]
        if len(vec) < 3:
            continue
        unit = vec / np.linalg.norm(vec, axis=1, keepdims=True)
        cos = unit @ unit.T
        j, k = np.triu_indices(len(unit), 1)
        q[i] = 1 - 9 / 4 * np.mean((cos[j, k] + 1 / 3) ** 2)
    return q


def averaged_order(atoms: Atoms, r_cut_a: float = R_CUT_A) -> np.ndarray:
    """q averaged over each molecule and its O neighbours within ``r_cut_a``, [n_water]."""
    q = tetrahedral_order(atoms, r_cut_a)
    oxygens = atoms[[i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "O"]]
    i_idx, j_idx = neighbor_list("ij", oxygens, r_cut_a)
    total = q.copy()
    np.add.at(total, i_idx, q[j_idx])
    count = 1 + np.bincount(i_idx, minlength=len(q))
    return total / count


def bilayer_index(atoms: Atoms, n_layers: int | None = None) -> tuple[np.ndarray, float]:
    """Basal bilayer of each water O (0 = bottom), [n_water], and the bottom bilayer's mid
    height z0 (A). Bilayer k spans [z0 + (k - 1/2) c/2, z0 + (k + 1/2) c/2); with ``n_layers``,
    molecules above the top bilayer count in it."""
    z = atoms.positions[[i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "O"], 2]
    z0 = float(z.min()) + 0.46  # bilayer half-height: its two sublayers are 0.92 A apart
    layer = np.floor((z - z0) / BILAYER_A + 0.5).astype(int).clip(0, None)
    if n_layers is not None:
        layer = layer.clip(0, n_layers - 1)
    return layer, z0


def calibrated_cut(q_bulk: np.ndarray, false_liquid_rate: float = 0.01) -> float:
    """Liquid cut on averaged q from bulk ice at the same temperature: the ``false_liquid_rate``
    quantile of ``q_bulk`` (averaged q of molecules known to be ice, e.g. a slab's inner
    bilayers over many frames), so that this fraction of bulk ice is called liquid."""
    return float(np.quantile(np.asarray(q_bulk, float), false_liquid_rate))


def site_distance(atoms: Atoms, sites: np.ndarray) -> np.ndarray:
    """Distance (A) of each water O to the nearest of ``sites`` [n_sites, 3] (A; e.g. the ideal
    lattice's O sites), periodic in x and y by the cell: [n_water]. A cross-check of the order
    parameter that does not depend on a molecule's coordination: ice keeps its molecules on
    lattice sites (thermal r.m.s. ~0.3 A), a liquid does not."""
    from scipy.spatial import cKDTree

    oxygens = atoms.positions[[i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "O"]]
    sites = np.asarray(sites, float)
    lateral = atoms.cell.lengths()[:2]
    bottom = min(sites[:, 2].min(), oxygens[:, 2].min()) - 1.0  # cKDTree wants z in [0, box)
    tree = cKDTree(np.c_[sites[:, :2] % lateral, sites[:, 2] - bottom],
                   boxsize=[lateral[0], lateral[1], 1e9])  # fmt: skip
    return tree.query(np.c_[oxygens[:, :2] % lateral, oxygens[:, 2] - bottom])[0]


def order_profile(
    atoms: Atoms,
    moving: np.ndarray | None = None,
    per_bilayer: int | None = None,
    r_cut_a: float = R_CUT_A,
    n_layers: int | None = None,
    q_cut: float = Q_LIQUID,
) -> OrderProfile:
    """Order per basal bilayer (slabs by height from the lowest O) and the QLL thickness.

    Args:
        atoms: waters O,H,H first (a substrate after them is ignored), basal slab along z.
        moving: boolean mask [n_water] of the molecules the MD moved (default: all); the
            fixed base is bulk-like by construction and not counted in ``qll_bilayers``.
        per_bilayer: molecules per bilayer (default: the most populated bilayer's count).
        r_cut_a: O-O neighbour cutoff, A.
        n_layers: number of bilayers (molecules above the top one count in it), so profiles
            of frames where a molecule left the surface have the same length; default: as found.
        q_cut: averaged q below which a molecule is liquid-like (e.g. a :func:`calibrated_cut`).
    """
    q = averaged_order(atoms, r_cut_a)
    moving = np.ones(len(q), bool) if moving is None else np.asarray(moving, bool)
    layer, z0 = bilayer_index(atoms, n_layers)
    n_layers = int(layer.max()) + 1 if n_layers is None else n_layers
    count = np.bincount(layer, minlength=n_layers)
    liquid = q < q_cut
    with np.errstate(invalid="ignore"):
        q_mean = np.bincount(layer, weights=q, minlength=n_layers) / count
        fraction = np.bincount(layer, weights=liquid, minlength=n_layers) / count
    per_bilayer = int(per_bilayer or count.max())
    return OrderProfile(
        z_a=z0 + BILAYER_A * np.arange(n_layers),
        q_mean=q_mean,
        liquid_fraction=fraction,
        count=count,
        qll_bilayers=float((liquid & moving).sum() / per_bilayer),
    )


def block_average(values: np.ndarray, n_blocks: int = 5) -> tuple[float, float]:
    """Mean of a time series [n_frames] and its standard error from ``n_blocks`` contiguous
    block means (blocks longer than the correlation time are nearly independent; Flyvbjerg and
    Petersen, J. Chem. Phys. 91, 461 (1989)). Frames past the last whole block are dropped from
    the error, not from the mean."""
    values = np.asarray(values, float)
    if n_blocks < 2 or len(values) < n_blocks:
        raise ValueError(f"block_average: {len(values)} values, n_blocks = {n_blocks}: "
                         "expected n_blocks >= 2 and at least one value per block")
    size = len(values) // n_blocks
    means = values[: size * n_blocks].reshape(n_blocks, size).mean(axis=1)
    return float(values.mean()), float(means.std(ddof=1) / np.sqrt(n_blocks))
