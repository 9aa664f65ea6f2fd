"""The network-free end of the diffusion sampler: H assignment, rigid TIP4P/Ice fit, relaxation,
and the lattice prior of completions."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from iceafm.diffusion.metrics import free_oxygens, validity
from iceafm.diffusion.projection import assign_hydrogens, project_waters, rigid_fit
from iceafm.diffusion.tasks import completion_problem, lattice_prior
from iceafm.structures.ice_basal import basal_slab
from iceafm.structures.water import ANGLE_HOH_DEG, R_OH_A


@pytest.fixture(scope="module")
def slab():
    """Ice Ih basal slab, 1 x 1 cells, 4 bilayers: 32 rigid TIP4P waters."""
    return basal_slab((1, 1), 4, 10.0, 3)[0]


def _geometry(mol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """O-H lengths [m, 2] (A) and H-O-H angles [m] (deg) of waters [m, 3, 3]."""
    v1, v2 = mol[:, 1] - mol[:, 0], mol[:, 2] - mol[:, 0]
    r = np.stack([np.linalg.norm(v1, axis=1), np.linalg.norm(v2, axis=1)], axis=1)
    cos = (v1 * v2).sum(1) / (r[:, 0] * r[:, 1])
    return r, np.degrees(np.arccos(cos))


def test_assign_hydrogens_recovers_molecules(slab):
    """H shuffled (and some moved by a lattice vector) go back to their own O."""
    n = len(slab) // 3
    mol = slab.positions.reshape(n, 3, 3)
    cell = np.asarray(slab.cell)
    h = mol[:, 1:].reshape(-1, 3).copy()
    h[::5] += cell[0]
    perm = np.random.default_rng(0).permutation(len(h))
    pick = assign_hydrogens(mol[:, 0], h[perm], cell)
    owner = perm[pick] // 2
    assert (owner == np.arange(n)[:, None]).all()
    with pytest.raises(ValueError, match="two H per O"):
        assign_hydrogens(mol[:, 0], h[:-1], cell)


def test_rigid_fit_geometry():
    """A distorted water becomes TIP4P/Ice-shaped with its O nearly in place; a rigid water is
    returned unchanged."""
    o = np.array([[1.0, 2.0, 3.0]])
    h1, h2 = o + [[1.2, 0.0, 0.0]], o + [[0.0, 1.1, 0.2]]
    out = rigid_fit(o, h1, h2)
    r, angle = _geometry(out)
    assert np.allclose(r, R_OH_A, atol=1e-9) and np.allclose(angle, ANGLE_HOH_DEG, atol=1e-6)
    assert np.linalg.norm(out[0, 0] - o[0]) < 0.15
    again = rigid_fit(out[:, 0], out[:, 1], out[:, 2])
    assert np.allclose(again, out, atol=1e-9)


def test_projection_repairs_a_broken_slab(slab):
    """Scrambled H, stretched bonds and two clashing molecules: ``rigid`` leaves the clash,
    ``relax`` gives a valid slab with O near the input O and the fixed molecules untouched;
    ``none`` is a copy; an unknown method is refused."""
    broken = slab.copy()
    rng = np.random.default_rng(1)
    n = len(slab) // 3
    pos = broken.positions.reshape(n, 3, 3)
    pos[:, 1:] += rng.normal(0, 0.3, (n, 2, 3))
    pos[5] = pos[4] + [0.8, 0.0, 0.0]  # clash
    h = pos[3:, 1:].reshape(-1, 3)  # the fixed molecules 0-2 keep their H
    pos[3:, 1:] = h[rng.permutation(len(h))].reshape(n - 3, 2, 3)
    pos[:3] = slab.positions[:9].reshape(3, 3, 3)
    broken.positions = pos.reshape(-1, 3)
    fixed = np.zeros(len(slab), bool)
    fixed[:9] = True
    assert not validity(broken)
    rigid = project_waters(broken, fixed, "rigid")
    r, angle = _geometry(rigid.positions.reshape(n, 3, 3)[3:])
    assert np.allclose(r, R_OH_A, atol=1e-6) and np.allclose(angle, ANGLE_HOH_DEG, atol=1e-4)
    assert not validity(rigid)
    relaxed = project_waters(broken, fixed, "relax", relax_steps=30)
    assert validity(relaxed) and relaxed.info["projection"] == "relax"
    assert np.array_equal(relaxed.positions[fixed], broken.positions[fixed])
    moved = np.linalg.norm(relaxed.positions[::3] - broken.positions[::3], axis=1)
    assert np.median(moved) < 0.3 and moved.max() < 1.5
    assert np.array_equal(project_waters(broken, fixed, "none").positions, broken.positions)
    with pytest.raises(ValueError, match="projection = 'magic'"):
        project_waters(broken, fixed, "magic")


def test_lattice_prior_continues_ice(slab):
    """On a perfect ice slab the noise-free lattice prior puts every free O on a true O (and
    keeps the fixed atoms and the composition); noise moves atoms by about sigma; a cell with
    no ice1h_unit lattice is refused."""
    problem = completion_problem(slab, 3.0, 8.0)
    atoms, fixed = problem
    start = lattice_prior(problem, 3.0, 8.0, 0.0, 0)
    assert start.shape == atoms.positions.shape
    assert np.array_equal(start[fixed], atoms.positions[fixed])
    guess = atoms.copy()
    guess.positions = start
    true_o, got_o = free_oxygens(atoms, fixed), free_oxygens(guess, fixed)
    cell = np.asarray(atoms.cell)
    delta = got_o[:, None, :] - true_o[None, :, :]
    delta[..., :2] -= np.round(delta[..., :2] / np.diag(cell)[:2]) * np.diag(cell)[:2]
    nearest = np.linalg.norm(delta, axis=-1).min(axis=1)
    assert nearest.max() < 0.05 and len(got_o) == len(true_o)
    noisy = lattice_prior(problem, 3.0, 8.0, 0.2, 1)
    rms = np.sqrt(((noisy - start)[~fixed] ** 2).sum(1).mean())
    assert 0.2 < rms < 0.5  # sqrt(3) * 0.2 = 0.35 A
    odd = Atoms(atoms.numbers, atoms.positions, cell=np.diag([11.0, 11.0, 30.0]), pbc=True)
    with pytest.raises(ValueError, match="ice1h_unit"):
        lattice_prior((odd, fixed), 3.0, 8.0, 0.2, 0)
