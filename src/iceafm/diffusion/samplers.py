"""Reverse-time samplers for the VE diffusion: Euler-Maruyama, predictor-corrector, and the
deterministic probability-flow ODE with Heun's method (EDM Algorithm 1).

Every sampler starts from positions drawn at ``schedule.sigma_max`` (see
:func:`iceafm.diffusion.tasks.initial_positions`), keeps fixed atoms where they are, brings atoms
into the cell after each step (xy wrapped, z reflected at the cell faces) and counts network
evaluations (NFE) per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from iceafm.diffusion.data import SlabBatch
from iceafm.diffusion.graph import into_cell
from iceafm.diffusion.sde import NoiseSchedule, denoise

SAMPLERS = ("heun", "euler_maruyama", "predictor_corrector")


@dataclass
class SampleResult:
    """Final positions [n, 3] (A) and network evaluations per sample."""

    positions: torch.Tensor
    nfe: int


class _Denoiser:
    """D(x, sigma) with an evaluation counter."""

    def __init__(self, model, slab: SlabBatch, schedule: NoiseSchedule) -> None:
        self.model, self.slab, self.schedule, self.nfe = model, slab, schedule, 0

    def __call__(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        self.nfe += 1
        sigma_struct = torch.full((self.slab.n_struct,), float(sigma), device=x.device)
        return denoise(self.model, x, sigma_struct, self.slab, self.schedule)

    def score(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        return (self(x, sigma) - x) / sigma**2


def _noise_like(x: torch.Tensor, slab: SlabBatch, generator: torch.Generator) -> torch.Tensor:
    z = torch.randn(x.shape, generator=generator).to(x)
    return torch.where(slab.fixed.unsqueeze(-1), torch.zeros_like(z), z)


@torch.no_grad()
def sample(
    model: torch.nn.Module,
    schedule: NoiseSchedule,
    slab: SlabBatch,
    x_init: torch.Tensor,
    steps: int,
    method: str = "heun",
    seed: int = 0,
    corrector_snr: float = 0.1,
) -> SampleResult:
    """Integrate from ``sigma_max`` to 0.

    Args:
        model: score network (eval mode is set here).
        schedule: noise levels (Karras schedule with ``steps`` levels).
        slab: composition, cells, fixed mask; fixed atoms keep ``slab.positions``.
        x_init: starting positions, [n, 3], A (free atoms at noise level sigma_max).
        steps: number of noise levels (>= 1). NFE: heun 2 steps - 1, euler_maruyama steps,
            predictor_corrector 2 steps - 1.
        method: one of ``SAMPLERS``.
        seed: seed of the sampler's noise (stochastic samplers).
        corrector_snr: Langevin corrector signal-to-noise ratio (Song et al. 2021).
    """
    if method not in SAMPLERS:
        raise ValueError(f"diffusion.sample.method = {method!r}, expected one of {SAMPLERS}")
    if steps < 1:
        raise ValueError(f"diffusion.sample.steps = {steps}, expected >= 1")
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    D = _Denoiser(model, slab, schedule)
    sigmas = schedule.sigmas(steps).tolist()
    x = torch.where(slab.fixed.unsqueeze(-1), slab.positions, x_init)
    x = into_cell(x, slab.cells, slab.batch)
    for s_cur, s_next in zip(sigmas[:-1], sigmas[1:], strict=True):
        if method == "heun":
            d = (x - D(x, s_cur)) / s_cur
            x_next = x + (s_next - s_cur) * d
            if s_next > 0:
                d2 = (x_next - D(x_next, s_next)) / s_next
                x_next = x + (s_next - s_cur) * 0.5 * (d + d2)
            x = x_next
        else:
            if s_next == 0:
                x = D(x, s_cur)
            else:
                var = s_cur**2 - s_next**2
                x = x + var * D.score(x, s_cur) + var**0.5 * _noise_like(x, slab, generator)
                if method == "predictor_corrector":
                    z = _noise_like(x, slab, generator)
                    grad = D.score(x, s_next)
                    free = ~slab.fixed
                    eps = (
                        2
                        * (corrector_snr * z[free].norm() / grad[free].norm().clamp_min(1e-12)) ** 2
                    )
                    x = x + eps * grad + (2 * eps) ** 0.5 * z
        x = into_cell(x, slab.cells, slab.batch)
    return SampleResult(positions=x, nfe=D.nfe)
