"""Close the loop on a real surface: the AFM network's predicted top layer (``iceafm predict``,
rule ``predict_real``) completed into a slab by the diffusion model (rule
``diffusion_complete_real``).

The prediction holds O and H of the top ~3 A in the scan frame (x, y in A, z relative to the
topmost O; the cell is the scan, not periodic). Steps (:func:`completion_problem_from_prediction`):

1. Waters of the top layer: each predicted H joins its nearest predicted O within
   :data:`iceafm.diffusion.metrics.OH_MAX_A` (closest pairs first, at most two H per O); H with no
   free O so close are dropped. An O with fewer than two H gets the missing ones by the rigid
   TIP4P geometry (:func:`complete_hydrogens`: pointing down, towards the subsurface that
   receives their H-bonds), so that the top layer is whole waters, held fixed, as the model
   was trained to complete (a fixed layer of whole molecules).
2. The subsurface: as many waters as ice Ih holds (0.92 g/cm^3, :data:`ICE_IH_WATERS_PER_A3`) in
   the scan area between ``top_a`` and ``depth_a`` below the topmost O (the model places atoms, it
   does not decide how many: the same convention as completing a campaign structure), all free.
3. The slab cell: the scan's a, b, periodic in x and y (the scan is not: molecules within the
   model's cutoff of one edge see the opposite edge), c = ``depth_a`` + 2 :data:`VACUUM_A`, the
   topmost O at z = ``depth_a`` + :data:`VACUUM_A`.

:func:`complete_prediction` samples the free atoms with :func:`iceafm.diffusion.tasks.solve`
(conditional score, the configured sampler and steps) and summarises the slab.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from ase import Atoms
from scipy.spatial import cKDTree

from iceafm.diffusion.baselines import ICE1H_UNIT_A
from iceafm.diffusion.metrics import OH_MAX_A, hbond_stats, validity
from iceafm.diffusion.sde import NoiseSchedule
from iceafm.diffusion.tasks import solve
from iceafm.structures.water import ANGLE_HOH_DEG, R_OH_A, hydrogens_along

ICE1H_UNIT_WATERS = 16
"""Waters in GenIce3's ice1h_unit cell (:data:`iceafm.diffusion.baselines.ICE1H_UNIT_A`)."""
ICE_IH_WATERS_PER_A3 = ICE1H_UNIT_WATERS / float(np.prod(ICE1H_UNIT_A))
"""Number density of ice Ih at 0.92 g/cm^3, waters per A^3 (0.0308)."""
VACUUM_A = 10.0
"""Vacuum above the topmost O and below ``depth_a`` in the completed slab's cell, A."""
SAMPLER_OPTIONS = ("projection", "relax_steps")
"""Keys of ``diffusion.sample`` passed on to :func:`iceafm.diffusion.tasks.solve` when the config
has them (not the lattice prior: the scan is no ice Ih supercell)."""


class RealSurfaceError(ValueError):
    """A prediction that cannot be completed (one-line message naming the file)."""


def pair_hydrogens(
    o_xyz: np.ndarray, h_xyz: np.ndarray, oh_max_a: float = OH_MAX_A
) -> list[list[int]]:
    """Indices of the H (rows of ``h_xyz`` [m, 3], A) given to each O (``o_xyz`` [n, 3], A):
    closest O-H pairs within ``oh_max_a`` first, each H to one O, at most two H per O."""
    owners: list[list[int]] = [[] for _ in range(len(o_xyz))]
    if not len(o_xyz) or not len(h_xyz):
        return owners
    pairs = cKDTree(h_xyz).sparse_distance_matrix(cKDTree(o_xyz), oh_max_a, output_type="ndarray")
    taken = np.zeros(len(h_xyz), bool)
    for k in np.argsort(pairs["v"], kind="stable"):
        h, o = int(pairs["i"][k]), int(pairs["j"][k])
        if not taken[h] and len(owners[o]) < 2:
            owners[o].append(h)
            taken[h] = True
    return owners


