"""Score networks: an E(3)-equivariant e3nn message-passing net and a same-size plain baseline.

Both map a batch of (noisy) slabs to one vector per atom, ``F`` (shape [n, 3], dimensionless),
from which :mod:`iceafm.diffusion.sde` builds the denoiser ``D = x + c_out(sigma) F``. Inputs per
atom: species (O, H, other), whether the atom is held fixed (conditioning), the noise level of its
structure; per edge: the minimum-image edge vector from :mod:`iceafm.diffusion.graph` and whether
both atoms belong to the same molecule.

The equivariant net sees geometry only through edge vectors (spherical harmonics up to l = 2 and
a radial basis) and the slab normal z-hat as a constant l = 1 input, so its output rotates with
rotations about z, mirrors in planes containing z, and is invariant to xy translations, lattice
shifts and permutations of like atoms (whole molecules, or the two H of one molecule).
"""

from __future__ import annotations

import math

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3
from e3nn.math import soft_one_hot_linspace
from torch import nn

from iceafm.diffusion.graph import Graph, edge_vectors

SPECIES = ("O", "H")
"""Species codes 0, 1; any other element is code 2 (substrate)."""
N_SPECIES = len(SPECIES) + 1
BOND_BASIS_MAX_A = 6.0
"""Range of the radial basis of intramolecular edges (present at any length), A."""
STRETCH_RANGE_A = (0.7, 1.9)
"""Centres of the noise-scaled stretch features span the intramolecular distances, A."""
N_STRETCH = 7
STRETCH_FLOOR_A = 0.02
"""Smallest length scale of the stretch features, A."""


def noise_features(sigma_a: torch.Tensor, n: int) -> torch.Tensor:
    """Gaussian basis of log(sigma) over [ln 1e-3, ln 50], shape [..., n]."""
    return soft_one_hot_linspace(
        torch.log(sigma_a), math.log(1e-3), math.log(50.0), n, basis="gaussian", cutoff=False
    )


