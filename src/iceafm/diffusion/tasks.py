"""The two generation tasks: (a) unconditional slabs, (b) completion below a fixed top layer.

(a) ``generation_problem``: the composition and cell of a template slab (its top ``depth_a``),
every atom free. (b) ``completion_problem``: the top layer (molecules less than ``top_a`` below
the topmost O, e.g. from labels or the AFM network's prediction) is held fixed, the molecules from
``top_a`` down to ``depth_a`` are generated with all their H (their number taken from the
reference: the model places atoms, it does not decide how many). Conditioning is by a conditional
score: fixed atoms enter the network clean, flagged, and are never moved.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.io import write

from iceafm.diffusion.baselines import ice_lattice_waters
from iceafm.diffusion.data import (
    SlabBatch,
    collate,
    depth_below_top,
    load_structures,
    surface_crop,
    top_layer_mask,
)
from iceafm.diffusion.graph import mic_xy
from iceafm.diffusion.projection import project_waters
from iceafm.diffusion.samplers import sample
from iceafm.diffusion.sde import NoiseSchedule
from iceafm.diffusion.train import load_checkpoint, resolve_device
from iceafm.io.atomic import atomic_path
from iceafm.structures.checks import count_waters

PRIORS = ("noise", "lattice")


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


def lattice_prior(
    problem: tuple[Atoms, np.ndarray],
    top_a: float,
    depth_a: float,
    sigma_a: float,
    seed: int | list[int],
) -> np.ndarray:
    """Starting positions of a completion problem's free waters: the ice Ih lattice continued
    below the fixed top layer (:func:`iceafm.diffusion.baselines.ice_lattice_waters`), with
    Gaussian noise of ``sigma_a`` (A) on every atom (SDEdit: the sampler then runs from
    ``sigma_a`` down). The problem's number of free waters N is kept: of the lattice waters
    within 1.5 A outside [top_a, depth_a] and not within 1.5 A of a fixed O, those inside the
    band come first (the most central first), then the nearest outside it; free waters beyond
    the lattice's candidates start at a random lattice water with extra noise of 1 A.

    Returns:
        [n, 3] positions, A (fixed atoms and substrate as in the problem).

    Raises:
        ValueError: a cell that is not an ice1h_unit supercell (no lattice to continue).
    """
    atoms, fixed = problem
    rng = np.random.default_rng(seed)
    n_water = count_waters(atoms)
    symbols = np.array(atoms.get_chemical_symbols())
    o = symbols == "O"
    z_top = atoms.positions[o, 2].max()
    cell = np.asarray(atoms.cell)
    free_mol = ~np.asarray(fixed, bool)[: 3 * n_water : 3]
    lattice = ice_lattice_waters(
        atoms.positions[o & fixed], cell, z_top, max(top_a - 1.5, 0.0), depth_a + 1.5
    )
    fixed_o = atoms.positions[: 3 * n_water : 3][~free_mol]
    if len(fixed_o) and len(lattice):
        gap = mic_xy(fixed_o[None, :, :] - lattice[:, None, 0, :], cell)
        lattice = lattice[np.linalg.norm(gap, axis=-1).min(axis=1) > 1.5]
    depth = z_top - lattice[:, 0, 2]
    outside = np.maximum(top_a - depth, depth - depth_a).clip(min=0)
    centrality = np.minimum(depth - top_a, depth_a - depth)
    order = np.lexsort((-centrality, outside))
    n_free = int(free_mol.sum())
    pick = order[:n_free]
    start = lattice[pick]
    if len(start) < n_free:
        if not len(lattice):
            raise ValueError("no ice lattice sites below the top layer to continue")
        extra = lattice[rng.integers(0, len(lattice), n_free - len(start))]
        extra = extra + rng.normal(0.0, 1.0, (len(extra), 1, 3))
        start = np.concatenate([start, extra])
    start = start + rng.normal(0.0, sigma_a, start.shape)
    out = atoms.positions.copy()
    water = out[: 3 * n_water].reshape(n_water, 3, 3)
    water[free_mol] = start
    out[: 3 * n_water] = water.reshape(-1, 3)
    return out


def sample_problems(
    model: torch.nn.Module,
    schedule: NoiseSchedule,
    problems: list[tuple[Atoms, np.ndarray]],
    depth_a: float,
    steps: int,
    method: str,
    seed: int,
    device: str | torch.device = "cpu",
    *,
    prior: str = "noise",
    prior_sigma_a: float = 0.5,
    top_a: float = 3.0,
) -> tuple[list[Atoms], dict]:
    """The network part of :func:`solve`: one raw sample per problem (batched, before any
    projection; atoms in the problem's order). Returns (structures, info): the sampler, steps,
    NFE per sample, seed, prior and noise schedule (``schedule_*``) of the draw.

    Args:
        prior: ``noise`` (free atoms drawn at ``schedule.sigma_max``) or ``lattice`` (completion
            only: :func:`lattice_prior` at ``prior_sigma_a``, the sampler's schedule starting
            there; ``top_a`` is the depth of the fixed layer, A).
    """
    if prior not in PRIORS:
        raise ValueError(f"diffusion.sample.prior = {prior!r}, expected one of {PRIORS}")
    structures = [p[0] for p in problems]
    slab = collate(structures, [p[1] for p in problems]).to(device)
    if prior == "lattice":
        schedule = replace(schedule, sigma_max=float(prior_sigma_a))
        x0 = torch.tensor(
            np.concatenate(
                [
                    lattice_prior(p, top_a, depth_a, prior_sigma_a, [seed, k])
                    for k, p in enumerate(problems)
                ]
            ),
            dtype=slab.positions.dtype,
            device=slab.positions.device,
        )
    else:
        z_centre = []
        for atoms, fixed in problems:
            top = atoms.positions[:, 2].max() if len(atoms) else 0.0
            depth = depth_below_top(atoms)
            free_depth = depth[~fixed] if (~fixed).any() else depth
            z_top_o = top if not len(depth) else atoms.positions[:, 2][np.argmin(depth)]
            z_centre.append(z_top_o - 0.5 * (free_depth.min() + min(depth_a, free_depth.max())))
        x0 = initial_positions(slab, torch.tensor(z_centre), schedule.sigma_max, seed)
    result = sample(model, schedule, slab, x0, steps, method, seed)
    info = dict(
        sampler=method,
        steps=steps,
        nfe=result.nfe,
        seed=seed,
        prior=prior,
        **{f"schedule_{k}": v for k, v in schedule.__dict__.items()},
    )
    return slab.with_positions(result.positions).to_atoms(), info


def finish_samples(
    raw: list[Atoms],
    problems: list[tuple[Atoms, np.ndarray]],
    info: dict,
    projection: str = "none",
    relax_steps: int = 50,
) -> list[Atoms]:
    """Raw samples -> the sampler's output: each projected
    (:func:`iceafm.diffusion.projection.project_waters`), ``info`` and the problem's fixed mask
    (``arrays['fixed']``), family, index and sample recorded."""
    out = [
        project_waters(atoms, fixed, projection, relax_steps)
        for atoms, (_, fixed) in zip(raw, problems, strict=True)
    ]
    for atoms, (ref, fixed) in zip(out, problems, strict=True):
        atoms.info.update(
            info,
            n_fixed=int(fixed.sum()),
            relax_steps=relax_steps if projection == "relax" else 0,
        )
        atoms.arrays["fixed"] = fixed.astype(int)
        atoms.info.update({k: v for k, v in ref.info.items() if k in ("family", "index", "sample")})
    return out


def consensus_completion(
    draws: list[Atoms],
    problem: tuple[Atoms, np.ndarray],
    projection: str = "relax",
    relax_steps: int = 50,
) -> Atoms:
    """The consensus of k raw completions of one problem: the per-atom mean position (minimum
    image in x and y, taken about the first draw; xy wrapped into the cell), then projected
    (:func:`iceafm.diffusion.projection.project_waters`) so that it is again a slab of rigid
    waters. An estimate of the posterior mean where the draws keep their atom order (lattice
    prior: every draw starts from the same lattice waters with small noise), not a sample.

    Args:
        draws: k >= 1 raw samples of ``problem`` (before projection), same atom order.
        problem: (slab, fixed mask); fixed atoms are taken from the slab.

    Returns:
        The consensus slab as :func:`finish_samples` writes a sample (``info`` of the first
        draw, ``consensus_of`` = k, ``arrays['fixed']``).
    """
    if not draws:
        raise ValueError("consensus of no draws")
    atoms, fixed = problem
    cell = np.asarray(atoms.cell)
    ref = draws[0].positions
    if any(len(d) != len(ref) for d in draws):
        raise ValueError("consensus of draws with different atom counts")
    mean = ref + np.mean([mic_xy(d.positions - ref, cell) for d in draws], axis=0)
    mean[fixed] = atoms.positions[fixed]
    centre = draws[0].copy()
    centre.positions = mean
    centre.wrap(pbc=[True, True, False])
    info = dict(draws[0].info, consensus_of=len(draws))
    return finish_samples([centre], [problem], info, projection, relax_steps)[0]


def solve(
    model: torch.nn.Module,
    schedule: NoiseSchedule,
    problems: list[tuple[Atoms, np.ndarray]],
    *sample_args: Any,
    projection: str = "none",
    relax_steps: int = 50,
    **sample_kwargs: Any,
) -> tuple[list[Atoms], int]:
    """Sample one structure per problem (batched): :func:`sample_problems` then
    :func:`finish_samples`. Returns (structures, NFE per sample); each structure's ``info``
    records the sampler, steps, NFE, seed, noise schedule, prior and projection.

    Args:
        sample_args, sample_kwargs: the rest of :func:`sample_problems`' arguments (depth_a,
            steps, method, seed, device; prior, prior_sigma_a, top_a).
        projection, relax_steps: end-of-sampling projection onto rigid TIP4P/Ice waters
            (:func:`iceafm.diffusion.projection.project_waters`; no network evaluation).
    """
    raw, info = sample_problems(model, schedule, problems, *sample_args, **sample_kwargs)
    return finish_samples(raw, problems, info, projection, relax_steps), info["nfe"]


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
    frame's info holds the sampler, steps, NFE, seed, noise schedule, prior, projection,
    template index and draw. Completions start from ``sample_section['prior']`` (the lattice
    prior falls back to noise, with a log line, where a cell has no ice1h_unit lattice); every
    sample goes through ``sample_section['projection']``. With ``consensus`` (lattice prior
    only) each reference's draws are followed by their :func:`consensus_completion` (info
    ``draw`` -1, ``consensus_of`` = count)."""
    model, schedule, section = load_checkpoint(checkpoint, resolve_device(device))
    data = section["data"]
    refs = load_structures(reference_paths, data["families"], data["depth_a"])
    method, steps = sample_section["method"], sample_section["steps"]
    count, seed = sample_section["count"], sample_section["seed"]
    dev = resolve_device(device)
    project = dict(
        projection=sample_section.get("projection", "relax"),
        relax_steps=sample_section.get("relax_steps", 50),
    )
    gen_problems = [generation_problem(r, data["depth_a"]) for r in refs for _ in range(count)]
    generated, _ = solve(
        model, schedule, gen_problems, data["depth_a"], steps, method, seed, dev, **project
    )
    for k, atoms in enumerate(generated):
        atoms.info.update(template=k // count, draw=k % count)
    comp_problems = [completion_problem(r, data["top_a"], data["depth_a"]) for r in refs]
    prior = dict(
        prior=sample_section.get("prior", "lattice"),
        prior_sigma_a=sample_section.get("prior_sigma_a", 0.2),
        top_a=data["top_a"],
    )
    if prior["prior"] == "lattice":
        try:
            for problem in comp_problems:
                lattice_prior(problem, data["top_a"], data["depth_a"], 0.0, 0)
        except ValueError as err:  # not an ice1h_unit supercell (imports): start from noise
            print(f"diffusion.sample.prior = lattice unavailable ({err}); using noise")
            prior["prior"] = "noise"
    raw_draws = [
        sample_problems(
            model,
            schedule,
            comp_problems,
            data["depth_a"],
            steps,
            method,
            seed + k,
            dev,
            **prior,
        )
        for k in range(count)
    ]
    draws = [finish_samples(raw, comp_problems, info, **project) for raw, info in raw_draws]
    consensus = sample_section.get("consensus", True)
    if consensus and prior["prior"] != "lattice":
        print("diffusion.sample.consensus needs the lattice prior (draws in one atom order); none")
        consensus = False
    completed = []
    for t, problem in enumerate(comp_problems):
        for k in range(count):
            draws[k][t].info.update(template=t, draw=k)
            completed.append(draws[k][t])
        if consensus:
            centre = consensus_completion([raw[t] for raw, _ in raw_draws], problem, **project)
            centre.info.update(raw_draws[0][1], template=t, draw=-1)
            completed.append(centre)
    for path, frames in ((generated_path, generated), (completed_path, completed)):
        with atomic_path(path) as tmp:
            write(tmp, frames, format="extxyz")
