"""AFM throughput: our stage (force field once, all views x tips batched) vs the plain ppafm
pipeline (force fields recomputed for every stack), same structure, same stacks, same run.

Writes ``benchmarks/results/afm_throughput.json``. Run: ``OMP_NUM_THREADS=1 .venv/bin/python
benchmarks/afm_throughput.py`` (about 1 min on one core). When pyopencl and an OpenCL device are
present it also times our stage with the OpenCL engine (``opencl_cpu_stacks_per_s`` on PoCL, or
``opencl_gpu_stacks_per_s`` when the device is a GPU: that needs a GPU node).
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.io import write
from ppafm import HighLevel
from ppafm import common as ppu

from iceafm.afm.compare import stack_rel_diff
from iceafm.afm.errors import OpenClUnavailableError
from iceafm.afm.forcefield import build_force_field, slab_z_range, water_point_charges
from iceafm.afm.params import AfmSettings, CantileverParams, ScanParams, TipParams, ViewParams
from iceafm.afm.scan import apex_heights_a, relax_fz, simulate_stacks
from iceafm.afm.views import View, make_views
from iceafm.structures.bilayer_metal import generate_bilayer_metal

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_result  # noqa: E402

N_VIEWS = 4
TIPS = (TipParams(charge_e=-0.1), TipParams(charge_e=-0.05, klat_n_m=0.5))


@contextlib.contextmanager
def quiet_stdout():
    """ppafm's C++ core prints progress to fd 1; keep the benchmark's output readable."""
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def demo_structure():
    """A demo-size sample: an ice bilayer on a Cu(111) 6x4x3 slab."""
    params = {"metal": "Cu", "surface_size": [6, 4, 3], "height_a": 2.6, "vacuum_a": 10.0}
    atoms = generate_bilayer_metal(params, np.random.default_rng(0))
    atoms.pbc = True
    return atoms


def ours(atoms, settings: AfmSettings, views: list[View], relax=relax_fz) -> np.ndarray:
    """Our stage: one force field, every view and tip relaxed on it (``relax``: the engine)."""
    z_top = float(atoms.positions[:, 2].max())
    z_range = slab_z_range(z_top, settings.scan.heights_a, settings.cantilever.amplitude_a)
    ff = build_force_field(atoms, "point_charges", "dz2", 0.71, z_range, settings.ff_step_a)
    df = simulate_stacks(ff, z_top, views, TIPS, settings.cantilever, settings.scan, relax)
    return df.transpose(1, 0, 2, 3, 4).reshape(-1, *df.shape[2:])  # [view * tip, h, y, x]


def baseline_stack(atoms, settings: AfmSettings, view: View, tip: TipParams, workdir: Path):
    """ppafm's own pipeline for one stack: geometry file -> LJ + Coulomb FF -> relax -> df.

    The view is applied the way a ppafm user would: rotate and shift the sample so the window
    is axis-aligned at the origin.
    """
    scan = settings.scan
    ny, nx = scan.shape
    moved = atoms.copy()
    moved.set_initial_charges(water_point_charges(atoms))
    moved.translate([-view.center_a[0], -view.center_a[1], 0.0])
    moved.rotate(-view.rotation_deg, "z", center=(0, 0, 0), rotate_cell=True)
    half = 0.5 * scan.pixel_size_a * np.array([nx - 1, ny - 1])
    moved.translate([half[0], half[1], 0.0])
    moved.wrap(pbc=[True, True, False])  # ppafm images only its 3x3 neighbour cells
    geom = workdir / "geom.xyz"
    write(geom, moved, format="extxyz")
    cell = np.asarray(moved.cell)
    z_top = float(atoms.positions[:, 2].max())
    apex = z_top + apex_heights_a(scan, tip, settings.cantilever)
    params = ppu.PpafmParameters(
        gridA=list(cell[0]),
        gridB=list(cell[1]),
        gridC=list(cell[2]),
        probeType="O",
        charge=tip.charge_e,
        klat=tip.klat_n_m,
        krad=tip.krad_n_m,
        r0Probe=[0.0, 0.0, tip.probe_length_a],
        tip=tip.multipole,
        sigma=tip.sigma_a,
        scanStep=[scan.pixel_size_a, scan.pixel_size_a, scan.height_step_a],
        scanMin=[0.0, 0.0, float(apex[0])],
        scanMax=[2 * half[0], 2 * half[1], float(apex[-1])],
        kCantilever=settings.cantilever.k0_n_m,
        f0Cantilever=settings.cantilever.f0_hz,
        Amplitude=settings.cantilever.amplitude_a,
    )
    ppu.autoGridN(params)
    ff_lj, _, _, lvec = HighLevel.computeLJ(str(geom), None, parameters=params)
    ff_el, _, _, _ = HighLevel.computeELFF_pointCharge(
        str(geom), tip=tip.multipole, parameters=params
    )
    fzs, _, _, _ = HighLevel.perform_relaxation(lvec, ff_lj, ff_el, parameters=params)
    df = ppu.Fz2df(
        fzs,
        dz=scan.height_step_a,
        k0=params.kCantilever,
        f0=params.f0Cantilever,
        amplitude=params.Amplitude,
    )
    return df.transpose(2, 1, 0)  # [x, y, h] -> [h, y, x]


def opencl_timing(atoms, settings: AfmSettings, views: list[View], cpu_df: np.ndarray) -> dict:
    """Our stage with the OpenCL engine: stacks/s and max |df - cpu df| / range per stack."""
    record = {"opencl_cpu_stacks_per_s": None, "opencl_gpu_stacks_per_s": None}
    try:
        import pyopencl as cl

        from iceafm.afm.opencl import opencl_device, relax_fz_opencl

        device = opencl_device()  # context and kernel build are one-off costs, not timed
    except (ImportError, OpenClUnavailableError) as err:
        return {**record, "opencl_note": f"not measured: {err}"}
    t0 = time.perf_counter()
    with quiet_stdout():
        df = ours(atoms, settings, views, relax_fz_opencl)
    seconds = time.perf_counter() - t0
    on_gpu = bool(device.context.devices[0].type & cl.device_type.GPU)
    diff = stack_rel_diff(df, cpu_df)
    key = "opencl_gpu_stacks_per_s" if on_gpu else "opencl_cpu_stacks_per_s"
    note = "" if on_gpu else "; GPU stacks/s needs a GPU node"
    return {
        **record,
        key: round(len(df) / seconds, 4),
        "opencl_device": device.name,
        "opencl_max_rel_diff_vs_cpu": [round(float(d), 4) for d in diff],
        "opencl_note": f"force field on the CPU, relaxation on {device.name}{note}",
    }


def main() -> None:
    atoms = demo_structure()
    settings = AfmSettings(
        tip=TIPS[0],
        cantilever=CantileverParams(),
        scan=ScanParams(size_a=(12.8, 12.8), pixel_size_a=0.2, min_height_a=3.0, n_heights=10),
        views=ViewParams(count=N_VIEWS, rotate=True, seed=0),
    )
    views = make_views(np.asarray(atoms.cell), settings.views, seed=1)
    n_stacks = len(views) * len(TIPS)

    with quiet_stdout():
        t0 = time.perf_counter()
        ours_df = ours(atoms, settings, views)
        t_ours = time.perf_counter() - t0
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ours: {n_stacks} stacks in {t_ours:.1f} s", flush=True)
    opencl = opencl_timing(atoms, settings, views, ours_df)
    print(f"OpenCL: {opencl}", flush=True)  # before the slow ppafm baseline: a cut run keeps it

    base_df = []
    with tempfile.TemporaryDirectory() as tmp, quiet_stdout():
        cwd = os.getcwd()
        os.chdir(tmp)  # ppafm may drop files into the working directory
        try:
            t0 = time.perf_counter()
            for view in views:
                for tip in TIPS:
                    base_df.append(baseline_stack(atoms, settings, view, tip, Path(tmp)))
            t_base = time.perf_counter() - t0
        finally:
            os.chdir(cwd)
    base_df = np.stack(base_df)

    # Same physics, different force-field grids (slab 0.1 A vs ppafm's full cell, rotated
    # with the sample): report how far apart the images are, relative to the image range.
    diff = stack_rel_diff(ours_df, base_df)
    record = {
        **machine_info(("ppafm", "numpy", "ase", "pyopencl")),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "structure": f"{atoms.get_chemical_formula()} ({len(atoms)} atoms), bilayer on Cu(111)",
        "electrostatics": "point_charges",
        "views": len(views),
        "tips": len(TIPS),
        "stacks": n_stacks,
        "pixels": list(settings.scan.shape),
        "heights": settings.scan.n_heights,
        "ours_seconds": round(t_ours, 3),
        "baseline_seconds": round(t_base, 3),
        "ours_stacks_per_s": round(n_stacks / t_ours, 4),
        "baseline_stacks_per_s": round(n_stacks / t_base, 4),
        "ratio": round(t_base / t_ours, 2),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "max_rel_diff_vs_baseline": [round(float(d), 4) for d in diff],
        **opencl,
    }
    path = write_result("afm_throughput", record)
    print(
        f"wrote {path}: ratio {record['ratio']}, ours {record['ours_stacks_per_s']} stacks/s, "
        f"baseline {record['baseline_stacks_per_s']} stacks/s, peak {record['peak_rss_mb']} MB, "
        f"rel diff {record['max_rel_diff_vs_baseline']}"
    )


if __name__ == "__main__":
    main()
