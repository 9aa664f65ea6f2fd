"""Hartree electrostatics from a real (tiny) GPAW run, and clear errors for bad cubes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from afm_fixtures import flat_water, small_settings
from ase.io import write
from ase.units import Hartree

from iceafm.afm.cube import read_hartree_cube
from iceafm.afm.errors import AfmError, CubeError
from iceafm.afm.forcefield import build_force_field, point_charge_ff, slab_z_range
from iceafm.afm.stack import dft_failure, simulate_structure


@pytest.fixture(scope="module")
def water_cube(tmp_path_factory):
    """GPAW LCAO (sz, h=0.3) on one water; cube = -V_electron / Hartree (ppafm's sign)."""
    gpaw = pytest.importorskip("gpaw")
    atoms = flat_water(cell_a=7.2)
    atoms.calc = gpaw.GPAW(mode="lcao", basis="sz(dzp)", h=0.3, xc="PBE", txt=None, kpts=(1, 1, 1))
    atoms.get_potential_energy()
    potential = atoms.calc.get_electrostatic_potential()  # eV, energy of an electron
    path = tmp_path_factory.mktemp("dft") / "hartree.cube"
    write(path, atoms, format="cube", data=-potential / Hartree)
    return atoms, path


def test_hartree_cube_reads_back_in_volts(water_cube):
    atoms, path = water_cube
    potential_v, lvec = read_hartree_cube(path)
    np.testing.assert_allclose(lvec[1:], np.asarray(atoms.cell), atol=1e-4)
    assert potential_v.max() > 10  # near the nuclei
    assert abs(np.median(potential_v)) < 1  # vacuum


def test_hartree_and_point_charge_fields_agree_in_sign(water_cube):
    atoms, path = water_cube
    settings = small_settings()
    z_top = atoms.positions[:, 2].max()
    z_range = slab_z_range(z_top, settings.scan.heights_a, settings.cantilever.amplitude_a)
    # Monopole tip: 3 A above the molecule, DFT and SPC/E fields must look alike.
    dft = build_force_field(atoms, "hartree", "s", 0.71, z_range, 0.1, read_hartree_cube(path))
    pc = point_charge_ff(atoms, dft.lj.shape[:3], dft.lvec, "s")  # same grid as the DFT one
    k = int(round((z_top + 3.0 - dft.lvec[0, 2]) / (dft.lvec[3, 2] / dft.lj.shape[2])))
    a, b = dft.electrostatic[:, :, k, 2], pc[:, :, k, 2]
    # Fixes the potential's sign convention: a flipped cube gives a correlation near -1.
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9
    assert 0.5 < a.std() / b.std() < 2.0


def test_hartree_stack_through_the_package(water_cube):
    atoms, path = water_cube
    stack = simulate_structure(atoms, small_settings(electrostatics="hartree"), 0, path)
    assert stack.df_hz.shape == (1, 6, 32, 32)
    assert np.isfinite(stack.df_hz).all()
    spread = stack.df_hz[0].std(axis=(1, 2))
    assert spread[0] > spread[-1]


def test_missing_cube_names_the_file(tmp_path):
    with pytest.raises(CubeError, match=r"missing\.cube: Hartree cube not found"):
        read_hartree_cube(tmp_path / "missing.cube")


def test_failed_cube_says_dft_failed(tmp_path):
    path = tmp_path / "hartree.cube"
    path.write_text("FAILED: SCF did not converge in 50 iterations\n")
    with pytest.raises(CubeError, match="DFT failed"):
        read_hartree_cube(path)


def test_truncated_cube_is_a_clear_error(water_cube, tmp_path):
    _, good = water_cube
    lines = good.read_text().splitlines()
    bad = tmp_path / "cut.cube"
    bad.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    with pytest.raises(CubeError, match=r"cut\.cube: not a complete cube"):
        read_hartree_cube(bad)


def test_garbage_header_is_a_one_line_error(tmp_path):
    bad = tmp_path / "junk.cube"
    bad.write_text("hello\n")
    with pytest.raises(CubeError) as err:
        read_hartree_cube(bad)
    assert "junk.cube" in str(err.value) and "\n" not in str(err.value)


def test_dft_failure_reads_the_status(tmp_path):
    ok, failed = tmp_path / "ok.json", tmp_path / "failed.json"
    ok.write_text(json.dumps({"status": "converged", "energy_ev": -14.2}))
    failed.write_text(json.dumps({"status": "failed", "reason": "SCF not converged"}))
    assert dft_failure(ok) is None
    assert dft_failure(failed) == "SCF not converged"
    with pytest.raises(AfmError, match="absent.json: unreadable DFT record"):
        dft_failure(tmp_path / "absent.json")
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"status": "ok"}))  # not a status the DFT stage writes
    with pytest.raises(AfmError, match="odd.json: status 'ok'"):
        dft_failure(odd)
