"""Deterministic end-of-sampling projection of generated slabs onto rigid TIP4P/Ice waters.

Part of the sampler as a documented method (no network evaluation): the raw sampler output is
reported as well (``validity_raw`` in the benchmark). Three steps, waters only (substrate atoms
and fixed molecules stay where they are; fixed molecules still interact):

1. ``assign_hydrogens``: the generated H are re-assigned to the generated O by optimal matching
   (Hungarian, minimum-image distance squared), so that each O gets exactly two H; the model's
   own O-H bookkeeping is not trusted.
2. ``rigid_fit``: each O + its two H is replaced by the rigid TIP4P/Ice geometry (O-H 0.9572 A,
   H-O-H 104.52 deg) fitted by a mass-weighted Kabsch superposition (O 16, H 1).
3. ``relax``: rigid-body minimisation (L-BFGS over O translations and rotation vectors): first a
   harmonic removal of overlaps (O-O < 2.5 A, O-H and H-H < 1.6 A between molecules), then
   ``relax_steps`` iterations of TIP4P/Ice (O-O Lennard-Jones, charges on H and the M site, molecule
   pairs within 6 A with periodic images in x and y, cubic switch 5-6 A); in both stages each free
   O is held near the network's O by a harmonic restraint, so the network decides where the
   molecules are and the projection fixes their geometry, orientation and contacts.
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from scipy.optimize import linear_sum_assignment

from iceafm.diffusion.graph import mic_xy
from iceafm.diffusion.metrics import tip4p_ice_pair_energy
from iceafm.structures.checks import count_waters
from iceafm.structures.water import hydrogens_along

PROJECTIONS = ("none", "rigid", "relax")
RELAX_CUTOFF_A = 6.0
SWITCH_START_A = 5.0
RESTRAINT_EV_A2 = 1.0
"""Harmonic restraint of each free O to the network's position during relaxation, eV/A^2."""
OVERLAP_A = {"OO": 2.5, "OH": 1.6, "HH": 1.6}
"""Overlap-removal stage: minimum intermolecular distances by element pair, A."""


def water_body() -> np.ndarray:
    """Rigid TIP4P/Ice water in its body frame: rows O, H1, H2, shape [3, 3], A (O at 0,
    bisector along z, H-O-H plane x-z)."""
    origin = np.zeros(3)
    return np.vstack([origin, hydrogens_along(origin, np.array([1.0, 0.0, 1.0]),
                                              np.array([-1.0, 0.0, 1.0]))])  # fmt: skip