class _Inputs(nn.Module):
    """Per-atom scalar features from species, fixed flag and noise level."""

    def __init__(self, n_noise: int, dim: int) -> None:
        super().__init__()
        self.n_noise = n_noise
        self.species = nn.Embedding(N_SPECIES, dim)
        self.mlp = nn.Sequential(nn.Linear(dim + n_noise + 1, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, species: torch.Tensor, fixed: torch.Tensor, sigma_atom: torch.Tensor):
        feats = [
            self.species(species),
            fixed.unsqueeze(-1).float(),
            noise_features(sigma_atom, self.n_noise),
        ]
        return self.mlp(torch.cat(feats, dim=-1))


def _edge_scalars(
    length_a: torch.Tensor,
    bonded: torch.Tensor,
    sigma_edge: torch.Tensor,
    cutoff_a: float,
    n_basis: int,
) -> torch.Tensor:
    """Radial features per edge, shape [n_edge, 2 n_basis + N_STRETCH + 1]: a smooth basis that
    goes to zero at the cutoff (edges appear and vanish continuously), a long-range basis on bonded
    edges only, noise-scaled stretch features on bonded edges, and the bonded flag.

    The stretch features tanh((d - c_k) / s), s = sqrt(sigma^2 + STRETCH_FLOOR_A^2), for centres
    c_k over the intramolecular distances, measure a bond's deviation in units of the noise: the
    denoiser's output at small sigma is such a deviation divided by sigma, which a fixed-width
    basis can represent only with very large weights (the role of EDM's input scaling c_in).
    """
    near = (
        soft_one_hot_linspace(length_a, 0.0, cutoff_a, n_basis, basis="smooth_finite", cutoff=True)
        * n_basis**0.5
    )
    far = soft_one_hot_linspace(
        length_a, 0.0, BOND_BASIS_MAX_A, n_basis, basis="gaussian", cutoff=False
    ) * bonded.unsqueeze(-1)
    centres = torch.linspace(*STRETCH_RANGE_A, N_STRETCH, device=length_a.device)
    scale = torch.sqrt(sigma_edge**2 + STRETCH_FLOOR_A**2).unsqueeze(-1)
    stretch = torch.tanh((length_a.unsqueeze(-1) - centres) / scale) * bonded.unsqueeze(-1)
    nonbonded = (1 - bonded).unsqueeze(-1)
    return torch.cat([near * nonbonded, far, stretch, bonded.unsqueeze(-1)], dim=-1)


class _Convolution(nn.Module):
    """Edge tensor product (node x spherical harmonics, weights from an MLP of radial features),
    summed at the receiver, plus a linear self-interaction."""

    def __init__(self, irreps_in, irreps_sh, irreps_out, n_edge: int, radial_hidden: int, avg_n):
        super().__init__()
        self.tp = o3.FullyConnectedTensorProduct(
            irreps_in, irreps_sh, irreps_out, shared_weights=False
        )
        self.radial = e3nn_nn.FullyConnectedNet(
            [n_edge, radial_hidden, self.tp.weight_numel], torch.nn.functional.silu
        )
        self.self_interaction = o3.Linear(irreps_in, irreps_out)
        self.norm = 1.0 / math.sqrt(avg_n)

    def forward(self, h, sh, edge_scalars, graph: Graph):
        messages = self.tp(h[graph.src], sh, self.radial(edge_scalars))
        summed = torch.zeros(h.shape[0], messages.shape[1], dtype=h.dtype, device=h.device)
        summed.index_add_(0, graph.dst, messages)
        return summed * self.norm + self.self_interaction(h)


class EquivariantScoreNet(nn.Module):
    """E(3)-equivariant score network (e3nn); see the module docstring.

    Args:
        cutoff_a: neighbour cutoff, A.
        scalars, vectors, tensors: multiplicities of l = 0, 1, 2 hidden features.
        layers: message-passing layers.
        n_basis: radial basis size.
        n_noise: noise-level basis size.
        radial_hidden: hidden width of the radial MLPs.
        avg_neighbours: normalisation of summed messages.
    """

    def __init__(
        self,
        cutoff_a: float = 3.5,
        scalars: int = 16,
        vectors: int = 4,
        tensors: int = 2,
        layers: int = 3,
        n_basis: int = 8,
        n_noise: int = 8,
        radial_hidden: int = 16,
        avg_neighbours: float = 20.0,
    ) -> None:
        super().__init__()
        self.cutoff_a = cutoff_a
        self.n_basis = n_basis
        self.inputs = _Inputs(n_noise, scalars)
        self.irreps_sh = o3.Irreps.spherical_harmonics(2)
        self.sh = o3.SphericalHarmonics(self.irreps_sh, normalize=True, normalization="component")
        n_edge = 2 * n_basis + N_STRETCH + 1
        irreps = o3.Irreps(f"{scalars}x0e + 1x1o")
        self.convs = nn.ModuleList()
        self.gates = nn.ModuleList()
        for _ in range(layers):
            gate = e3nn_nn.Gate(
                f"{scalars}x0e",
                [torch.nn.functional.silu],
                f"{vectors + tensors}x0e",
                [torch.sigmoid],
                f"{vectors}x1o + {tensors}x2e",
            )
            self.convs.append(
                _Convolution(
                    irreps, self.irreps_sh, gate.irreps_in, n_edge, radial_hidden, avg_neighbours
                )
            )
            self.gates.append(gate)
            irreps = gate.irreps_out
        self.out = _Convolution(
            irreps, self.irreps_sh, o3.Irreps("1x1o"), n_edge, radial_hidden, avg_neighbours
        )

    def forward(self, positions_a, sigma_atom, species, fixed, cells_a, batch, graph: Graph):
        """Vector per atom, shape [n, 3].

        Args:
            positions_a: shape [n, 3], A. sigma_atom: noise level of each atom's structure, [n], A.
            species: codes, [n]. fixed: conditioning mask, [n] bool. cells_a: [n_struct, 3, 3].
            batch: structure index per atom, [n]. graph: from ``build_graph``.
        """
        vec = edge_vectors(positions_a, cells_a, batch, graph)
        length = vec.norm(dim=-1)
        sh = self.sh(vec)
        edge_scalars = _edge_scalars(
            length, graph.bonded, sigma_atom[graph.dst], self.cutoff_a, self.n_basis
        )
        z_hat = positions_a.new_zeros(len(positions_a), 3)
        z_hat[:, 2] = 1.0
        # e3nn 0.6 orders l = 1 components as (x, y, z), like its spherical harmonics.
        h = torch.cat([self.inputs(species, fixed, sigma_atom), z_hat], dim=-1)
        for conv, gate in zip(self.convs, self.gates, strict=True):
            h = gate(conv(h, sh, edge_scalars, graph))
        out = self.out(h, sh, edge_scalars, graph)
        return out


class PlainScoreNet(nn.Module):
    """Non-equivariant baseline of about the same size: MLP messages on raw edge-vector
    components (x, y, z) and radial features; the output is three plain numbers per atom."""

    def __init__(
        self,
        cutoff_a: float = 3.5,
        hidden: int = 40,
        layers: int = 3,
        n_basis: int = 8,
        n_noise: int = 8,
    ) -> None:
        super().__init__()
        self.cutoff_a = cutoff_a
        self.n_basis = n_basis
        self.inputs = _Inputs(n_noise, hidden)
        n_edge = 2 * n_basis + N_STRETCH + 1 + 3
        self.messages = nn.ModuleList(
            nn.Sequential(
                nn.Linear(2 * hidden + n_edge, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
            )
            for _ in range(layers)
        )
        self.updates = nn.ModuleList(
            nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
            for _ in range(layers)
        )
        self.out = nn.Linear(hidden, 3)

    def forward(self, positions_a, sigma_atom, species, fixed, cells_a, batch, graph: Graph):
        """Vector per atom, shape [n, 3]; arguments as for :class:`EquivariantScoreNet`."""
        vec = edge_vectors(positions_a, cells_a, batch, graph)
        length = vec.norm(dim=-1)
        edge = torch.cat(
            [
                _edge_scalars(
                    length, graph.bonded, sigma_atom[graph.dst], self.cutoff_a, self.n_basis
                ),
                vec / self.cutoff_a,
            ],
            dim=-1,
        )
        h = self.inputs(species, fixed, sigma_atom)
        for message, update in zip(self.messages, self.updates, strict=True):
            m = message(torch.cat([h[graph.src], h[graph.dst], edge], dim=-1))
            summed = torch.zeros_like(h).index_add_(0, graph.dst, m) / 20.0**0.5
            h = h + update(torch.cat([h, summed], dim=-1))
        return self.out(h)


def build_model(section: dict) -> nn.Module:
    """Score network from the ``diffusion.model`` config section (``kind``: equivariant|plain)."""
    kind = section["kind"]
    if kind == "equivariant":
        return EquivariantScoreNet(
            cutoff_a=section["cutoff_a"],
            scalars=section["scalars"],
            vectors=section["vectors"],
            tensors=section["tensors"],
            layers=section["layers"],
            radial_hidden=section["radial_hidden"],
        )
    if kind == "plain":
        return PlainScoreNet(
            cutoff_a=section["cutoff_a"], hidden=section["plain_hidden"], layers=section["layers"]
        )
    raise ValueError(f"diffusion.model.kind = {kind!r}, expected 'equivariant' or 'plain'")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
