"""Cube round trip, failure markers and records: what the AFM stage relies on."""

import json

import numpy as np
import pytest
from ase.build import molecule
from ase.units import Hartree

from iceafm.dft.cube import (
    load_density_cube,
    load_potential_cube,
    read_cube_grid,
    write_cube_atomic,
    write_failed_marker,
)
from iceafm.dft.errors import CubeFormatError, DftFailedError
from iceafm.dft.record import require_converged, write_record


def test_round_trip_keeps_grid_origin_and_units(tmp_path):
    atoms = molecule("H2O", vacuum=3.0)
    data = np.random.default_rng(0).normal(size=(12, 14, 10))
    origin_a = np.array([-1.0, 0.5, 2.0])
    write_cube_atomic(tmp_path / "h.cube", atoms, data, origin_a, "test")
    phi = load_potential_cube(tmp_path / "h.cube")
    rho = load_density_cube(tmp_path / "h.cube")
    np.testing.assert_allclose(phi.data, data * Hartree, rtol=1e-5)
    np.testing.assert_allclose(phi.origin_a, origin_a, atol=1e-5)
    np.testing.assert_allclose(phi.cell_a, atoms.cell.array, atol=1e-5)
    np.testing.assert_allclose(phi.atoms.positions, atoms.positions, atol=1e-5)
    assert phi.same_grid(rho)
    assert list(tmp_path.iterdir()) == [tmp_path / "h.cube"]


def test_failure_marker_is_rejected_with_reason(tmp_path):
    write_failed_marker(tmp_path / "h.cube", "SCF not converged in 3 iterations")
    with pytest.raises(DftFailedError, match="h.cube: DFT failed.*SCF not converged in 3"):
        load_potential_cube(tmp_path / "h.cube")


def test_truncated_cube_is_rejected(tmp_path):
    atoms = molecule("H2O", vacuum=3.0)
    write_cube_atomic(tmp_path / "h.cube", atoms, np.ones((8, 8, 8)), np.zeros(3), "test")
    text = (tmp_path / "h.cube").read_text()
    (tmp_path / "h.cube").write_text(text[: len(text) // 2])
    with pytest.raises(CubeFormatError, match="h.cube: not a complete cube"):
        read_cube_grid(tmp_path / "h.cube")


def test_failed_record_names_the_reason(tmp_path):
    write_record(tmp_path / "dft.json", {"status": "failed", "reason": "SCF not converged"})
    with pytest.raises(DftFailedError, match="dft.json: DFT failed: SCF not converged"):
        require_converged(tmp_path / "dft.json")
    write_record(tmp_path / "ok.json", {"status": "converged", "energy_ev": -1.0})
    assert require_converged(tmp_path / "ok.json")["energy_ev"] == -1.0
    assert json.loads((tmp_path / "ok.json").read_text())["status"] == "converged"
