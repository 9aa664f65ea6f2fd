"""Completion baseline: the perfect ice Ih lattice continued below the top layer (AmorAFM's
fallback for the deep part of its generated slabs).

The ideal O lattice is GenIce3's ice1h_unit (orthorhombic ice Ih, c along z; proton order does
not move O sites), repeated to the slab's cell; it is translated to best fit the fixed top-layer
O (the offset that puts most of them within 0.8 A of a site, refined by their mean residual) and
its sites between the top layer and the completion depth are the prediction. O only: the lattice
says nothing about the H.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from iceafm.structures.ice_basal import ice_ih_bulk

ICE1H_UNIT_A = (9.037, 7.823, 7.354)
"""ice1h_unit cell lengths a, b, c at 0.92 g/cm^3, A (iceafm.structures.ice_basal)."""
FIT_RADIUS_A = 0.8


def _periodic_residual(delta: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return delta - np.round(delta / lengths) * lengths


def ice_lattice_completion(
    top_o_a: np.ndarray, cell: np.ndarray, z_top_a: float, top_a: float, depth_a: float
) -> np.ndarray:
    """Ideal ice Ih O sites between ``top_a`` and ``depth_a`` below ``z_top_a``, fitted to the top
    layer's O, [k, 3], A (the O of :func:`ice_lattice_waters`)."""
    return ice_lattice_waters(top_o_a, cell, z_top_a, top_a, depth_a)[:, 0]


def ice_lattice_waters(
    top_o_a: np.ndarray, cell: np.ndarray, z_top_a: float, top_a: float, depth_a: float
) -> np.ndarray:
    """Whole waters of the fitted ideal ice Ih lattice (GenIce3's proton-disordered ice1h_unit,
    rigid TIP4P geometry) whose O lies between ``top_a`` and ``depth_a`` below ``z_top_a``,
    [k, 3, 3] (O, H1, H2), A. The H follow one fixed proton arrangement (seed 0): a prior for
    the H, not a prediction.

    Args:
        top_o_a: the fixed top-layer O, [m, 3], A.
        cell: the slab cell (orthorhombic, a along x, b along y), A.
        z_top_a: z of the topmost O, A.
        top_a, depth_a: depth range to fill, A below z_top.

    Raises:
        ValueError: a cell that is not an ice1h_unit supercell in x and y.
    """
    lengths_xy = np.array([cell[0][0], cell[1][1]])
    reps = np.round(lengths_xy / ICE1H_UNIT_A[:2]).astype(int)
    if (reps < 1).any() or np.abs(lengths_xy - reps * ICE1H_UNIT_A[:2]).max() > 0.05 * min(
        ICE1H_UNIT_A[:2]
    ):
        raise ValueError(
            f"cell a, b = {lengths_xy.round(3).tolist()} A: expected an ice1h_unit supercell"
        )
    bulk = ice_ih_bulk((int(reps[0]), int(reps[1])), 1, genice_seed=0)
    molecules = bulk.positions.reshape(-1, 3, 3)
    sites = molecules[:, 0]
    period = np.diag(np.asarray(bulk.cell))
    period = np.array([lengths_xy[0], lengths_xy[1], period[2]])  # the slab's own a, b
    top = np.asarray(top_o_a, float).reshape(-1, 3)
    best, best_score = np.zeros(3), (-1, 0.0)
    for k in range(len(top)):
        for m in range(len(sites)):
            shift = top[k] - sites[m]
            res = _periodic_residual(top[:, None, :] - (sites[None] + shift), period)
            dist = np.linalg.norm(res, axis=-1).min(axis=1)
            score = (int((dist < FIT_RADIUS_A).sum()), -float(dist[dist < FIT_RADIUS_A].sum()))
            if score > best_score:
                best, best_score = shift, score
    res = _periodic_residual(top[:, None, :] - (sites[None] + best), period)
    nearest = np.linalg.norm(res, axis=-1).argmin(axis=1)
    close = np.linalg.norm(res[np.arange(len(top)), nearest], axis=-1) < FIT_RADIUS_A
    if close.any():
        best = best + res[np.arange(len(top)), nearest][close].mean(axis=0)
    z_lo, z_hi = z_top_a - depth_a, z_top_a - top_a
    base = sites + best
    n_lo = int(np.floor((z_lo - base[:, 2].max()) / period[2])) - 1
    n_hi = int(np.ceil((z_hi - base[:, 2].min()) / period[2])) + 1
    whole = molecules + best
    tiled = np.concatenate([whole + [0, 0, n * period[2]] for n in range(n_lo, n_hi + 1)])
    depth = z_top_a - tiled[:, 0, 2]
    return tiled[(depth >= top_a) & (depth <= depth_a)]


def lattice_for(problem: tuple[Atoms, np.ndarray], top_a: float, depth_a: float) -> np.ndarray:
    """The baseline's O for a completion problem (slab, fixed mask), [k, 3], A."""
    atoms, fixed = problem
    symbols = np.array(atoms.get_chemical_symbols())
    o = symbols == "O"
    z_top = atoms.positions[o, 2].max()
    return ice_lattice_completion(
        atoms.positions[o & fixed], np.asarray(atoms.cell), z_top, top_a, depth_a
    )