def complete_hydrogens(o_a: np.ndarray, h_a: np.ndarray) -> np.ndarray:
    """The two H [2, 3] (A) of a water with O at ``o_a`` [3] and predicted H ``h_a`` [k, 3],
    k <= 2: the predicted ones, then the missing ones by the rigid TIP4P geometry
    (:data:`iceafm.structures.water.R_OH_A`, ``ANGLE_HOH_DEG``). One known H: the other in the
    plane of that O-H and -z, on the -z side. None: the H-O-H plane through z and x, bisector
    along -z."""
    h_a = np.asarray(h_a, dtype=np.float64).reshape(-1, 3)
    angle = np.deg2rad(ANGLE_HOH_DEG)
    down = np.array([0.0, 0.0, -1.0])
    if len(h_a) >= 2:
        return h_a[:2]
    if len(h_a) == 1:
        u = (h_a[0] - o_a) / max(float(np.linalg.norm(h_a[0] - o_a)), 1e-9)
        w = down - down.dot(u) * u
        if np.linalg.norm(w) < 1e-6:  # the known O-H along z: any perpendicular will do
            w = np.array([1.0, 0.0, 0.0]) - u[0] * u
        w /= np.linalg.norm(w)
        second = o_a + R_OH_A * (np.cos(angle) * u + np.sin(angle) * w)
        return np.stack([h_a[0], second])
    x = np.array([1.0, 0.0, 0.0])
    return hydrogens_along(np.asarray(o_a, dtype=np.float64), down + x, down - x)


def subsurface_waters(area_a2: float, top_a: float, depth_a: float) -> int:
    """Waters of ice Ih in ``area_a2`` (A^2) between ``top_a`` and ``depth_a`` (A) of depth."""
    return int(round(ICE_IH_WATERS_PER_A3 * area_a2 * max(depth_a - top_a, 0.0)))


def completion_problem_from_prediction(
    prediction: Atoms, top_a: float, depth_a: float, seed: int = 0, source: str = "prediction"
) -> tuple[Atoms, np.ndarray, dict[str, int]]:
    """(slab, fixed mask [n], counts) for completing a predicted top layer (see the module).

    Args:
        prediction: predicted O and H, x, y in the scan frame (A), z relative to the topmost O;
            ``cell`` a, b = the scan size (A).
        top_a, depth_a: the subsurface to generate, A below the topmost O (``diffusion.data``).
        seed: seed of the placeholder positions of the free atoms (the sampler redraws them).
        source: file name for error messages.

    Returns:
        The slab (waters O,H,H: top layer first, then subsurface; cell as in the module), the
        fixed mask (True for the top layer's waters) and counts: ``network_o``, ``network_h``
        (kept), ``network_h_dropped``, ``placed_top_h`` (by :func:`complete_hydrogens`),
        ``subsurface_waters``.

    Raises:
        RealSurfaceError: no predicted O, or a scan size that is not positive.
    """
    symbols = np.array(prediction.get_chemical_symbols())
    pos = np.asarray(prediction.positions, dtype=np.float64)
    o_xyz, h_xyz = pos[symbols == "O"], pos[symbols == "H"]
    width, height = (float(v) for v in prediction.cell.lengths()[:2])
    if not len(o_xyz):
        raise RealSurfaceError(f"{source}: no predicted O, nothing to complete")
    if width <= 0 or height <= 0:
        raise RealSurfaceError(
            f"{source}: scan size {width} x {height} A (cell a, b); expected positive lengths"
        )
    z_top = float(o_xyz[:, 2].max())
    owners = pair_hydrogens(o_xyz, h_xyz)
    rng = np.random.default_rng(seed)
    n_sub = subsurface_waters(width * height, top_a, depth_a)
    positions, fixed = [], []
    for o, hs in enumerate(owners):
        positions += [o_xyz[o], *complete_hydrogens(o_xyz[o], h_xyz[hs])]
        fixed += [True] * 3
    for _ in range(n_sub):
        o = [rng.uniform(0, width), rng.uniform(0, height), z_top - rng.uniform(top_a, depth_a)]
        positions += [o, o, o]
        fixed += [False] * 3
    xyz = np.array(positions)
    xyz[:, 2] += depth_a + VACUUM_A - z_top
    n_waters = len(owners) + n_sub
    slab = Atoms(
        "OH2" * n_waters,
        positions=xyz,
        cell=[width, height, depth_a + 2 * VACUUM_A],
        pbc=(True, True, False),
    )
    kept = sum(len(hs) for hs in owners)
    counts = {
        "network_o": len(owners),
        "network_h": kept,
        "network_h_dropped": len(h_xyz) - kept,
        "placed_top_h": 2 * len(owners) - kept,
        "subsurface_waters": n_sub,
    }
    return slab, np.array(fixed), counts


def o_depth_counts(
    atoms: Atoms, fixed: np.ndarray, z_top_a: float, edges_a: np.ndarray
) -> dict[str, list[int]]:
    """O per depth bin below ``z_top_a`` (bin edges ``edges_a``, A; negative: above it), split
    into the network's (fixed) and the generated (free) ones: ``{"network": [...],
    "diffusion": [...]}``."""
    o = np.array(atoms.get_chemical_symbols()) == "O"
    depth = z_top_a - atoms.positions[:, 2]
    return {
        name: np.histogram(depth[o & mask], edges_a)[0].tolist()
        for name, mask in (("network", fixed), ("diffusion", ~fixed))
    }


