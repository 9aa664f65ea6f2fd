"""DFT cost and accuracy: LCAO (dzp) against an FD reference on the demo's structure kinds.

For each structure, both modes run with the demo campaign's ``dft`` settings (same grid
spacing h, smearing, k-points, dipole correction); only ``mode`` differs. Reports core-seconds
per structure and the relative RMS difference of the electrostatic potential in the AFM region
(2-6 A above the topmost atom, whole cell in x and y): rms(V_lcao - V_fd) / rms(V_fd).

Writes ``benchmarks/results/dft_cost.json``. Run: ``OMP_NUM_THREADS=1 .venv/bin/python
benchmarks/dft_cost.py`` (about 20 min on one core, most of it FD on Cu).
"""

from __future__ import annotations

import copy
import sys
import tempfile
from pathlib import Path

import ase.io
import numpy as np
import yaml
from snakemake.utils import validate

from iceafm.dft.cube import CubeGrid, load_potential_cube
from iceafm.dft.record import require_converged
from iceafm.dft.run import run_dft
from iceafm.structures.bilayer_metal import generate_bilayer_metal
from iceafm.structures.ice_basal import generate_ice_basal

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
AFM_REGION_A = (2.0, 6.0)


def demo_dft_config() -> dict:
    """The demo campaign's ``dft`` section, schema defaults filled in."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config["dft"]


def structures(folder: Path) -> dict[str, Path]:
    """A demo ice Ih basal slab (2 bilayers, 48 atoms) and a water bilayer on Cu(111)
    (smallest valid surface, 3x2x3 Cu: 30 atoms, metallic, k-points)."""
    rng = np.random.default_rng(0)
    built = {
        "ice_basal": generate_ice_basal(
            {"bilayers": 2, "supercell": [1, 1], "vacuum_a": 10.0}, rng
        ),
        "bilayer_metal": generate_bilayer_metal(
            {"metal": "Cu", "surface_size": [3, 2, 3], "height_a": 2.6, "vacuum_a": 10.0}, rng
        ),
    }
    paths = {}
    for name, atoms in built.items():
        paths[name] = folder / f"{name}.extxyz"
        ase.io.write(paths[name], atoms, format="extxyz")
    return paths


def afm_region(grid: CubeGrid) -> np.ndarray:
    """Potential values (V) on the grid planes 2-6 A above the topmost atom, shape (nx, ny, m)."""
    z_a = grid.origin_a[2] + np.arange(grid.data.shape[2]) * grid.spacing_a[2, 2]
    above_a = z_a - grid.atoms.positions[:, 2].max()
    planes = (above_a >= AFM_REGION_A[0]) & (above_a <= AFM_REGION_A[1])
    return grid.data[:, :, planes]


def run_mode(structure: Path, config: dict, mode: str, folder: Path) -> tuple[dict, CubeGrid]:
    settings = copy.deepcopy(config)
    settings["mode"] = mode
    out = folder / f"{structure.stem}-{mode}"
    files = [out / "hartree.cube", out / "density.cube", out / "dft.json"]
    code = run_dft(structure, *files, None, settings, 1, out / "scratch")
    if code != 0:
        raise RuntimeError(f"{structure.stem} {mode}: SCF did not converge (exit {code})")
    return require_converged(files[2]), load_potential_cube(files[0])


def main() -> None:
    config = demo_dft_config()
    per_structure = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, path in structures(folder).items():
            lcao, v_lcao = run_mode(path, config, "lcao", folder)
            fd, v_fd = run_mode(path, config, "fd", folder)
            assert v_lcao.same_grid(v_fd)
            ref = afm_region(v_fd)
            diff = afm_region(v_lcao) - ref
            per_structure[name] = {
                "atoms": len(v_fd.atoms),
                "lcao_core_seconds": lcao["core_seconds"],
                "fd_core_seconds": fd["core_seconds"],
                "fd_over_lcao": fd["core_seconds"] / lcao["core_seconds"],
                "lcao_scf_iterations": lcao["scf_iterations"],
                "fd_scf_iterations": fd["scf_iterations"],
                "potential_rel_rms_lcao_vs_fd": float(
                    np.sqrt(np.mean(diff**2)) / np.sqrt(np.mean(ref**2))
                ),
                "potential_rms_fd_v": float(np.sqrt(np.mean(ref**2))),
                "potential_max_abs_diff_v": float(np.abs(diff).max()),
            }
            print(name, per_structure[name], flush=True)
    lcao_s = sum(r["lcao_core_seconds"] for r in per_structure.values())
    fd_s = sum(r["fd_core_seconds"] for r in per_structure.values())
    record = {
        **machine_info(packages=("gpaw", "ase")),
        "ranks": 1,
        "settings": {k: v for k, v in config.items() if k not in ("mode", "resources", "plot")},
        "afm_region_above_top_atom_a": list(AFM_REGION_A),
        "lcao_core_seconds": lcao_s / len(per_structure),
        "fd_core_seconds": fd_s / len(per_structure),
        "fd_over_lcao": fd_s / lcao_s,
        "potential_rel_rms_lcao_vs_fd": max(
            r["potential_rel_rms_lcao_vs_fd"] for r in per_structure.values()
        ),
        "per_structure": per_structure,
        "goal": "LCAO >= 3x cheaper than FD, relative RMS < 0.05",
        "goal_met": fd_s / lcao_s >= 3
        and all(r["potential_rel_rms_lcao_vs_fd"] < 0.05 for r in per_structure.values()),
        "note": "core-seconds are means per structure (1 MPI rank, OMP_NUM_THREADS=1); "
        "the relative RMS is the worst structure's",
    }
    print(write_result("dft_cost", record))


if __name__ == "__main__":
    main()
