"""Finite water clusters and ice-bilayer flakes on Cu(111) or Au(111): rings, chains, patches.

A cluster is cut from the periodic bilayer of :mod:`iceafm.structures.bilayer_metal` (same
registry and strain, lower O atop metal atoms at ``height_a``, H-up or H-down proton
arrangement): a connected set of molecules of the honeycomb grown from the molecule nearest the
cell centre. Every molecule keeps both H of the bilayer, so those that donated to a removed
neighbour now carry a free OH at the edge (as flake edges do), and nothing can overlap. Sites
are confined to a box ``min_image_gap_a`` smaller than the cell, so the cluster stays clear of
its periodic images.

Shapes (real STM/AFM images of water on Cu(111) and Au(111) show all three):

- ``ring``: one hexagon of the honeycomb (6 molecules), the cyclic hexamer.
- ``chain``: a seeded self-avoiding walk on the honeycomb graph, n molecules (zig-zag chains).
- ``patch``: Eden growth from a hexagon to n molecules: a bilayer flake with rough edges.

n is drawn uniformly from ``molecules`` = [min, max] (4 .. 40); a chain or patch that the box
confines to fewer sites keeps what fits (a chain: the longest of a few walks), at least min.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from iceafm.structures.bilayer_metal import D_OO_A, generate_bilayer_metal
from iceafm.structures.errors import StructureError

SHAPES = ("ring", "chain", "patch")
LITERATURE_HEIGHT_A = {"Cu": 2.3, "Au": 3.0}
"""Default O height above the top metal plane, A: water monomer/bilayer adsorption heights from
DFT, about 2.2-2.5 A on Cu(111) and 2.9-3.1 A on Au(111) (A. Michaelides et al., Phys. Rev.
Lett. 90, 216102 (2003); A. Michaelides, Appl. Phys. A 85, 415 (2006))."""
CHAIN_TRIES = 20


def _neighbours(rel: np.ndarray) -> list[np.ndarray]:
    """H-bonded neighbours (O-O within D_OO_A + 0.1 A) of each site, positions ``rel`` [n, 3]."""
    dist = np.linalg.norm(rel[:, None] - rel[None], axis=-1)
    return [np.flatnonzero((row > 0.1) & (row < D_OO_A + 0.1)) for row in dist]


def _ring(seed: int, rel: np.ndarray, nbrs: list[np.ndarray], allowed: np.ndarray) -> list[int]:
    """A hexagon through ``seed`` whose six sites are all allowed (centre = n1 + n2 - seed)."""
    for a in nbrs[seed]:
        for b in nbrs[seed]:
            if a >= b:
                continue
            centre = rel[a, :2] + rel[b, :2] - rel[seed, :2]
            radius = np.linalg.norm(rel[seed, :2] - centre)
            off = np.abs(np.linalg.norm(rel[:, :2] - centre, axis=1) - radius)
            ring = np.flatnonzero(off < 0.05)
            if len(ring) == 6 and allowed[ring].all():
                return ring.tolist()
    raise StructureError("cluster_metal: no whole hexagon fits: enlarge surface_size")


def _chain(seed, n, nbrs, allowed, rng) -> list[int]:
    """Longest of a few self-avoiding walks from ``seed`` (at most ``n`` sites)."""
    best: list[int] = []
    for _ in range(CHAIN_TRIES):
        walk = [seed]
        while len(walk) < n:
            free = [j for j in nbrs[walk[-1]] if allowed[j] and j not in walk]
            if not free:
                break
            walk.append(int(free[rng.integers(len(free))]))
        if len(walk) > len(best):
            best = walk
        if len(best) == n:
            break
    return best


def _patch(ring: list[int], n: int, nbrs, allowed, rng) -> list[int]:
    """Eden growth: add a uniformly drawn allowed neighbour of the cluster until ``n`` sites."""
    cluster = list(ring)
    while len(cluster) < n:
        frontier = sorted({int(j) for i in cluster for j in nbrs[i] if allowed[j]} - set(cluster))
        if not frontier:
            break
        cluster.append(frontier[rng.integers(len(frontier))])
    return cluster


def generate_cluster_metal(params: dict, rng: np.random.Generator) -> Atoms:
    """Finite water cluster on a metal (111) slab for the ``cluster_metal`` family.

    Args:
        params: ``metal`` ("Cu" | "Au" | "random": drawn per sample), ``surface_size``,
            ``vacuum_a``, ``orientation`` as for ``bilayer_metal``; ``height_a`` (A, or None:
            :data:`LITERATURE_HEIGHT_A`); ``shapes`` (subset of :data:`SHAPES`, one drawn per
            sample); ``molecules`` ([min, max] for chains and patches); ``min_image_gap_a`` (A).
        rng: the sample's generator (shape, size, proton arrangement, growth).

    Returns:
        Atoms: waters O,H,H first, metal last; the metal slab's cell, pbc (True, True, False);
        info as bilayer_metal plus shape and n_cluster.
    """
    metal = str(params["metal"])
    if metal == "random":
        metal = ("Cu", "Au")[int(rng.integers(2))]
    shapes = list(params["shapes"])
    low, high = (int(v) for v in params["molecules"])
    if not shapes or any(s not in SHAPES for s in shapes):
        raise StructureError(f"cluster_metal: shapes = {shapes}, expected a subset of {SHAPES}")
    if not 1 <= low <= high:
        raise StructureError(f"cluster_metal: molecules = {[low, high]}, expected 1 <= min <= max")
    shape = shapes[int(rng.integers(len(shapes)))]
    n = 6 if shape == "ring" else int(rng.integers(low, high + 1))
    height = params.get("height_a")
    bilayer = generate_bilayer_metal(
        {
            "metal": metal,
            "surface_size": params["surface_size"],
            "height_a": LITERATURE_HEIGHT_A.get(metal, 2.6) if height is None else height,
            "vacuum_a": params["vacuum_a"],
            "orientation": params["orientation"],
        },
        rng,
    )
    n_water = len(bilayer) - bilayer.info["n_metal"]
    water, slab = bilayer[: 3 * (n_water // 3)], bilayer[3 * (n_water // 3) :]
    n_mol = len(water) // 3
    cell_xy = np.array([bilayer.cell[0, 0], bilayer.cell[1, 1]])
    o_pos = water.positions[::3]
    centre = np.array([*(cell_xy / 2), 0.0])
    seed = int(np.argmin(np.linalg.norm((o_pos - centre)[:, :2], axis=1)))
    rel = o_pos - o_pos[seed]
    rel[:, :2] -= np.round(rel[:, :2] / cell_xy) * cell_xy  # minimum image from the seed
    half_box = cell_xy / 2 - float(params["min_image_gap_a"]) / 2
    allowed = (np.abs(rel[:, :2]) <= half_box).all(axis=1)
    nbrs = _neighbours(rel)
    if shape == "chain":
        members = _chain(seed, n, nbrs, allowed, rng)
    else:
        ring = _ring(seed, rel, nbrs, allowed)
        members = ring if shape == "ring" else _patch(ring, n, nbrs, allowed, rng)
    if len(members) < min(n, low):
        raise StructureError(
            f"cluster_metal: only {len(members)} molecules fit a {shape} of {n} in "
            f"surface_size = {list(params['surface_size'])} with min_image_gap_a = "
            f"{params['min_image_gap_a']}: enlarge surface_size"
        )
    positions = []
    for m in members:
        shift = o_pos[seed] + rel[m] - o_pos[m]  # unwrap next to the seed
        positions.append(water.positions[3 * m : 3 * m + 3] + shift)
    cluster = Atoms("OH2" * len(members), positions=np.concatenate(positions))
    atoms = cluster + slab
    atoms.cell = bilayer.cell
    atoms.pbc = bilayer.pbc
    atoms.info.update(bilayer.info)
    atoms.info.update(shape=shape, n_cluster=len(members), n_bilayer_sites=n_mol)
    return atoms