def complete_prediction(
    prediction: Atoms,
    model: torch.nn.Module,
    schedule: NoiseSchedule,
    data: dict[str, Any],
    sample: dict[str, Any],
    device: str | torch.device = "cpu",
    source: str = "prediction",
) -> tuple[Atoms, dict[str, Any]]:
    """The completed slab and its summary.

    Args:
        prediction: the network's top layer (see :func:`completion_problem_from_prediction`).
        model, schedule: the diffusion model (:func:`iceafm.diffusion.train.load_checkpoint`).
        data: ``diffusion.data`` (``top_a``, ``depth_a``, A). sample: ``method``, ``steps``,
            ``seed`` of ``diffusion.sample`` (and those of :data:`SAMPLER_OPTIONS` it has).

    Returns:
        The slab (extxyz-ready: ``arrays['fixed']`` 1 for the network's atoms, ``info`` with the
        sampler, steps, NFE, seed, schedule, counts and ``z_top_o_a``, the network's topmost O)
        and a summary: the counts, ``validity`` (every water whole, no clash;
        :func:`iceafm.diffusion.metrics.validity`), the H-bond statistics, O per 1 A depth bin
        below the network's topmost O (``o_per_depth_bin``, ``depth_bin_edges_a``) beside ice
        Ih's (``ice_ih_o_per_depth_bin``), ``nfe``, the cell (A).
    """
    top_a, depth_a = float(data["top_a"]), float(data["depth_a"])
    slab, fixed, counts = completion_problem_from_prediction(
        prediction, top_a, depth_a, int(sample["seed"]), source
    )
    options = {key: sample[key] for key in SAMPLER_OPTIONS if key in sample}
    (atoms,), nfe = solve(
        model,
        schedule,
        [(slab, fixed)],
        depth_a,
        int(sample["steps"]),
        sample["method"],
        int(sample["seed"]),
        device,
        **options,
    )
    z_top = float(slab.positions[fixed & (slab.numbers == 8), 2].max())  # the network's top O
    atoms.info.update(counts, z_top_o_a=z_top, top_a=top_a, depth_a=depth_a)
    edges = np.arange(-2.0, np.ceil(depth_a) + 2.0 + 1e-9, 1.0)
    summary = {
        **counts,
        "validity": bool(validity(atoms)),
        **hbond_stats([atoms]),
        "depth_bin_edges_a": edges.tolist(),
        "o_per_depth_bin": o_depth_counts(atoms, fixed, z_top, edges),
        "ice_ih_o_per_depth_bin": ICE_IH_WATERS_PER_A3 * float(slab.cell.area(2)),
        "nfe": int(nfe),
        "sampler": sample["method"],
        "steps": int(sample["steps"]),
        "cell_a": [round(float(v), 4) for v in atoms.cell.lengths()],
        "top_a": top_a,
        "depth_a": depth_a,
    }
    return atoms, summary


def run_completion(
    prediction_path: str,
    checkpoint: str,
    sample: dict[str, Any],
    slab_path: str,
    summary_path: str,
    figure_paths: tuple[str, ...],
    device: str = "auto",
) -> dict[str, Any]:
    """Rule ``diffusion_complete_real``: the completed slab (extxyz), its summary (JSON, without
    provenance: the script stamps it) and figure (:func:`iceafm.figures.real_surface.
    plot_completed_surface`), each written atomically. ``data`` comes from the checkpoint (the
    model was trained on slabs to its ``depth_a``). Returns the summary."""
    from ase.io import read, write

    from iceafm.diffusion.train import load_checkpoint, resolve_device
    from iceafm.figures.real_surface import plot_completed_surface
    from iceafm.io.atomic import atomic_path, write_json_atomic

    try:
        prediction = read(prediction_path, format="extxyz")
    except Exception as err:  # ase raises many kinds for a bad file
        raise RealSurfaceError(f"{prediction_path}: not a readable extxyz ({err})") from None
    dev = resolve_device(device)
    model, schedule, section = load_checkpoint(checkpoint, dev)
    atoms, summary = complete_prediction(
        prediction, model, schedule, section["data"], sample, dev, source=prediction_path
    )
    name = os.path.splitext(os.path.basename(prediction_path))[0]
    atoms.info["source"] = name
    summary = {"source": name, **summary}
    with atomic_path(slab_path) as tmp:
        write(tmp, atoms, format="extxyz")
    write_json_atomic(summary_path, summary)
    plot_completed_surface(atoms, summary, *figure_paths)
    return summary
