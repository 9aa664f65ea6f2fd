"""Label-free evaluation of structure predictions on real AFM images (no ground truth).

1. Distribution distances (:func:`local_properties`, :func:`distribution_distances`): local-
   structure properties of predicted atoms against reference distributions from simulated
   structures. Each property is min-max scaled on a fixed range (:data:`RANGES`, Huang et al.
   arXiv 2509.02240's convention: O-O on 0-3.5 A), values outside the range are dropped, then
   compared by the energy distance in Huang et al.'s convention (:func:`energy_distance`:
   2 E|X-Y| - E|X-X'| - E|Y-Y'|, the square of what ``scipy.stats.energy_distance`` returns)
   and the Wasserstein-1 distance (``scipy.stats.wasserstein_distance``). The joint
   distributions of :data:`JOINT` (Huang et al.'s H-bond: the donor-acceptor O...O distance and
   the O-H...O angle of each bond) are compared by the energy distance in 2D.
2. Domain gap (:func:`frechet_distance`): the Frechet distance between Gaussians fitted to two
   feature sets (FID-style, features from a network trained here); the domain classifier is in
   :mod:`iceafm.adapt.domain`.
3. Re-simulation consistency (:func:`resim_pearson`): per-slice Pearson correlation of a stack
   simulated from the prediction and the real stack, after the lateral shift that maximises
   their cross-correlation (:func:`align_shift`).

Property definitions (atoms: O and H, positions in A, non-periodic unless tiled by
:func:`periodic_tiles`, z up): ``d_oo`` each O's nearest-O distance; ``d_oh`` each H's nearest-O
distance (the covalent bond); ``hoh_angle`` the angle (deg) between the two nearest H of each O
that has two within 1.3 A; ``oh_angle_z`` the angle (deg) of each covalent O->H vector to +z (0 =
pointing up, towards the tip); ``hbond_length`` the H...O acceptor distance, ``hbond_oo`` the
donor-acceptor O...O distance and ``hbond_angle`` the O-H...O angle (deg) of every hydrogen bond
(geometric criterion: donor-acceptor O-O < 3.5 A, H...O < 2.6 A, angle H-O_d...O_a < 30 deg; Luzar
and Chandler); ``ring_size`` the sizes of the rings of the O-O network (O within 3.3 A bonded;
King's shortest-path rings, sizes 3-10).
"""

from __future__ import annotations

from itertools import islice

import numpy as np
from scipy import linalg, stats
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

#: (lo, hi) of each property for min-max scaling: A for distances, deg for angles.
RANGES: dict[str, tuple[float, float]] = {
    "d_oo": (0.0, 3.5),
    "d_oh": (0.8, 1.3),
    "hoh_angle": (60.0, 180.0),
    "oh_angle_z": (0.0, 180.0),
    "hbond_length": (1.2, 2.6),
    "hbond_oo": (0.0, 3.5),
    "hbond_angle": (120.0, 180.0),
    "ring_size": (3.0, 10.0),
}
#: Joint properties compared in 2D: name -> the two properties of :data:`RANGES` it pairs.
JOINT: dict[str, tuple[str, str]] = {"hbond": ("hbond_oo", "hbond_angle")}
#: Closest approach of two water O (A): the onset of the O-O radial distribution function of ice
#: and liquid water (first peak 2.75-2.8 A); the shipped detector's O NMS radius.
WATER_OO_MIN_A = 2.4
#: Covalent O-H cutoff (A), O-O network bond (A), hydrogen-bond criteria (A, A, deg).
OH_BOND_A, OO_BOND_A = 1.3, 3.3
HB_OO_A, HB_HO_A, HB_ANGLE_DEG = 3.5, 2.6, 30.0
#: Smallest rings taken per O-O edge (a bound on the cost in a dense, degenerate prediction).
MAX_RINGS_PER_EDGE = 4