def assign_hydrogens(o_a: np.ndarray, h_a: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Two H per O by optimal matching of minimum-image squared distances.

    Args:
        o_a: [m, 3], A. h_a: [2 m, 3], A. cell: [3, 3], A.

    Returns:
        [m, 2] indices into ``h_a``; every H used once.
    """
    if len(h_a) != 2 * len(o_a):
        raise ValueError(f"{len(h_a)} H for {len(o_a)} O: expected two H per O")
    d = mic_xy(h_a[None, :, :] - o_a[:, None, :], cell)
    cost = np.repeat((d**2).sum(-1), 2, axis=0)  # row 2k, 2k+1: O k
    rows, cols = linear_sum_assignment(cost)
    out = np.empty(2 * len(o_a), int)
    out[rows] = cols
    return out.reshape(-1, 2)


def rigid_fit(o_a: np.ndarray, h1_a: np.ndarray, h2_a: np.ndarray) -> np.ndarray:
    """Rigid TIP4P/Ice waters superposed on (O, H1, H2) by mass-weighted Kabsch.

    Args:
        o_a, h1_a, h2_a: [m, 3], A (H already at their minimum image next to their O).

    Returns:
        [m, 3, 3] positions O, H1, H2, A.
    """
    target = np.stack([o_a, h1_a, h2_a], axis=1)
    weights = np.array([16.0, 1.0, 1.0])[None, :, None]
    body = water_body()
    body_c = body - (weights[0] * body).sum(0) / weights.sum()
    centre = (weights * target).sum(1) / weights.sum()
    out = np.empty_like(target)
    for k in range(len(target)):
        t = target[k] - centre[k]
        cov = (weights[0] * body_c).T @ t
        u, _, vt = np.linalg.svd(cov)
        sign = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
        rot = vt.T @ np.diag([1.0, 1.0, sign]) @ u.T
        out[k] = body_c @ rot.T + centre[k]
    return out


def _pairs(o_a: np.ndarray, cell: np.ndarray, cutoff_a: float):
    """Molecule pairs (i < j, or i == j with a non-zero image) with O-O < cutoff, all images."""
    from iceafm.diffusion.graph import neighbour_list

    i, j, shift = neighbour_list(o_a, cell, cutoff_a)
    keep = (i < j) | ((i == j) & (np.abs(shift).sum(1) > 0) & (shift[:, 0] * 3 + shift[:, 1] > 0))
    return i[keep], j[keep], shift[keep]


def _rotation(w: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [m, 3, 3] from rotation vectors [m, 3] (matrix exponential)."""
    zero = torch.zeros_like(w[:, 0])
    skew = torch.stack(
        [
            torch.stack([zero, -w[:, 2], w[:, 1]], -1),
            torch.stack([w[:, 2], zero, -w[:, 0]], -1),
            torch.stack([-w[:, 1], w[:, 0], zero], -1),
        ],
        dim=1,
    )
    return torch.linalg.matrix_exp(skew)


def _switch(r: torch.Tensor) -> torch.Tensor:
    x = ((r - SWITCH_START_A) / (RELAX_CUTOFF_A - SWITCH_START_A)).clamp(0, 1)
    return 1 - x**2 * (3 - 2 * x)


def _energy(mol: torch.Tensor, pairs, cell: torch.Tensor, stage: str) -> torch.Tensor:
    """Energy of molecules [m, 3, 3] (O, H1, H2), eV (TIP4P/Ice) or A^2 (overlap stage)."""
    i, j, shift = pairs
    offset = shift.to(mol) @ cell
    a, b = mol[i], mol[j] + offset[:, None, :]
    if stage == "overlap":
        r = torch.linalg.norm(a[:, :, None, :] - b[:, None, :, :], dim=-1)
        limit = torch.full((3, 3), OVERLAP_A["HH"], dtype=mol.dtype)
        limit[0, :] = limit[:, 0] = OVERLAP_A["OH"]
        limit[0, 0] = OVERLAP_A["OO"]
        return ((limit - r).clamp_min(0) ** 2).sum()
    r_oo = torch.linalg.norm(b[:, 0] - a[:, 0], dim=-1)
    return (_switch(r_oo) * tip4p_ice_pair_energy(a, b)).sum()


def relax(
    molecules_a: np.ndarray,
    free: np.ndarray,
    cell: np.ndarray,
    relax_steps: int,
    restraint_ev_a2: float = RESTRAINT_EV_A2,
) -> np.ndarray:
    """Rigid-body minimisation of waters: overlap removal, then ``relax_steps`` L-BFGS iterations
    of TIP4P/Ice energy (0: overlap removal only); each free O is tied to its starting position
    (the network's) by a harmonic restraint in both stages.

    Args:
        molecules_a: [m, 3, 3] rigid waters O, H1, H2, A. free: [m] bool, molecules that move.
        cell: [3, 3], A (a, b periodic in xy, z open).
        restraint_ev_a2: restraint constant k in k |dr_O|^2, eV/A^2 (TIP4P stage) and 1/A^2
            times the overlap penalty's unit (A^2) in the overlap stage.

    Returns:
        [m, 3, 3] relaxed positions, A (rigid geometry kept).
    """
    if not free.any() or len(molecules_a) < 2:
        return molecules_a.copy()
    dtype = torch.float64
    base = torch.tensor(molecules_a, dtype=dtype)
    cell_t = torch.tensor(np.asarray(cell), dtype=dtype)
    free_t = torch.tensor(free)
    arms = base[free_t] - base[free_t][:, :1]
    shift = torch.zeros(int(free.sum()), 3, dtype=dtype, requires_grad=True)
    rotvec = torch.zeros(int(free.sum()), 3, dtype=dtype, requires_grad=True)

    def positions():
        moved = base[free_t][:, :1] + shift[:, None, :] + arms @ _rotation(rotvec).transpose(1, 2)
        out = base.clone()
        out[free_t] = moved
        return out

    anchor = base[free_t][:, 0]

    def restraint(pos):
        return restraint_ev_a2 * ((pos[free_t][:, 0] - anchor) ** 2).sum()

    for stage, iterations in (("overlap", 100), ("tip4p_ice", relax_steps)):
        for _ in range(0, iterations, 25):
            with torch.no_grad():
                pairs = tuple(
                    torch.tensor(p)
                    for p in _pairs(positions()[:, 0].numpy(), cell, RELAX_CUTOFF_A + 1.0)
                )
            if not len(pairs[0]):
                break
            optimiser = torch.optim.LBFGS(
                [shift, rotvec],
                max_iter=min(25, iterations),
                line_search_fn="strong_wolfe",
                tolerance_grad=1e-6,
            )

            def closure(pairs=pairs, stage=stage, optimiser=optimiser):
                optimiser.zero_grad()
                pos = positions()
                energy = _energy(pos, pairs, cell_t, stage) + restraint(pos)
                energy.backward()
                return energy

            optimiser.step(closure)
    return positions().detach().numpy()


def project_waters(
    atoms: Atoms,
    fixed: np.ndarray,
    method: str = "relax",
    relax_steps: int = 50,
    restraint_ev_a2: float = RESTRAINT_EV_A2,
) -> Atoms:
    """The projection of one generated slab (waters O,H,H first; substrate after, untouched).

    Args:
        atoms: generated slab. fixed: [n] bool, atoms held fixed (whole molecules).
        method: ``none`` (a copy), ``rigid`` (steps 1-2), ``relax`` (steps 1-3).
        relax_steps: TIP4P/Ice L-BFGS iterations in ``relax``.
        restraint_ev_a2: harmonic restraint of the free O in ``relax``, eV/A^2 (0: none).

    Returns:
        A new Atoms, same composition and order convention (free waters re-ordered O,H,H by the
        assignment), ``info['projection']`` set.
    """
    if method not in PROJECTIONS:
        raise ValueError(f"diffusion.sample.projection = {method!r}, expected one of {PROJECTIONS}")
    out = atoms.copy()
    out.info["projection"] = method
    n = count_waters(atoms)
    if method == "none" or n == 0:
        return out
    cell = np.asarray(atoms.cell)
    water = atoms.positions[: 3 * n].reshape(n, 3, 3)
    free = ~np.asarray(fixed, bool)[: 3 * n : 3]
    o = water[free, 0]
    h = water[free, 1:].reshape(-1, 3)
    pick = assign_hydrogens(o, h, cell)
    h1 = o + mic_xy(h[pick[:, 0]] - o, cell)
    h2 = o + mic_xy(h[pick[:, 1]] - o, cell)
    molecules = water.copy()
    molecules[free] = rigid_fit(o, h1, h2)
    if method == "relax":
        molecules = relax(molecules, free, cell, relax_steps, restraint_ev_a2)
    out.positions[: 3 * n] = molecules.reshape(-1, 3)
    return out
