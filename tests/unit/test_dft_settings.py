"""Config section -> robust-level-scaled settings -> GPAW parameters; cell/vacuum handling."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from dft_fixtures import default_dft_config

from iceafm.dft.errors import DftConfigError
from iceafm.dft.settings import gpaw_parameters, prepare_cell, robust_settings, settings_key


def test_retries_are_more_robust():
    dft_config = default_dft_config()
    first = robust_settings(dft_config, 0)
    third = robust_settings(dft_config, 2)
    assert third["maxiter"] == first["maxiter"] * 4
    assert third["mixer"]["beta"] == pytest.approx(first["mixer"]["beta"] / 4)
    assert third["smearing_ev"] == pytest.approx(first["smearing_ev"] * 4)
    assert settings_key(first, "abc") != settings_key(third, "abc")
    assert settings_key(first, "abc") != settings_key(first, "abd")


def test_missing_key_names_it():
    dft_config = default_dft_config()
    del dft_config["xc"]
    with pytest.raises(DftConfigError, match=r"dft: missing key\(s\) \['xc'\]"):
        robust_settings(dft_config, 0)


def test_bad_mode_is_rejected():
    dft_config = default_dft_config()
    dft_config["mode"] = "gaussian"
    with pytest.raises(DftConfigError, match="dft.mode: got 'gaussian'"):
        robust_settings(dft_config, 0)


def test_slab_gets_vacuum_dipole_layer_and_kpoints_in_plane_only():
    dft_config = default_dft_config()
    slab = Atoms(
        "OH2",
        positions=[[1, 1, 1.0], [1.8, 1, 1.5], [0.2, 1, 1.5]],
        cell=[6.0, 6.0, 3.0],
        pbc=(True, True, False),
    )
    prepared, shift_a = prepare_cell(slab, vacuum_a=5.0)
    z = prepared.positions[:, 2]
    assert z.min() == pytest.approx(5.0) and prepared.cell[2, 2] - z.max() == pytest.approx(5.0)
    np.testing.assert_allclose(prepared.positions - shift_a, slab.positions)
    np.testing.assert_allclose(prepared.cell[:2], slab.cell[:2])
    dft_config["kpts"] = [3, 3, 3]
    params = gpaw_parameters(robust_settings(dft_config, 0), prepared)
    assert params["kpts"]["size"] == [3, 3, 1]
    assert params["poissonsolver"] == {"dipolelayer": "xy"}


def test_molecule_with_enough_vacuum_is_untouched():
    dft_config = default_dft_config()
    water = molecule("H2O", vacuum=6.0)
    prepared, shift_a = prepare_cell(water, vacuum_a=5.0)
    np.testing.assert_allclose(shift_a, 0.0)
    np.testing.assert_allclose(prepared.cell, water.cell)
    assert "poissonsolver" not in gpaw_parameters(robust_settings(dft_config, 0), prepared)
