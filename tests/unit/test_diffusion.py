"""Equivariant score-based diffusion: symmetry, learning, samplers, metrics, resume after kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from ase.io import write

from iceafm.diffusion.baselines import lattice_for
from iceafm.diffusion.config import diffusion_section
from iceafm.diffusion.data import collate, surface_crop
from iceafm.diffusion.graph import build_graph, mic_xy
from iceafm.diffusion.metrics import (
    completion_counts,
    free_oxygens,
    hbond_stats,
    oo_distances,
    tip4p_ice_energy_per_molecule,
    validity,
    w1,
)
from iceafm.diffusion.samplers import SAMPLERS, sample
from iceafm.diffusion.score_net import EquivariantScoreNet, PlainScoreNet
from iceafm.diffusion.tasks import (
    completion_problem,
    consensus_completion,
    finish_samples,
    initial_positions,
    sample_problems,
    solve,
)
from iceafm.diffusion.train import load_checkpoint, train
from iceafm.structures.ice_basal import basal_slab, ice_ih_bulk

TINY = {
    "model": {"scalars": 8, "vectors": 2, "tensors": 1, "radial_hidden": 8, "layers": 2},
    "train": {"batch_size": 2, "lr": 0.005, "ema_beta": 0.9},
}


@pytest.fixture(scope="module")
def slab144():
    """Ice Ih basal slab, 2 x 1 cells, 3 bilayers: 48 waters, 144 atoms."""
    return basal_slab((2, 1), 3, 10.0, 1)[0]


@pytest.fixture(scope="module")
def small_slabs():
    return [surface_crop(basal_slab((1, 1), 3, 10.0, s)[0], 8.0) for s in range(4)]


def _rotation_z(angle: float) -> torch.Tensor:
    c, s = np.cos(angle), np.sin(angle)
    return torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=torch.float32)


def _score(model, slab, positions, cells):
    graph = build_graph(positions, cells, slab.batch, slab.molecule, model.cutoff_a)
    sigma = torch.full((len(positions),), 0.3)
    with torch.no_grad():
        return model(positions, sigma, slab.species, slab.fixed, cells, slab.batch, graph)


@pytest.mark.parametrize("model_cls", [EquivariantScoreNet, PlainScoreNet])
def test_score_symmetries(slab144, model_cls):
    """Equivariant net: rotations about z, vertical mirrors, xy translations, lattice shifts and
    permutations of like atoms act on its output as on vectors (to float32 rounding); the plain
    baseline is invariant to translations and shifts but not equivariant to rotations."""
    torch.manual_seed(0)
    model = model_cls()
    slab = collate([slab144], [np.arange(len(slab144)) < 30])
    assert len(slab144) > 100
    x = slab.positions + 0.3 * torch.randn_like(slab.positions)
    ref = _score(model, slab, x, slab.cells)
    scale = ref.abs().max()
    tol = 2e-5 * max(float(scale), 1.0)

    # xy translation and lattice-vector shifts of single atoms: exact invariance (both nets).
    shifted = x + torch.tensor([1.7, -3.1, 0.4])
    shifted[7] += slab.cells[0, 0]
    shifted[50] -= 2 * slab.cells[0, 1]
    assert torch.allclose(_score(model, slab, shifted, slab.cells), ref, atol=tol)

    # Permutation of whole molecules and of the two H of one molecule.
    n_water = len(slab144) // 3
    order = torch.randperm(n_water)
    perm = (3 * order[:, None] + torch.arange(3)).ravel()
    perm[[1, 2]] = perm[[2, 1]]
    permuted = collate([slab144[perm.numpy()]], [slab.fixed.numpy()[perm.numpy()]])
    out = _score(model, permuted, x[perm], slab.cells)
    assert torch.allclose(out, ref[perm], atol=tol)

    rot = _rotation_z(1.234)
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0])) @ _rotation_z(0.4)
    for op in (rot, _rotation_z(2 * np.pi / 3) @ mirror):
        out = _score(model, slab, x @ op.T, slab.cells @ op.T)
        if model_cls is EquivariantScoreNet:
            assert torch.allclose(out, ref @ op.T, atol=tol), float((out - ref @ op.T).abs().max())
        else:
            assert not torch.allclose(out, ref @ op.T, atol=1e-2)


@pytest.fixture(scope="module")
def trained(small_slabs, tmp_path_factory):
    """A tiny model trained for 120 steps on three slabs, validated on a fourth."""
    section = diffusion_section(
        {**TINY, "train": {**TINY["train"], "epochs": 3, "steps_per_epoch": 40}}
    )
    ckpt = tmp_path_factory.mktemp("diffusion") / "checkpoint.pt"
    history = train(
        section, small_slabs[:3], ckpt, "cpu", validation=small_slabs[3:], progress=False
    )
    return ckpt, history


def test_denoising_loss_beats_trivial(trained):
    """The EMA model's held-out denoising loss falls well below the F = 0 predictor's."""
    _, history = trained
    assert history["val_loss"][-1] < 0.7 * history["trivial_val_loss"]
    assert history["val_loss"][-1] < history["val_loss"][0]


@pytest.mark.parametrize("method", SAMPLERS)
def test_samplers_finite_inside_cell(trained, small_slabs, method):
    """Every sampler returns finite positions wrapped into the cell in xy and inside it in z;
    fixed atoms stay exactly where they were; NFE is as documented."""
    model, schedule, _ = load_checkpoint(trained[0])
    problems = [completion_problem(a, 3.0, 8.0) for a in small_slabs[:2]]
    out, nfe = solve(model, schedule, problems, 8.0, 4, method, seed=3)
    assert nfe == {"heun": 7, "euler_maruyama": 4, "predictor_corrector": 7}[method]
    for atoms, (ref, fixed) in zip(out, problems, strict=True):
        assert np.isfinite(atoms.positions).all()
        frac = atoms.get_scaled_positions(wrap=False)
        assert (frac[:, :2] >= 0).all() and (frac[:, :2] < 1).all()
        assert (frac[:, 2] > 0).all() and (frac[:, 2] < 1).all()
        assert np.allclose(atoms.positions[fixed], ref.positions[fixed], atol=1e-5)
        assert atoms.info["sampler"] == method and atoms.info["steps"] == 4


def test_lattice_prior_and_projection_in_solve(trained, small_slabs):
    """A completion from the lattice prior with the relax projection: fixed atoms unchanged,
    every sample valid, the schedule starting at the prior's noise level, all recorded."""
    model, schedule, _ = load_checkpoint(trained[0])
    problems = [completion_problem(a, 3.0, 8.0) for a in small_slabs[:2]]
    out, nfe = solve(
        model,
        schedule,
        problems,
        8.0,
        3,
        "heun",
        1,
        prior="lattice",
        prior_sigma_a=0.2,
        projection="relax",
        relax_steps=10,
    )
    assert nfe == 5
    for atoms, (ref, fixed) in zip(out, problems, strict=True):
        assert np.allclose(atoms.positions[fixed], ref.positions[fixed], atol=1e-5)
        assert validity(atoms)
        assert atoms.info["prior"] == "lattice" and atoms.info["projection"] == "relax"
        assert atoms.info["schedule_sigma_max"] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="prior = 'lattices'"):
        solve(model, schedule, problems, 8.0, 3, "heun", 1, prior="lattices")


