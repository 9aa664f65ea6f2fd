"""The two generation tasks: (a) unconditional slabs, (b) completion below a fixed top layer.

(a) ``generation_problem``: the composition and cell of a template slab (its top ``depth_a``),
every atom free. (b) ``completion_problem``: the top layer (molecules less than ``top_a`` below
the topmost O, e.g. from labels or the AFM network's prediction) is held fixed, the molecules from
``top_a`` down to ``depth_a`` are generated with all their H (their number taken from the
reference: the model places atoms, it does not decide how many). Conditioning is by a conditional
score: fixed atoms enter the network clean, flagged, and are never moved.
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from ase.io import write

from iceafm.diffusion.data import (
    SlabBatch,
    collate,
    depth_below_top,
    load_structures,
    surface_crop,
    top_layer_mask,
)
from iceafm.diffusion.samplers import sample
from iceafm.diffusion.sde import NoiseSchedule
from iceafm.diffusion.train import load_checkpoint, resolve_device
from iceafm.io.atomic import atomic_path


def generation_problem(template: Atoms, depth_a: float) -> tuple[Atoms, np.ndarray]:
    """(slab, fixed mask) for unconditional generation: nothing fixed."""
    crop = surface_crop(template, depth_a)
    return crop, np.zeros(len(crop), bool)


def completion_problem(reference: Atoms, top_a: float, depth_a: float) -> tuple[Atoms, np.ndarray]:
    """(slab, fixed mask) for completion: the top ``top_a`` fixed, the rest to ``depth_a`` free."""
    crop = surface_crop(reference, depth_a)
    return crop, top_layer_mask(crop, top_a)


def initial_positions(
    slab: SlabBatch, z_centre_a: torch.Tensor, sigma_max: float, seed: int
) -> torch.Tensor:
    """Free atoms at noise level sigma_max: xy uniform in the cell, z ~ N(z_centre, sigma_max^2).

    Args:
        z_centre_a: per structure, [n_struct], A. Returns [n, 3], A (fixed atoms as in slab).
    """
    generator = torch.Generator().manual_seed(seed)
    n = len(slab.positions)
    frac = torch.rand(n, 2, generator=generator).to(slab.positions)
    xy = torch.einsum("nk,nkx->nx", frac, slab.cells[slab.batch][:, :2, :2])
    z = z_centre_a.to(slab.positions)[slab.batch] + sigma_max * torch.randn(
        n, generator=generator
    ).to(slab.positions)
    x = torch.cat([xy, z.unsqueeze(-1)], dim=1)
    return torch.where(slab.fixed.unsqueeze(-1), slab.positions, x)


def solve(
    model: torch.nn.Module,
    schedule: NoiseSchedule,
    problems: list[tuple[Atoms, np.ndarray]],
    depth_a: float,
    steps: int,
    method: str,
    seed: int,
    device: str | torch.device = "cpu",
) -> tuple[list[Atoms], int]:
    """Sample one structure per problem (batched). Returns (structures, NFE per sample); each
    structure's ``info`` records the sampler, steps, NFE, seed and noise schedule."""
    structures = [p[0] for p in problems]
    slab = collate(structures, [p[1] for p in problems]).to(device)
    z_centre = []
    for atoms, fixed in problems:
        top = atoms.positions[:, 2].max() if len(atoms) else 0.0
        depth = depth_below_top(atoms)
        free_depth = depth[~fixed] if (~fixed).any() else depth
        z_top_o = top if not len(depth) else atoms.positions[:, 2][np.argmin(depth)]
        z_centre.append(z_top_o - 0.5 * (free_depth.min() + min(depth_a, free_depth.max())))
    x0 = initial_positions(slab, torch.tensor(z_centre), schedule.sigma_max, seed)
    result = sample(model, schedule, slab, x0, steps, method, seed)
    out = slab.with_positions(result.positions).to_atoms()
    for atoms, (ref, fixed) in zip(out, problems, strict=True):
        atoms.info.update(
            sampler=method,
            steps=steps,
            nfe=result.nfe,
            seed=seed,
            n_fixed=int(fixed.sum()),
            **{f"schedule_{k}": v for k, v in schedule.__dict__.items()},
        )
        atoms.arrays["fixed"] = fixed.astype(int)
        atoms.info.update({k: v for k, v in ref.info.items() if k in ("family", "index", "sample")})
    return out, result.nfe


def run_sampling(
    checkpoint: str,
    reference_paths: list[str],
    sample_section: dict,
    generated_path: str,
    completed_path: str,
    device: str = "auto",
) -> None:
    """Rule ``diffusion_sample``: ``count`` unconditional slabs per reference composition and
    ``count`` completions of each reference's top layer, as multi-frame extxyz (atomic); each
    frame's info holds the sampler, steps, NFE, seed, noise schedule, template index and draw."""
    model, schedule, section = load_checkpoint(checkpoint, resolve_device(device))
    data = section["data"]
    refs = load_structures(reference_paths, data["families"], data["depth_a"])
    method, steps = sample_section["method"], sample_section["steps"]
    count, seed = sample_section["count"], sample_section["seed"]
    dev = resolve_device(device)
    gen_problems = [generation_problem(r, data["depth_a"]) for r in refs for _ in range(count)]
    generated, _ = solve(model, schedule, gen_problems, data["depth_a"], steps, method, seed, dev)
    for k, atoms in enumerate(generated):
        atoms.info.update(template=k // count, draw=k % count)
    comp_problems = [completion_problem(r, data["top_a"], data["depth_a"]) for r in refs]
    draws = [
        solve(model, schedule, comp_problems, data["depth_a"], steps, method, seed + k, dev)[0]
        for k in range(count)
    ]
    completed = []
    for t in range(len(refs)):
        for k in range(count):
            draws[k][t].info.update(template=t, draw=k)
            completed.append(draws[k][t])
    for path, frames in ((generated_path, generated), (completed_path, completed)):
        with atomic_path(path) as tmp:
            write(tmp, frames, format="extxyz")
