"""Periodic-xy / open-z neighbour lists and minimum-image edge vectors for slab graphs.

Edges come from ``vesin`` (an exact cell-list neighbour search, no ``torch.cdist`` matmul
shortcut), periodic along the cell's a and b (in the xy plane) and open along z. The edge vectors
are recomputed in torch from the positions and the integer cell shifts, so they carry gradients
and stay exact under rotations, reflections and translations of the positions and cell together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import vesin


@dataclass
class Graph:
    """Edges of a batch of slabs (atoms of all structures concatenated).

    Attributes:
        src, dst: edge endpoints (messages flow src -> dst), shape [n_edge], int64.
        shift: integer cell shift of src relative to dst, shape [n_edge, 3] (z component 0).
        bonded: 1.0 where src and dst belong to the same molecule, shape [n_edge], float.
    """

    src: torch.Tensor
    dst: torch.Tensor
    shift: torch.Tensor
    bonded: torch.Tensor


def _slab_box(positions_a: np.ndarray, cell_a: np.ndarray, cutoff_a: float) -> np.ndarray:
    """The cell with c replaced by a z extent that holds every atom with room for the cutoff."""
    box = np.array(cell_a, dtype=np.float64)
    z = positions_a[:, 2]
    box[2] = (0.0, 0.0, float(z.max() - z.min()) + 2 * cutoff_a + 1.0)
    return box


def neighbour_list(
    positions_a: np.ndarray, cell_a: np.ndarray, cutoff_a: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ordered pairs (i, j), i != j or a periodic image, with |r_j + S.cell - r_i| < cutoff.

    Args:
        positions_a: shape [n, 3], A (any values; they need not be wrapped).
        cell_a: rows a, b, c, shape [3, 3], A; a and b in the xy plane (periodic), c along z
            (open: only its direction matters).
        cutoff_a: neighbour cutoff, A.

    Returns:
        (i, j, shift): int64 arrays, shapes [n_pair], [n_pair], [n_pair, 3].
    """
    pos = np.asarray(positions_a, dtype=np.float64)
    if len(pos) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3), np.int64)
    box = _slab_box(pos, cell_a, cutoff_a)
    shifted = pos - np.array([0.0, 0.0, pos[:, 2].min() - cutoff_a])
    nl = vesin.NeighborList(cutoff=float(cutoff_a), full_list=True)
    i, j, shift = nl.compute(shifted, box, periodic=[True, True, False], quantities="ijS")
    return i.astype(np.int64), j.astype(np.int64), shift.astype(np.int64)


def build_graph(
    positions_a: torch.Tensor,
    cells_a: torch.Tensor,
    batch: torch.Tensor,
    molecule: torch.Tensor,
    cutoff_a: float,
) -> Graph:
    """Neighbour graph of a batch: cutoff edges, plus every intramolecular pair at any distance.

    Intramolecular pairs are always edges (flagged ``bonded``) so that a molecule's atoms see each
    other even while the noise pulls them apart; their shift is the minimum image in xy.

    Args:
        positions_a: shape [n, 3], A.
        cells_a: shape [n_struct, 3, 3], A.
        batch: structure index per atom, shape [n], int64, sorted.
        molecule: global molecule index per atom, shape [n], int64 (unique across the batch).
        cutoff_a: radial cutoff, A.
    """
    pos_np = positions_a.detach().cpu().double().numpy()
    cells_np = cells_a.detach().cpu().double().numpy()
    batch_np = batch.cpu().numpy()
    mol_np = molecule.cpu().numpy()
    srcs, dsts, shifts = [], [], []
    starts = np.searchsorted(batch_np, np.arange(len(cells_np) + 1))
    for s in range(len(cells_np)):
        lo, hi = starts[s], starts[s + 1]
        i, j, shift = neighbour_list(pos_np[lo:hi], cells_np[s], cutoff_a)
        # Intramolecular pairs are edges at any distance (noise stretches molecules): drop them
        # from the cutoff list and add each once, at its minimum image in xy.
        mol = mol_np[lo:hi]
        inter = mol[i] != mol[j]
        i, j, shift = i[inter], j[inter], shift[inter]
        same = mol[:, None] == mol[None, :]
        np.fill_diagonal(same, False)
        pi, pj = np.nonzero(same)
        ab = cells_np[s][:2, :2]
        frac = np.linalg.solve(ab.T, (pos_np[lo + pj] - pos_np[lo + pi])[:, :2].T).T
        ps = np.zeros((len(pi), 3), np.int64)
        ps[:, :2] = -np.round(frac).astype(np.int64)
        i, j = np.concatenate([i, pi]), np.concatenate([j, pj])
        shift = np.concatenate([shift, ps])
        srcs.append(j + lo)
        dsts.append(i + lo)
        shifts.append(shift)
    device = positions_a.device
    src = torch.as_tensor(np.concatenate(srcs), device=device)
    dst = torch.as_tensor(np.concatenate(dsts), device=device)
    return Graph(
        src=src,
        dst=dst,
        shift=torch.as_tensor(np.concatenate(shifts), device=device),
        bonded=(molecule[src] == molecule[dst]).to(positions_a.dtype),
    )


