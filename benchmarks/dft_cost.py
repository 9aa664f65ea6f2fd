"""DFT cost and accuracy: LCAO (dzp) against an FD reference on the demo's structure kinds.

For each structure, both modes run with the demo campaign's ``dft`` settings (same grid
spacing h, smearing, k-points, dipole correction); only ``mode`` differs. Reports core-seconds
per structure and how far LCAO's electrostatic potential V (V, from ``hartree.cube``) is from
FD's in the AFM region R: the grid points 2-6 A above the topmost atom, whole cell in x and y
(shape (nx, ny, m), m planes). With ``rms_R(f) = sqrt(mean over R of |f|^2)`` and
``mean_xy(f)[k]`` the mean of f over plane k:

- ``potential_rel_rms_lcao_vs_fd``: rms_R(V_lcao - V_fd) / rms_R(V_fd).
- ``potential_rel_rms_lcao_vs_fd_offset_removed``: the same for V - mean_R(V) (each mode's
  own mean over R, one constant): blind to a vacuum-level / work-function shift, which exerts
  no force on the tip.
- ``potential_rel_rms_lcao_vs_fd_plane_means_removed``: the same for V - mean_xy(V) (each
  mode's own mean per plane): only the lateral variation that makes image contrast. The
  removed plane means V(z) push the tip uniformly in z (a df background, no contrast).
- ``potential_rel_rms_lcao_vs_fd_plane_means_and_scale_removed``: rms_R(P_lcao - a P_fd) /
  rms_R(P_fd) with P = V - mean_xy(V) and a = ``potential_xy_scale_lcao_over_fd`` =
  sum_R(P_lcao P_fd) / sum_R(P_fd^2), the least-squares factor (per structure): how far the
  lateral pattern differs once its overall strength (the electrostatic contrast's weight, which
  the tip charge scales too) is matched.
- ``field_xy_rel_rms_lcao_vs_fd``: rms_R(|E_lcao - E_fd|) / rms_R(|E_fd|) for the lateral
  field E = -(dV/dx, dV/dy) (V/A), from periodic central differences along the two in-plane
  grid axes (converted to Cartesian x, y for oblique cells); plane means do not enter it.

Each metric is given per structure and, at the top level, for the worst structure (overall).
Per structure, ``plane_means_removed_rel_rms_by_height`` also lists, for each plane k of R, its
height above the topmost atom (A) and rms_k(P_lcao - P_fd) / rms_k(P_fd) over that plane alone.

Cubes, records and structures stay in ``benchmarks/work/dft_cost/<structure>-<mode>/``
(gitignored). Writes ``benchmarks/results/dft_cost.json``. Run: ``nice -n 19 env
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dft_cost.py`` (about 20 min on one core, most
of it FD on Cu); add ``--reuse`` to recompute the metrics from the cubes already there, without
GPAW (seconds).
"""

from __future__ import annotations

import argparse
import copy
import sys
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
WORK = REPO / "benchmarks" / "work" / "dft_cost"
AFM_REGION_A = (2.0, 6.0)
STRUCTURES = ("ice_basal", "bilayer_metal")
MODES = ("lcao", "fd")
METRICS = (
    "potential_rel_rms_lcao_vs_fd",
    "potential_rel_rms_lcao_vs_fd_offset_removed",
    "potential_rel_rms_lcao_vs_fd_plane_means_removed",
    "potential_rel_rms_lcao_vs_fd_plane_means_and_scale_removed",
    "field_xy_rel_rms_lcao_vs_fd",
)


