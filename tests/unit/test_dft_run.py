"""Real GPAW on one water molecule: exported grids, potential sign/units, failure handling."""

import json
import os
import signal
import subprocess
import sys
import time

import ase.io
import numpy as np
import pytest
from dft_fixtures import tiny_dft_config, write_water

from iceafm.dft.cube import load_density_cube, load_potential_cube
from iceafm.dft.errors import DftFailedError
from iceafm.dft.record import require_converged, structure_sha256
from iceafm.dft.run import EXIT_RETRY, run_dft

COULOMB_V_A = 14.399645  # e / (4 pi eps0) in V A


def _outputs(folder):
    return [folder / "hartree.cube", folder / "density.cube", folder / "dft.json"]


@pytest.fixture(scope="module")
def water_run(tmp_path_factory):
    """Water written with 2.5 A vacuum; the run must extend it to 7 A on every side."""
    folder = tmp_path_factory.mktemp("water")
    structure = write_water(folder / "water.extxyz", vacuum_a=2.5)
    config = tiny_dft_config(vacuum_a=7.0)
    code = run_dft(structure, *_outputs(folder), None, config, 1, folder / "scratch")
    assert code == 0
    return structure, folder


def test_cubes_share_grid_and_frame(water_run):
    structure, folder = water_run
    phi = load_potential_cube(folder / "hartree.cube")
    rho = load_density_cube(folder / "density.cube")
    assert phi.same_grid(rho)
    atoms = ase.io.read(structure)
    np.testing.assert_allclose(phi.atoms.positions, atoms.positions, atol=1e-5)
    z_a = phi.origin_a[2] + np.arange(phi.data.shape[2]) * phi.spacing_a[2, 2]
    assert z_a.min() < atoms.positions[:, 2].min() - 6.5
    voxel_a3 = abs(np.linalg.det(rho.spacing_a))
    assert rho.data.sum() * voxel_a3 == pytest.approx(10.0, rel=0.01)  # all-electron H2O


def test_potential_sign_and_units_match_the_dipole_far_away(water_run):
    """phi (V) 3.5 A from the molecule agrees with the dipole field of GPAW's own dipole
    moment: positive on the H side, negative on the O side, within 30 % (zero boundary
    conditions of the finite box lower the far field a little)."""
    structure, folder = water_run
    record = require_converged(folder / "dft.json")
    dipole_ea = np.asarray(record["dipole_moment_e_a"])
    phi = load_potential_cube(folder / "hartree.cube")
    atoms = ase.io.read(structure)
    valence = np.where(atoms.numbers == 8, 6.0, 1.0)
    centre_a = valence @ atoms.positions / valence.sum()
    axis = dipole_ea / np.linalg.norm(dipole_ea)
    spacing_a = np.diag(phi.spacing_a)
    for sign in (1.0, -1.0):
        index = np.round((centre_a + sign * 3.5 * axis - phi.origin_a) / spacing_a).astype(int)
        r_a = phi.origin_a + index * spacing_a - centre_a
        estimate_v = COULOMB_V_A * dipole_ea @ r_a / np.linalg.norm(r_a) ** 3
        value_v = phi.data[tuple(index)]
        assert np.sign(value_v) == np.sign(estimate_v) == sign
        assert 0.7 < value_v / estimate_v < 1.3


def test_record_describes_the_run(water_run):
    structure, folder = water_run
    record = json.loads((folder / "dft.json").read_text())
    assert record["status"] == "converged" and record["converged"] is True
    assert record["structure_sha256"] == structure_sha256(structure)
    assert record["ranks"] == 1 and record["attempt"] == 1
    assert 0 < record["scf_iterations"] < record["settings"]["maxiter"]
    assert record["core_seconds"] >= record["wall_seconds"] > 0
    assert not any((folder / "scratch").glob("*.gpw"))


def test_non_convergence_retries_with_robust_settings_then_records_failure(tmp_path):
    structure = write_water(tmp_path / "water.extxyz", vacuum_a=4.0)
    config = tiny_dft_config(maxiter=2, retries=1)
    config["robust"]["maxiter_factor"] = 1.0
    outputs = _outputs(tmp_path / "out")
    assert run_dft(structure, *outputs, None, config, 1, tmp_path / "scratch") == EXIT_RETRY
    assert not any(path.exists() for path in outputs)
    assert run_dft(structure, *outputs, None, config, 2, tmp_path / "scratch") == 0
    with pytest.raises(DftFailedError, match="SCF not converged in 2 iterations"):
        load_potential_cube(outputs[0])
    with pytest.raises(DftFailedError, match="attempt 2/2, robust level 1"):
        require_converged(outputs[2])
    record = json.loads(outputs[2].read_text())
    # The attempt after an SCF non-convergence is the robust one: smearing up, mixing down.
    assert record["robust_level"] == 1
    assert record["settings"]["smearing_ev"] == pytest.approx(2 * config["smearing_ev"])
    assert record["settings"]["mixer"]["beta"] == pytest.approx(config["mixer"]["beta"] / 2)
    assert [a["outcome"] for a in record["attempts"]] == ["scf_not_converged", "failed"]
    assert "SCF not converged" in record["attempts"][0]["reason"]
    assert not (tmp_path / "scratch" / "attempts.json").exists()