def edge_vectors(
    positions_a: torch.Tensor, cells_a: torch.Tensor, batch: torch.Tensor, graph: Graph
) -> torch.Tensor:
    """Vector from dst to the (image of) src per edge, shape [n_edge, 3], A (differentiable)."""
    cell_of_edge = cells_a[batch[graph.dst]]
    offset = torch.einsum("ek,ekx->ex", graph.shift.to(positions_a.dtype), cell_of_edge)
    return positions_a[graph.src] + offset - positions_a[graph.dst]


def into_cell(
    positions_a: torch.Tensor, cells_a: torch.Tensor, batch: torch.Tensor
) -> torch.Tensor:
    """Wrap positions into the cell along a and b (fractional [0, 1)) and reflect z at the cell's
    faces z = 0 and z = c_z (c is along z): the slab and its vacuum stay inside the cell.

    The reflecting wall lies in the vacuum that every training slab has above and below it, so it
    leaves the data distribution unchanged; it only stops noise from carrying atoms away in z.
    """
    cell = cells_a[batch]
    ab = cell[:, :2, :2]
    frac = torch.linalg.solve(ab.transpose(1, 2), positions_a[:, :2].unsqueeze(-1)).squeeze(-1)
    frac = frac - torch.floor(frac)
    xy = torch.einsum("nk,nkx->nx", frac, ab)
    c_z = cell[:, 2, 2]
    z = torch.remainder(positions_a[:, 2], 2 * c_z)
    z = torch.where(z > c_z, 2 * c_z - z, z)
    return torch.cat([xy, z.unsqueeze(-1)], dim=1)


def mic_xy(delta: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Displacements [..., 3] (A) moved to their minimum image along the cell's a and b (z
    open): the numpy counterpart of :func:`minimum_image_xy` for one cell [3, 3], A."""
    ab = np.asarray(cell)[:2, :2]
    frac = np.linalg.solve(ab.T, delta[..., :2].reshape(-1, 2).T).T.reshape(delta[..., :2].shape)
    out = delta.copy()
    out[..., :2] -= np.round(frac) @ ab
    return out


def minimum_image_xy(
    delta_a: torch.Tensor, cells_a: torch.Tensor, batch: torch.Tensor
) -> torch.Tensor:
    """Minimum image of displacement vectors along a and b (z open), shape [n, 3], A."""
    ab = cells_a[batch][:, :2, :2]
    frac = torch.linalg.solve(ab.transpose(1, 2), delta_a[:, :2].unsqueeze(-1)).squeeze(-1)
    frac = frac - torch.round(frac)
    xy = torch.einsum("nk,nkx->nx", frac, ab)
    return torch.cat([xy, delta_a[:, 2:]], dim=1)