def test_consensus_of_lattice_draws(trained, small_slabs):
    """solve = sample_problems + finish_samples (same draw); the consensus of three lattice-prior
    draws is a valid slab with the fixed layer in place and its O inside the draws' spread."""
    model, schedule, _ = load_checkpoint(trained[0])
    problems = [completion_problem(a, 3.0, 8.0) for a in small_slabs[:2]]
    prior = dict(prior="lattice", prior_sigma_a=0.2)
    draws = [
        sample_problems(model, schedule, problems, 8.0, 3, "heun", seed, **prior)
        for seed in range(3)
    ]
    out, _ = solve(model, schedule, problems, 8.0, 3, "heun", 0, projection="rigid", **prior)
    again = finish_samples(draws[0][0], problems, draws[0][1], "rigid")[0]
    assert np.allclose(again.positions, out[0].positions) and again.info == out[0].info
    for p, (ref, fixed) in enumerate(problems):
        centre = consensus_completion([raw[p] for raw, _ in draws], problems[p], "relax", 10)
        assert validity(centre) and centre.info["consensus_of"] == 3
        assert np.allclose(centre.positions[fixed], ref.positions[fixed], atol=1e-5)
        cell = np.asarray(ref.cell)
        spread = [
            np.linalg.norm(
                mic_xy(free_oxygens(raw[p], fixed) - free_oxygens(centre, fixed), cell), axis=1
            )
            for raw, _ in draws
        ]
        assert np.min(spread, axis=0).max() < 0.5


def test_initial_positions_cover_cell(small_slabs):
    slab = collate(small_slabs[:1])
    x = initial_positions(slab, torch.tensor([5.0]), 2.0, seed=0)
    frac = torch.linalg.solve(slab.cells[0].T, x.T).T
    assert (frac[:, :2] >= 0).all() and (frac[:, :2] < 1).all()
    assert abs(float(x[:, 2].mean()) - 5.0) < 1.0


def test_sampler_rejects_bad_steps(trained, small_slabs):
    model, schedule, _ = load_checkpoint(trained[0])
    slab = collate(small_slabs[:1])
    with pytest.raises(ValueError, match="steps = 0"):
        sample(model, schedule, slab, slab.positions, 0)


