"""GPAW plane-wave mode: a grid fine enough for the cutoff, cubes on the FD grid, the same
vacuum potential as FD (real GPAW on one water molecule in a slab cell, seconds)."""

import ase.io
import numpy as np
import pytest
from ase.build import molecule
from dft_fixtures import default_dft_config, tiny_dft_config

from iceafm.dft.cube import load_density_cube, load_potential_cube
from iceafm.dft.record import require_converged
from iceafm.dft.run import run_dft
from iceafm.dft.settings import gpaw_parameters, grid_shape, prepare_cell, pw_grid_factor

H_A = 0.3
#: GPAW needs a grid step below pi / (2 sqrt(ecut)) (Bohr, Ha) for a 350 eV cutoff: 0.28 A,
#: so h = 0.3 A must be refined twice.
ECUT_EV = 350.0


def _slab() -> ase.Atoms:
    """One water molecule, dipole along z, in a 5 x 5 A cell periodic in x and y."""
    water = molecule("H2O")
    water.cell = [5.0, 5.0, 0.0]
    water.pbc = (True, True, False)
    water.positions += [2.5, 2.5, 0.0]
    water.info["family"] = "test"
    return water


def test_pw_grid_is_the_cube_grid_refined_just_enough_for_the_cutoff():
    prepared, _ = prepare_cell(_slab(), vacuum_a=5.0)
    settings = {**default_dft_config(), "h": H_A}
    limit_a = np.pi / (2 * np.sqrt(ECUT_EV / 27.211386)) * 0.529177
    step_a = prepared.cell.lengths() / np.asarray(grid_shape(prepared.cell.array, H_A))
    for ecut_ev, factor in ((150.0, 1), (ECUT_EV, 2), (1000.0, 3)):
        pw = {**settings, "mode": "pw", "pw_ecut_ev": ecut_ev}
        assert pw_grid_factor(pw, prepared) == factor
        params = gpaw_parameters(pw, prepared)
        assert "h" not in params
        assert params["gpts"] == [factor * n for n in grid_shape(prepared.cell.array, H_A)]
    assert np.all(step_a / 2 < limit_a) and np.any(step_a >= limit_a)
    for mode in ("fd", "lcao"):
        assert pw_grid_factor({**settings, "mode": mode, "pw_ecut_ev": 1000.0}, prepared) == 1
        assert gpaw_parameters({**settings, "mode": mode}, prepared)["h"] == H_A


@pytest.fixture(scope="module")
def slab_runs(tmp_path_factory):
    """FD and PW (350 eV, dipole layer) on the same slab; folder per mode."""
    folder = tmp_path_factory.mktemp("pw")
    structure = folder / "water.extxyz"
    ase.io.write(structure, _slab(), format="extxyz")
    out = {}
    for mode in ("fd", "pw"):
        config = tiny_dft_config(mode=mode, h=H_A, vacuum_a=5.0, pw_ecut_ev=ECUT_EV, basis="dzp")
        out[mode] = folder / mode
        files = [out[mode] / name for name in ("hartree.cube", "density.cube", "dft.json")]
        assert run_dft(structure, *files, None, config, 1, out[mode] / "scratch") == 0
    return structure, out


def test_pw_cubes_sit_on_the_fd_grid(slab_runs):
    _, out = slab_runs
    record = require_converged(out["pw"] / "dft.json")
    assert record["pw_grid_factor"] == 2
    fd = load_potential_cube(out["fd"] / "hartree.cube")
    pw = load_potential_cube(out["pw"] / "hartree.cube")
    assert pw.same_grid(fd) and pw.same_grid(load_density_cube(out["pw"] / "density.cube"))


def test_pw_vacuum_potential_matches_fd(slab_runs):
    """Above the molecule (1.5-4 A over its top atom), where the AFM tip probes, PW's lateral
    potential pattern (each plane's mean removed: the part that makes image contrast) is FD's
    within 10 %, and so is the vacuum-level step across the dipole layer."""
    structure, out = slab_runs
    fd = load_potential_cube(out["fd"] / "hartree.cube")
    pw = load_potential_cube(out["pw"] / "hartree.cube")
    z_a = fd.origin_a[2] + np.arange(fd.data.shape[2]) * fd.spacing_a[2, 2]
    above_a = z_a - ase.io.read(structure).positions[:, 2].max()
    planes = (above_a >= 1.5) & (above_a <= 4.0)
    fd_xy = fd.data[:, :, planes] - fd.data[:, :, planes].mean(axis=(0, 1))
    pw_xy = pw.data[:, :, planes] - pw.data[:, :, planes].mean(axis=(0, 1))
    assert np.sqrt(np.sum((pw_xy - fd_xy) ** 2) / np.sum(fd_xy**2)) < 0.10
    # Vacuum levels 1 A inside either end of the cell (FD's first plane is its zero boundary).
    ends = [int(np.argmin(np.abs(z_a - z_a[0] - 1.0))), int(np.argmin(np.abs(z_a[-1] - z_a - 1.0)))]
    step = {mode: np.diff(grid.data[:, :, ends].mean(axis=(0, 1)))[0] for mode, grid in
            (("fd", fd), ("pw", pw))}  # fmt: skip
    assert abs(step["fd"]) > 1.0  # V: the water dipole's step, several V in a 5 x 5 A cell
    assert step["pw"] == pytest.approx(step["fd"], rel=0.10)