def angle_deg(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Angle (degrees) between vectors ``u`` and ``v`` [..., 3] (broadcast over leading axes)."""
    cos = np.sum(u * v, axis=-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _rings(o_xyz: np.ndarray, max_edges: int = 500) -> list[frozenset[int]]:
    """Members (indices into ``o_xyz``; 3-10 of them) of the shortest rings of the O-O network
    (edges < OO_BOND_A): for each edge, every shortest path between its ends without it closes
    a smallest ring through it (King's shortest-path rings; all of them, up to
    MAX_RINGS_PER_EDGE, as an edge of a perfect honeycomb borders two hexagons), each ring
    counted once. A network of more than ``max_edges`` edges (a dense prediction) is sampled
    at ``max_edges`` evenly spaced edges, so the cost stays bounded where a minimum cycle basis
    grows as E^2 N."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(range(len(o_xyz)))
    if len(o_xyz) > 1:
        graph.add_edges_from(cKDTree(o_xyz).query_pairs(OO_BOND_A))
    edges = sorted(graph.edges)
    if len(edges) > max_edges:
        edges = [edges[i] for i in np.linspace(0, len(edges) - 1, max_edges).astype(int)]
    rings: set[frozenset[int]] = set()
    for u, v in edges:
        graph.remove_edge(u, v)
        try:
            paths = list(islice(nx.all_shortest_paths(graph, u, v), MAX_RINGS_PER_EDGE))
        except nx.NetworkXNoPath:
            paths = []
        graph.add_edge(u, v)
        rings.update(frozenset(path) for path in paths if 3 <= len(path) <= 10)
    return list(rings)


def local_properties(
    symbols: list[str], positions_a: np.ndarray, original: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Every property of :data:`RANGES` (unscaled; see the module docstring) of one structure:
    ``symbols`` [n] ('O'/'H', others ignored), ``positions_a`` [n, 3] (A).

    ``original`` [n] int (default: each atom itself): the atom each one is a periodic image of
    (:func:`periodic_tiles`); only the atoms that are their own original count, the images are
    neighbours only. Per-O values (d_OO, H-O-H) come from those O, per-H values (d_OH, O-H to z,
    the H-bonds it donates) from those H, and a ring counts where its member of the lowest
    original index is one, so each ring of a periodic network counts once."""
    xyz = np.asarray(positions_a, dtype=np.float64).reshape(-1, 3)
    sym = np.asarray(symbols)
    index = np.arange(len(sym))
    origin = index if original is None else np.asarray(original)
    counted = origin == index
    o, h = xyz[sym == "O"], xyz[sym == "H"]
    o_central, h_central = counted[sym == "O"], counted[sym == "H"]
    o_origin = origin[sym == "O"]
    out = {key: np.zeros(0) for key in RANGES}
    tree = cKDTree(o) if len(o) else None
    if len(o) >= 2:
        d, _ = tree.query(o, k=2)
        out["d_oo"] = d[o_central, 1]
        rings = [r for r in _rings(o) if o_central[min(r, key=lambda i: o_origin[i])]]
        out["ring_size"] = np.asarray([len(r) for r in rings], dtype=np.float64)
    if len(o) and len(h):
        d, owner = tree.query(h)
        out["d_oh"] = d[h_central]
        bonded = d < OH_BOND_A
        vec = h - o[owner]
        out["oh_angle_z"] = angle_deg(vec[bonded & h_central], np.array([0.0, 0.0, 1.0]))
        hoh = []
        for i in np.unique(owner[bonded]):
            if not o_central[i]:
                continue
            mine = np.flatnonzero(bonded & (owner == i))
            if len(mine) >= 2:
                two = mine[np.argsort(d[mine])[:2]]
                hoh.append(angle_deg(vec[two[0]], vec[two[1]]))
        out["hoh_angle"] = np.asarray(hoh, dtype=np.float64)
        lengths, oo, angles = [], [], []
        for j in np.flatnonzero(bonded & h_central):
            donor = owner[j]
            for a in tree.query_ball_point(h[j], HB_HO_A):
                if a == donor or np.linalg.norm(o[a] - o[donor]) >= HB_OO_A:
                    continue
                if angle_deg(vec[j], o[a] - o[donor]) < HB_ANGLE_DEG:
                    lengths.append(np.linalg.norm(o[a] - h[j]))
                    oo.append(np.linalg.norm(o[a] - o[donor]))
                    angles.append(angle_deg(o[donor] - h[j], o[a] - h[j]))
        out["hbond_length"] = np.asarray(lengths, dtype=np.float64)
        out["hbond_oo"] = np.asarray(oo, dtype=np.float64)
        out["hbond_angle"] = np.asarray(angles, dtype=np.float64)
    return out


def periodic_tiles(
    symbols: list[str], positions_a: np.ndarray, cell_xy_a: tuple[float, float]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A structure periodic in x and y (orthogonal cell ``cell_xy_a``, A) as its 3 x 3 tiling:
    (symbols [9n], positions [9n, 3] (A), original [9n]: the index of the atom each is an image
    of, the wrapped atoms themselves first), for :func:`local_properties`: neighbours across the
    cell edges are seen, so every property is that of the infinite surface (a property's reach,
    at most a 10-ring, must stay under one cell)."""
    xyz = np.asarray(positions_a, dtype=np.float64).reshape(-1, 3).copy()
    lx, ly = cell_xy_a
    xyz[:, 0] %= lx
    xyz[:, 1] %= ly
    shifts = [(i, j) for i in (0, -1, 1) for j in (0, -1, 1)]  # the originals first
    tiled = np.concatenate([xyz + [i * lx, j * ly, 0.0] for i, j in shifts])
    return list(symbols) * len(shifts), tiled, np.tile(np.arange(len(xyz)), len(shifts))


def surface_layer_properties(
    symbols: list[str], positions_a: np.ndarray, cell_xy_a: tuple[float, float], depth_a: float
) -> dict[str, np.ndarray]:
    """:func:`local_properties` of the atoms within ``depth_a`` A below the topmost O of a slab
    periodic in x and y (orthogonal cell ``cell_xy_a``, A; :func:`periodic_tiles`), waters O,H,H
    first (MD frames): the surface layer as a perfect detector would read it, plus ``o_per_a2``
    [1]: its O per A^2. Gas-phase waters (evaporated in MD;
    :func:`iceafm.structures.checks.gas_phase_atoms`) are neither the top nor in the layer."""
    from ase import Atoms

    from iceafm.structures.checks import gas_phase_atoms

    sym = np.asarray(symbols)
    xyz = np.asarray(positions_a, dtype=np.float64).reshape(-1, 3)
    height = np.ptp(xyz[:, 2]) + 1.0
    slab = Atoms(symbols, xyz, cell=[*cell_xy_a, height], pbc=(True, True, False))
    condensed = ~gas_phase_atoms(slab)
    if not (condensed & (sym == "O")).any():  # gas-phase waters only: no slab to take a top of
        condensed[:] = True
    oxygen = condensed & (sym == "O")
    top = condensed & (xyz[:, 2] >= xyz[oxygen, 2].max() - depth_a)
    return {
        **local_properties(*periodic_tiles(list(sym[top]), xyz[top], cell_xy_a)),
        "o_per_a2": np.array([(top & oxygen).sum() / (cell_xy_a[0] * cell_xy_a[1])]),
    }


def pooled_properties(structures: list[tuple[list[str], np.ndarray]]) -> dict[str, np.ndarray]:
    """:func:`local_properties` of several (symbols, positions) structures, concatenated."""
    parts = [local_properties(s, p) for s, p in structures]
    return {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in RANGES}


def minmax_scaled(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """(values - lo) / (hi - lo), values outside [lo, hi] dropped."""
    lo, hi = bounds
    values = np.asarray(values, dtype=np.float64)
    values = values[(values >= lo) & (values <= hi)]
    return (values - lo) / (hi - lo)


def _mean_distance(a: np.ndarray, b: np.ndarray, rows: int = 2048) -> float:
    """Mean Euclidean distance over all pairs of rows of ``a`` [n, d] and ``b`` [m, d] (in
    blocks of ``rows`` rows, so memory stays at rows x m)."""
    total = sum(cdist(a[i : i + rows], b).sum() for i in range(0, len(a), rows))
    return float(total / (len(a) * len(b)))


def energy_distance(u: np.ndarray, v: np.ndarray) -> float:
    """Energy distance 2 E|X-Y| - E|X-X'| - E|Y-Y'| (Szekely and Rizzo's E-statistic, all
    pairs, self-pairs included; Euclidean norm) of samples ``u`` [n] or [n, d] and ``v`` [m] or
    [m, d]: Huang et al.'s convention (their ``water.energy_distance``). Identical samples give 0;
    point masses at a and b give 2 |a - b|. In 1D it is ``scipy.stats.energy_distance(u, v) **
    2`` (scipy returns the square root)."""
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    if u.ndim == 1 and v.ndim == 1:
        return float(stats.energy_distance(u, v) ** 2)
    u, v = u.reshape(len(u), -1), v.reshape(len(v), -1)
    value = 2 * _mean_distance(u, v) - _mean_distance(u, u) - _mean_distance(v, v)
    return max(value, 0.0)


def _scaled_pairs(values: dict[str, np.ndarray], keys: tuple[str, str]) -> np.ndarray:
    """[n, 2]: the two properties ``keys`` (same length, one row per bond) min-max scaled on
    :data:`RANGES`; rows with either value out of range dropped."""
    columns = []
    keep = None
    for key in keys:
        lo, hi = RANGES[key]
        x = np.asarray(values.get(key, np.zeros(0)), dtype=np.float64)
        inside = (x >= lo) & (x <= hi)
        keep = inside if keep is None else keep & inside
        columns.append((x - lo) / (hi - lo))
    return np.column_stack(columns)[keep] if len(columns[0]) else np.zeros((0, 2))


def distribution_distances(
    predicted: dict[str, np.ndarray],
    reference: dict[str, np.ndarray],
    only: tuple[str, ...] | None = None,
) -> dict[str, dict[str, float]]:
    """{property: {energy, wasserstein, n_predicted, n_reference}} on min-max scaled values
    (:data:`RANGES`; :func:`energy_distance`), and the same for the joint properties of
    :data:`JOINT` (energy distance in 2D; ``wasserstein`` NaN there); NaN distances where either
    side has no value in range. ``only``: just these properties (names of :data:`RANGES` or
    :data:`JOINT`; a bootstrap evaluates one or two thousands of times)."""
    out = {}
    for key, bounds in RANGES.items():
        if only is not None and key not in only:
            continue
        u = minmax_scaled(predicted.get(key, np.zeros(0)), bounds)
        v = minmax_scaled(reference.get(key, np.zeros(0)), bounds)
        ok = len(u) > 0 and len(v) > 0
        out[key] = {
            "energy": energy_distance(u, v) if ok else float("nan"),
            "wasserstein": float(stats.wasserstein_distance(u, v)) if ok else float("nan"),
            "n_predicted": int(len(u)),
            "n_reference": int(len(v)),
        }
    for key, pair in JOINT.items():
        if only is not None and key not in only:
            continue
        u, v = _scaled_pairs(predicted, pair), _scaled_pairs(reference, pair)
        ok = len(u) > 0 and len(v) > 0
        out[key] = {
            "energy": energy_distance(u, v) if ok else float("nan"),
            "wasserstein": float("nan"),
            "n_predicted": int(len(u)),
            "n_reference": int(len(v)),
        }
    return out


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussians
    fitted to feature sets [n_a, d] and [n_b, d] (FID's formula)."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu = a.mean(axis=0) - b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = linalg.sqrtm(cov_a @ cov_b)
    root = np.real(root)
    return float(max(mu @ mu + np.trace(cov_a + cov_b - 2.0 * root), 0.0))


def align_shift(moving: np.ndarray, fixed: np.ndarray, max_shift_px: int) -> tuple[int, int]:
    """Integer (dy, dx) that maximises the cross-correlation of ``np.roll(moving, (dy, dx))``
    with ``fixed`` (same shape [ny, nx]), |dy|, |dx| <= ``max_shift_px``."""
    a = (moving - moving.mean()) / (moving.std() + 1e-12)
    b = (fixed - fixed.mean()) / (fixed.std() + 1e-12)
    corr = np.real(np.fft.ifft2(np.conj(np.fft.fft2(a)) * np.fft.fft2(b)))
    ny, nx = a.shape
    best, shift = -np.inf, (0, 0)
    for dy in range(-max_shift_px, max_shift_px + 1):
        for dx in range(-max_shift_px, max_shift_px + 1):
            value = corr[dy % ny, dx % nx]
            if value > best:
                best, shift = value, (dy, dx)
    return shift


def resim_pearson(
    simulated: np.ndarray, real: np.ndarray, max_shift_px: int = 10
) -> tuple[float, list[float], tuple[int, int]]:
    """Mean per-slice Pearson r of ``simulated`` and ``real`` (both [n, ny, nx], same pixel
    size), the per-slice values and the one lateral shift (dy, dx) px applied to ``simulated``:
    the shift maximising the cross-correlation of the sum of slices; only the pixels that stay
    inside after the shift are compared."""
    simulated, real = np.asarray(simulated, np.float64), np.asarray(real, np.float64)
    dy, dx = align_shift(simulated.sum(axis=0), real.sum(axis=0), max_shift_px)
    ny, nx = real.shape[1:]
    ys = slice(max(dy, 0), ny + min(dy, 0))
    xs = slice(max(dx, 0), nx + min(dx, 0))
    moved = np.roll(simulated, (dy, dx), axis=(1, 2))
    values = [
        float(stats.pearsonr(m[ys, xs].ravel(), r[ys, xs].ravel())[0])
        for m, r in zip(moved, real, strict=True)
    ]
    return float(np.mean(values)), values, (dy, dx)