def test_metrics_on_perfect_ice():
    """Bulk ice Ih: valid, every molecule donates and accepts 2 H-bonds (ice rules 100 %);
    identical distributions W1 = 0, shifted by d: W1 = d; TIP4P/Ice binds (about -0.6 eV)."""
    bulk = ice_ih_bulk((1, 1), 2, 5)
    assert validity(bulk)
    stats = hbond_stats([bulk])
    assert stats["donated_per_molecule"] == 2.0
    assert stats["hbonds_per_molecule"] == 4.0 and stats["ice_rule_fraction"] == 1.0
    d = oo_distances(bulk)
    assert w1(d, d) == 0.0
    assert w1(d + 0.3, d) == pytest.approx(0.3)
    slab = basal_slab((1, 1), 2, 10.0, 5)[0]
    energy = tip4p_ice_energy_per_molecule(slab)
    assert -0.8 < energy < -0.3
    moved = slab.copy()
    moved.positions += [2.0, -1.0, 0.5]
    assert tip4p_ice_energy_per_molecule(moved) == pytest.approx(energy, abs=1e-9)


def test_validity_detects_defects():
    slab = basal_slab((1, 1), 2, 10.0, 5)[0]
    stretched = slab.copy()
    stretched.positions[1] = stretched.positions[0] + [1.5, 0.0, 0.0]  # H off its O
    assert not validity(stretched)
    clash = slab.copy()
    clash.positions[3:6] = slab.positions[0:3] + [0.0, 0.0, 1.0]  # two molecules 1 A apart
    assert not validity(clash)


def test_completion_f1_and_lattice_baseline():
    """Truth scores F1 1 (also when shifted by a lattice vector); O displaced by 1.5 A score 0;
    the ice lattice baseline is exact on a perfect ice slab."""
    slab = basal_slab((1, 1), 4, 10.0, 9)[0]
    problem = completion_problem(slab, 3.0, 8.0)
    atoms, fixed = problem
    true_o = free_oxygens(atoms, fixed)
    z_top = atoms.positions[::3, 2].max()
    cell = np.asarray(atoms.cell)
    bands = [(0.0, 4.0), (4.0, 8.0)]
    for pred in (true_o, true_o + cell[0], true_o - cell[1]):
        assert [c.scores()["f1"] for c in completion_counts(pred, true_o, z_top, cell, bands)] == [
            1.0,
            1.0,
        ]
    far = completion_counts(true_o + [0, 0, 1.5], true_o, z_top, cell, bands)
    assert sum(c.tp for c in far) == 0
    lattice = lattice_for(problem, 3.0, 8.0)
    assert [c.scores()["f1"] for c in completion_counts(lattice, true_o, z_top, cell, bands)] == [
        1.0,
        1.0,
    ]


def test_resume_after_kill(small_slabs, tmp_path):
    """A training process killed with SIGKILL and resumed ends where an uninterrupted run ends."""
    section = diffusion_section(
        {**TINY, "train": {**TINY["train"], "epochs": 6, "steps_per_epoch": 8}}
    )
    config = tmp_path / "diffusion.json"
    config.write_text(json.dumps(section))
    files = []
    for k, atoms in enumerate(small_slabs[:2]):
        files.append(str(tmp_path / f"ice_basal-{k:05d}.extxyz"))
        write(files[-1], atoms, format="extxyz")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "iceafm.diffusion.train", str(config)]
    killed_ckpt = tmp_path / "killed.pt"
    proc = subprocess.Popen([*cmd, str(killed_ckpt), *files, "--device", "cpu"], env=env)
    epoch = 0
    while proc.poll() is None:
        if killed_ckpt.exists():
            epoch = torch.load(killed_ckpt, weights_only=False)["epoch"]
            if epoch >= 2:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.05)
    proc.wait()
    assert 2 <= epoch < 6, "the run was not interrupted mid-training"
    subprocess.run([*cmd, str(killed_ckpt), *files, "--device", "cpu"], env=env, check=True)
    full_ckpt = tmp_path / "full.pt"
    subprocess.run([*cmd, str(full_ckpt), *files, "--device", "cpu"], env=env, check=True)
    resumed = torch.load(killed_ckpt, weights_only=False)
    full = torch.load(full_ckpt, weights_only=False)
    assert resumed["epoch"] == full["epoch"] == 6
    assert resumed["history"]["train_loss"] == pytest.approx(full["history"]["train_loss"])
    for key, value in full["ema"].items():
        if torch.is_floating_point(value):
            assert torch.allclose(resumed["ema"][key], value, rtol=1e-5, atol=1e-6), key