def test_scratch_folder_keeps_files_it_did_not_write(tmp_path):
    """--scratch on a folder that holds other files (even checkpoint-like names) leaves them."""
    structure = write_water(tmp_path / "water.extxyz", vacuum_a=4.0)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    foreign = {"notes.txt": "mine", "0123456789abcdef01234567.gpw": "not a checkpoint"}
    for name, text in foreign.items():
        (scratch / name).write_text(text)
    config = tiny_dft_config()
    code = subprocess.run(
        [sys.executable, "-m", "iceafm.dft", "--structure", str(structure),
         "--hartree", str(tmp_path / "h.cube"), "--density", str(tmp_path / "d.cube"),
         "--record", str(tmp_path / "dft.json"), "--log", str(tmp_path / "gpaw.log"),
         "--settings", json.dumps(config), "--scratch", str(scratch), "--checkpoint-every", "1"],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False,
    ).returncode  # fmt: skip
    assert code == 0
    assert {p.name: p.read_text() for p in scratch.iterdir()} == foreign


def _dft_command(tmp_path, structure, config, out, attempt: int) -> list[str]:
    outputs = _outputs(out)
    return [
        sys.executable, "-m", "iceafm.dft", "--structure", str(structure),
        "--hartree", str(outputs[0]), "--density", str(outputs[1]), "--record", str(outputs[2]),
        "--log", str(tmp_path / "gpaw.log"), "--settings", json.dumps(config),
        "--attempt", str(attempt), "--scratch", str(tmp_path / "scratch" / out.name),
        "--checkpoint-every", "2",
    ]  # fmt: skip


@pytest.mark.slow
def test_killed_run_resumes_from_checkpoint_with_identical_settings_and_energy(tmp_path):
    """SIGKILL of the GPAW process mid-SCF, then Snakemake's retry (attempt 2): the retry
    resumes from the checkpoint with the config's settings (not the robust ones meant for
    SCF non-convergence), and its energy matches an uninterrupted run within the SCF
    tolerance; dft.json says why the first attempt ended."""
    structure = write_water(tmp_path / "water.extxyz", vacuum_a=4.0)
    config = tiny_dft_config()
    config["convergence"]["density"] = 1e-7
    config["mixer"]["beta"] = 0.02
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed_out = tmp_path / "killed"
    first = subprocess.Popen(_dft_command(tmp_path, structure, config, killed_out, 1), env=env)
    checkpoints = tmp_path / "scratch" / "killed"
    while not list(checkpoints.glob("[0-9a-f]" * 24 + ".json")) and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL, "finished before a checkpoint: make it slower"
    assert not any(path.exists() for path in _outputs(killed_out))
    subprocess.run(_dft_command(tmp_path, structure, config, killed_out, 2), env=env, check=True)
    resumed = require_converged(killed_out / "dft.json")
    assert resumed["attempt"] == 2 and resumed["robust_level"] == 0
    assert resumed["restarted_from_iterations"] >= 2
    assert resumed["scf_iterations"] > resumed["restarted_from_iterations"]
    assert [a["outcome"] for a in resumed["attempts"]] == ["killed", "converged"]
    assert "killed from outside" in resumed["attempts"][0]["reason"]
    assert load_potential_cube(killed_out / "hartree.cube").same_grid(
        load_density_cube(killed_out / "density.cube")
    )

    reference_out = tmp_path / "reference"
    subprocess.run(_dft_command(tmp_path, structure, config, reference_out, 1), env=env, check=True)
    reference = require_converged(reference_out / "dft.json")
    assert resumed["settings"] == reference["settings"]
    assert resumed["gpaw_parameters"] == reference["gpaw_parameters"]
    n_valence = 8  # H2O: 6 (O) + 2 x 1 (H)
    tolerance_ev = config["convergence"]["energy_ev"] * n_valence
    assert abs(resumed["energy_ev"] - reference["energy_ev"]) < tolerance_ev