def demo_dft_config() -> dict:
    """The demo campaign's ``dft`` section, schema defaults filled in."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config["dft"]


def write_structures(folder: Path) -> dict[str, Path]:
    """A demo ice Ih basal slab (2 bilayers, 48 atoms) and a water bilayer on Cu(111)
    (smallest valid surface, 3x2x3 Cu: 30 atoms, metallic, k-points), as extxyz files."""
    rng = np.random.default_rng(0)
    built = {
        "ice_basal": generate_ice_basal(
            {"bilayers": 2, "supercell": [1, 1], "vacuum_a": 10.0}, rng
        ),
        "bilayer_metal": generate_bilayer_metal(
            {"metal": "Cu", "surface_size": [3, 2, 3], "height_a": 2.6, "vacuum_a": 10.0}, rng
        ),
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, atoms in built.items():
        paths[name] = folder / f"{name}.extxyz"
        ase.io.write(paths[name], atoms, format="extxyz")
    return paths


def output_files(name: str, mode: str) -> tuple[Path, Path, Path]:
    """``hartree.cube``, ``density.cube`` and ``dft.json`` of one structure and mode."""
    out = WORK / f"{name}-{mode}"
    return out / "hartree.cube", out / "density.cube", out / "dft.json"


def run_mode(structure: Path, config: dict, mode: str) -> None:
    """Run GPAW in ``mode`` on ``structure`` (1 rank), writing :func:`output_files`."""
    settings = copy.deepcopy(config)
    settings["mode"] = mode
    files = output_files(structure.stem, mode)
    code = run_dft(structure, *files, None, settings, 1, files[0].parent / "scratch")
    if code != 0:
        raise RuntimeError(f"{structure.stem} {mode}: SCF did not converge (exit {code})")


def load_mode(name: str, mode: str) -> tuple[dict, CubeGrid]:
    """The converged ``dft.json`` record and the potential (V) of one structure and mode."""
    hartree, _, record = output_files(name, mode)
    for path in (hartree, record):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; run without --reuse first")
    return require_converged(record), load_potential_cube(hartree)


def heights_above_top_a(grid: CubeGrid) -> np.ndarray:
    """Height (A) of each grid plane, shape (nz,), above the topmost atom."""
    z_a = grid.origin_a[2] + np.arange(grid.data.shape[2]) * grid.spacing_a[2, 2]
    return z_a - grid.atoms.positions[:, 2].max()


def afm_planes(grid: CubeGrid) -> np.ndarray:
    """Mask (nz,) of the grid planes 2-6 A above the topmost atom."""
    above_a = heights_above_top_a(grid)
    return (above_a >= AFM_REGION_A[0]) & (above_a <= AFM_REGION_A[1])


def lateral_field(potential_v: np.ndarray, spacing_a: np.ndarray) -> np.ndarray:
    """Lateral field -(dV/dx, dV/dy) (V/A), shape (nx, ny, m, 2), of ``potential_v`` (V,
    shape (nx, ny, m), periodic in its first two axes) on a grid with in-plane step vectors
    ``spacing_a[0]``, ``spacing_a[1]`` (A, no z component), by central differences."""
    if np.any(np.abs(spacing_a[:2, 2]) > 1e-8):
        raise ValueError(f"in-plane grid steps {spacing_a[:2].tolist()} have a z component")
    per_step = np.stack(
        [(np.roll(potential_v, -1, axis) - np.roll(potential_v, 1, axis)) / 2 for axis in (0, 1)],
        axis=-1,
    )
    # per_step = S @ grad_xy with the rows of S the in-plane steps: solve for grad_xy.
    return -per_step @ np.linalg.inv(spacing_a[:2, :2]).T


def rel_rms(test: np.ndarray, ref: np.ndarray) -> float:
    """rms(test - ref) / rms(ref); a trailing axis of length 2 counts as a vector's components."""
    return float(np.sqrt(np.sum((test - ref) ** 2) / np.sum(ref**2)))


