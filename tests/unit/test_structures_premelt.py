"""Premelt family: OpenMM TIP4P/Ice trajectories (iceafm.md) -> decorrelated frames -> samples."""

import json

import ase.io
import numpy as np
import pytest

from iceafm.structures import (
    StructureError,
    generate_structure,
    read_user_structure,
    write_structure,
)
from iceafm.structures.checks import closest_nonbonded_distance, hbond_counts, oh_bond_lengths
from iceafm.structures.premelt import (
    capacity,
    premelt_start,
    run_premelt_trajectory,
    sample_source,
    trajectory_temperatures,
)

PREMELT = {
    "count": 4,
    "bilayers": 3,
    "supercell": [1, 1],
    "vacuum_a": 10.0,
    "melt_bilayers": 1,
    "temperatures_below_tm_k": [10.0, 20.0],
    "trajectories_per_temperature": 1,
    "equilibration_ps": 2.0,
    "production_ps": 2.0,
    "frame_spacing_ps": 1.0,
    "timestep_fs": 2.0,
    "friction_per_ps": 1.0,
    "cutoff_a": 9.0,
}
SEED = 2


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """The two trajectories' frames files (about 2 s each on one core)."""
    folder = tmp_path_factory.mktemp("md")
    paths = []
    for t in range(2):
        paths.append(str(folder / f"traj{t:03d}.extxyz"))
        run_premelt_trajectory(PREMELT, SEED, t, paths[-1], folder / f"{t}.npz", platform="CPU")
    return paths


def test_trajectories_run_at_their_temperatures_below_tm():
    assert trajectory_temperatures(PREMELT) == [260.0, 250.0]
    assert capacity(PREMELT) == 4
    # consecutive samples come from different trajectories
    assert [sample_source(i, PREMELT) for i in range(4)] == [(0, 0), (1, 0), (0, 1), (1, 1)]


def test_samples_are_rigid_intact_frames_with_fixed_base_and_moving_top(frames):
    for index in range(4):
        atoms = generate_structure("premelt", index, PREMELT, SEED, md_frames=frames)
        trajectory, frame = sample_source(index, PREMELT)
        start, fixed, _ = premelt_start(PREMELT, SEED, trajectory)
        np.testing.assert_allclose(oh_bond_lengths(atoms), 0.9572, atol=1e-4)
        assert closest_nonbonded_distance(atoms) > 1.4
        shift = np.linalg.norm(atoms.positions - start.positions, axis=1).reshape(-1, 3).max(1)
        assert atoms.info["n_fixed_water"] == fixed.sum() == 16
        assert shift[fixed].max() < 1e-4  # massless in OpenMM: they do not move
        assert shift[~fixed].min() > 0.05
        donated, _ = hbond_counts(atoms)
        assert donated[~fixed].sum() > 0  # still an ice surface, not a gas
        assert atoms.info["temperature_k"] == trajectory_temperatures(PREMELT)[trajectory]
        assert atoms.info["md_frame"] == frame and atoms.info["trajectory"] == trajectory
        assert (atoms.cell.lengths() == start.cell.lengths()).all()
        assert list(atoms.pbc) == [True, True, False]


def test_held_out_twin_is_an_independent_trajectory_at_the_same_temperature(frames, tmp_path):
    """Rule md_reference's trajectory: the same settings and temperature as trajectory 0, its
    own proton disorder and thermostat seed, frames marked held_out (the training ones not)."""
    twin_path = tmp_path / "twin.extxyz"
    run_premelt_trajectory({**PREMELT, "held_out": True}, SEED, 0, twin_path,
                           tmp_path / "twin.npz", platform="CPU")  # fmt: skip
    twin, training = ase.io.read(twin_path, ":"), ase.io.read(frames[0], ":")
    assert len(twin) == len(training)
    assert all(a.info["held_out"] for a in twin) and "held_out" not in training[0].info
    assert twin[0].info["temperature_k"] == training[0].info["temperature_k"]
    assert np.allclose(twin[0].cell.lengths()[:2], training[0].cell.lengths()[:2])  # z: slab height
    start, _, md_seed = premelt_start(PREMELT, SEED, 0)
    twin_start, _, twin_seed = premelt_start(PREMELT, SEED, 0, held_out=True)
    assert twin_seed != md_seed and not np.allclose(twin_start.positions, start.positions)
    assert not np.allclose(twin[-1].positions, training[-1].positions)


def test_frames_of_one_trajectory_differ_and_round_trip_through_the_importer(frames, tmp_path):
    a = generate_structure("premelt", 0, PREMELT, SEED, md_frames=frames)
    b = generate_structure("premelt", 2, PREMELT, SEED, md_frames=frames)
    assert np.abs(a.positions - b.positions).max() > 0.1
    path = tmp_path / "premelt-00000.extxyz"
    write_structure(a, path)
    back = read_user_structure(path)
    np.testing.assert_allclose(back.positions, a.positions, atol=1e-6)
    header = ase.io.read(path, format="extxyz").info
    assert json.loads(header["params"]) == {k: v for k, v in PREMELT.items() if k != "count"}


def test_a_molecule_evaporated_from_the_slab_is_not_in_the_sample(frames, tmp_path):
    """A frame with one water 8 A above the slab (gas phase): the sample is the slab alone."""
    trajectory = ase.io.read(frames[0], ":")
    frame = trajectory[0]
    top = frame.positions[frame.numbers == 8, 2].max()
    vapour = frame.copy()
    vapour.positions[:3] += [0.0, 0.0, top + 8.0 - vapour.positions[0, 2]]  # the first water
    edited = tmp_path / "traj000.extxyz"
    ase.io.write(edited, [vapour, *trajectory[1:]], format="extxyz")
    clean = generate_structure("premelt", 0, PREMELT, SEED, md_frames=frames)
    sample = generate_structure("premelt", 0, PREMELT, SEED, md_frames=[edited, *frames[1:]])
    assert "gas_phase_waters_removed" not in clean.info
    assert sample.info["gas_phase_waters_removed"] == 1 and len(sample) == len(clean) - 3
    np.testing.assert_allclose(sample.positions, clean.positions[3:])


def test_a_sample_beyond_the_frames_is_one_line():
    with pytest.raises(StructureError, match="only 2 frames"):
        sample_source(4, PREMELT)


def test_melting_everything_is_rejected():
    with pytest.raises(StructureError, match="melt_bilayers = 3"):
        premelt_start({**PREMELT, "melt_bilayers": 3}, SEED, 0)
