"""Variance-exploding (EDM-style) noise for slabs: wrapped in xy, reflected at the cell's z faces.

Forward process: x_sigma = x_0 + sigma * n, n ~ N(0, I) per atom and axis, then wrapped into the
cell along a, b (periodic); along z the slab is open (no periodic image) and the
noise is reflected at the cell's faces, in the vacuum (``graph.into_cell``). The denoiser is
``D(x, sigma) = x + c_out(sigma) F(x, sigma)`` with
``c_out = sigma * sigma_data / sqrt(sigma^2 + sigma_data^2)`` (Karras et al. 2022,
written for displacements so that it stays translation-invariant); the score is
``(D - x) / sigma^2``. Training draws ln(sigma) ~ N(p_mean, p_std^2) and minimises
``|F - (x_0 - x_sigma)_mic / c_out|^2`` over the atoms that are not held fixed (the EDM weight).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from iceafm.diffusion.data import SlabBatch
from iceafm.diffusion.graph import build_graph, into_cell, minimum_image_xy


@dataclass(frozen=True)
class NoiseSchedule:
    """Noise levels, A: training distribution and the sampler's Karras schedule.

    Attributes:
        sigma_min, sigma_max: range of the sampler's schedule, A.
        sigma_data: typical displacement scale of the data, A (preconditioning).
        rho: Karras schedule exponent (7 in EDM).
        p_mean, p_std: training ln(sigma) ~ N(p_mean, p_std^2).
    """

    sigma_min: float = 0.005
    sigma_max: float = 6.0
    sigma_data: float = 1.0
    rho: float = 7.0
    p_mean: float = -1.0
    p_std: float = 1.5

    @classmethod
    def from_config(cls, section: dict) -> NoiseSchedule:
        return cls(**{k: float(section[k]) for k in cls.__dataclass_fields__})

    def c_out(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma * self.sigma_data / torch.sqrt(sigma**2 + self.sigma_data**2)

    def sigmas(self, steps: int, device=None) -> torch.Tensor:
        """Decreasing Karras levels sigma_0 = sigma_max .. sigma_{steps-1} = sigma_min, then 0;
        shape [steps + 1], A."""
        ramp = torch.linspace(0, 1, steps, device=device, dtype=torch.float64)
        lo, hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)
        levels = (hi + ramp * (lo - hi)) ** self.rho
        return torch.cat([levels, levels.new_zeros(1)]).float()

    def sample_training_sigma(self, n: int, generator: torch.Generator | None = None):
        """ln-normal training noise levels, shape [n], A."""
        z = torch.randn(n, generator=generator)
        return torch.exp(self.p_mean + self.p_std * z)


def add_noise(
    slab: SlabBatch, sigma_struct: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Noisy positions (fixed atoms untouched), brought into the cell, shape [n, 3], A."""
    noise = torch.randn(slab.positions.shape, generator=generator).to(slab.positions)
    noise = noise * sigma_struct[slab.batch].unsqueeze(-1)
    noise[slab.fixed] = 0.0
    return into_cell(slab.positions + noise, slab.cells, slab.batch)


def denoise(
    model: torch.nn.Module,
    x: torch.Tensor,
    sigma_struct: torch.Tensor,
    slab: SlabBatch,
    schedule: NoiseSchedule,
) -> torch.Tensor:
    """Denoised positions D(x, sigma) (fixed atoms unchanged), shape [n, 3], A.

    Args:
        x: current positions, [n, 3], A. sigma_struct: noise level per structure, [n_struct], A.
        slab: species, molecules, cells, batch and the fixed mask.
    """
    graph = build_graph(x, slab.cells, slab.batch, slab.molecule, model.cutoff_a)
    sigma_atom = sigma_struct[slab.batch]
    out = model(x, sigma_atom, slab.species, slab.fixed, slab.cells, slab.batch, graph)
    step = schedule.c_out(sigma_atom).unsqueeze(-1) * out
    step = torch.where(slab.fixed.unsqueeze(-1), torch.zeros_like(step), step)
    return x + step


def denoising_loss(
    model: torch.nn.Module,
    slab: SlabBatch,
    schedule: NoiseSchedule,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """EDM-weighted denoising score-matching loss over free atoms (scalar).

    The trivial predictor F = 0 scores E[|x_0 - x_sigma|^2 / c_out^2] / 3 per axis, about
    1 + sigma^2/sigma_data^2 at sigma << cell; see :func:`trivial_loss`.
    """
    sigma = schedule.sample_training_sigma(len(slab.cells), generator).to(slab.positions)
    x = add_noise(slab, sigma, generator)
    target_disp = minimum_image_xy(slab.positions - x, slab.cells, slab.batch)
    sigma_atom = sigma[slab.batch]
    graph = build_graph(x, slab.cells, slab.batch, slab.molecule, model.cutoff_a)
    out = model(x, sigma_atom, slab.species, slab.fixed, slab.cells, slab.batch, graph)
    target = target_disp / schedule.c_out(sigma_atom).unsqueeze(-1)
    free = ~slab.fixed
    return ((out - target) ** 2)[free].mean()


def trivial_loss(slab: SlabBatch, schedule: NoiseSchedule, draws: int = 64, seed: int = 0) -> float:
    """The loss of the predictor F = 0 (the scaled noise itself), averaged over ``draws`` noise
    draws: the baseline that a trained network must beat."""
    generator = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(draws):
        sigma = schedule.sample_training_sigma(len(slab.cells), generator).to(slab.positions)
        x = add_noise(slab, sigma, generator)
        disp = minimum_image_xy(slab.positions - x, slab.cells, slab.batch)
        target = disp / schedule.c_out(sigma[slab.batch]).unsqueeze(-1)
        total += float((target**2)[~slab.fixed].mean())
    return total / draws