def accuracy(v_lcao: CubeGrid, v_fd: CubeGrid) -> dict[str, float]:
    """The metrics of the module docstring for one structure, plus the reference's scales."""
    if not v_lcao.same_grid(v_fd):
        raise ValueError("LCAO and FD potentials are on different grids")
    planes = afm_planes(v_fd)
    lcao, fd = v_lcao.data[:, :, planes], v_fd.data[:, :, planes]
    lcao_plane, fd_plane = lcao - lcao.mean(axis=(0, 1)), fd - fd.mean(axis=(0, 1))
    scale = float(np.sum(lcao_plane * fd_plane) / np.sum(fd_plane**2))
    e_lcao = lateral_field(lcao, v_fd.spacing_a)
    e_fd = lateral_field(fd, v_fd.spacing_a)
    return {
        "potential_rel_rms_lcao_vs_fd": rel_rms(lcao, fd),
        "potential_rel_rms_lcao_vs_fd_offset_removed": rel_rms(lcao - lcao.mean(), fd - fd.mean()),
        "potential_rel_rms_lcao_vs_fd_plane_means_removed": rel_rms(lcao_plane, fd_plane),
        "potential_rel_rms_lcao_vs_fd_plane_means_and_scale_removed": float(
            np.sqrt(np.sum((lcao_plane - scale * fd_plane) ** 2) / np.sum(fd_plane**2))
        ),
        "potential_xy_scale_lcao_over_fd": scale,
        "field_xy_rel_rms_lcao_vs_fd": rel_rms(e_lcao, e_fd),
        "afm_region_planes": int(planes.sum()),
        "potential_rms_fd_v": float(np.sqrt(np.mean(fd**2))),
        "potential_max_abs_diff_v": float(np.abs(lcao - fd).max()),
        "potential_mean_diff_v": float(lcao.mean() - fd.mean()),
        "potential_plane_means_removed_rms_fd_v": float(np.sqrt(np.mean(fd_plane**2))),
        "field_xy_rms_fd_v_per_a": float(np.sqrt(np.mean(np.sum(e_fd**2, axis=-1)))),
        "plane_means_removed_rel_rms_by_height": [
            [round(float(height_a), 3), rel_rms(lcao_plane[:, :, k], fd_plane[:, :, k])]
            for k, height_a in enumerate(heights_above_top_a(v_fd)[planes])
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--reuse", action="store_true", help="recompute the metrics from existing cubes, no GPAW"
    )
    args = parser.parse_args()
    config = demo_dft_config()
    if not args.reuse:
        for path in write_structures(WORK).values():
            for mode in MODES:
                run_mode(path, config, mode)
    per_structure = {}
    for name in STRUCTURES:
        lcao, v_lcao = load_mode(name, "lcao")
        fd, v_fd = load_mode(name, "fd")
        per_structure[name] = {
            "atoms": len(v_fd.atoms),
            "lcao_core_seconds": lcao["core_seconds"],
            "fd_core_seconds": fd["core_seconds"],
            "fd_over_lcao": fd["core_seconds"] / lcao["core_seconds"],
            "lcao_scf_iterations": lcao["scf_iterations"],
            "fd_scf_iterations": fd["scf_iterations"],
            "dft_dates": {"lcao": lcao["date"], "fd": fd["date"]},
            **accuracy(v_lcao, v_fd),
        }
        print(name, per_structure[name], flush=True)
    lcao_s = sum(r["lcao_core_seconds"] for r in per_structure.values())
    fd_s = sum(r["fd_core_seconds"] for r in per_structure.values())
    worst = {key: max(r[key] for r in per_structure.values()) for key in METRICS}
    record = {
        **machine_info(packages=("gpaw", "ase")),
        "ranks": 1,
        "reused_cubes": args.reuse,
        "cubes": str(WORK.relative_to(REPO)),
        "settings": {k: v for k, v in config.items() if k not in ("mode", "resources", "plot")},
        "afm_region_above_top_atom_a": list(AFM_REGION_A),
        "lcao_core_seconds": lcao_s / len(per_structure),
        "fd_core_seconds": fd_s / len(per_structure),
        "fd_over_lcao": fd_s / lcao_s,
        **worst,
        "per_structure": per_structure,
        "goal": "LCAO >= 3x cheaper than FD, relative RMS < 0.05",
        "goal_met": fd_s / lcao_s >= 3 and worst["potential_rel_rms_lcao_vs_fd"] < 0.05,
        "goal_met_by_metric": {key: fd_s / lcao_s >= 3 and worst[key] < 0.05 for key in METRICS},
        "note": "core-seconds are means per structure (1 MPI rank, OMP_NUM_THREADS=1) read from "
        "each run's dft.json; each relative RMS at the top level is the worst structure's",
    }
    print(write_result("dft_cost", record))


if __name__ == "__main__":
    main()
