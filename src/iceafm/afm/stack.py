"""One structure -> one AFM npz: force field once, every view scanned on it.

npz keys (``results/afm/{sample}.npz``): ``sample`` (str), ``failed`` (bool), ``reason`` (str,
empty unless failed), ``settings_json`` (the validated ``afm`` section: tip, cantilever, scan,
views, electrostatics). When not failed also: ``df`` float32 [n_views, n_heights, ny, nx] (Hz),
``heights_a`` [n_heights] (A, PP height above the topmost atom at the lower turning point),
``pixel_size_a`` (A), ``window_size_a`` [2] (A, nx * pixel, ny * pixel), ``view_center_a``
[n_views, 2] (A, lab xy of the window centre), ``view_rotation_deg`` [n_views] (deg),
``z_top_a`` (A, lab z of the topmost atom), ``cell_a`` [3, 3] (A), ``tip_charge_e`` and
``tip_klat_n_m`` [n_views] (e, N/m: each view's tip, varied with ``afm.tip_ranges``).
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from iceafm.afm.cube import read_hartree_cube
from iceafm.afm.errors import AfmError
from iceafm.afm.forcefield import build_force_field, slab_z_range
from iceafm.afm.params import AfmSettings, TipParams
from iceafm.afm.scan import relax_fz, simulate_stacks
from iceafm.afm.views import View, make_views, view_tips
from iceafm.dft.errors import DftFailedError
from iceafm.dft.record import read_record
from iceafm.io.atomic import atomic_path


def view_seed(sample: str) -> int:
    """Per-structure seed for the views (stable across runs and machines)."""
    return zlib.crc32(sample.encode())


@dataclass
class AfmStack:
    """df stacks of one structure: ``df_hz`` [n_views, n_heights, ny, nx] float32 (Hz), each
    view scanned with its tip in ``tips``."""

    df_hz: np.ndarray
    views: list[View]
    z_top_a: float
    cell_a: np.ndarray
    tips: list[TipParams]


def simulate_structure(
    atoms: Atoms,
    settings: AfmSettings,
    seed: int,
    hartree_cube: str | os.PathLike | None = None,
) -> AfmStack:
    """Simulate every configured view of ``atoms`` with one force field.

    ``hartree_cube`` is required when ``settings.electrostatics == "hartree"`` (else ignored).
    """
    z_top = float(atoms.positions[:, 2].max())
    z_range = slab_z_range(z_top, settings.scan.heights_a, settings.cantilever.amplitude_a)
    hartree = None
    if settings.electrostatics == "hartree":
        if hartree_cube is None:
            raise AfmError("afm.electrostatics is 'hartree' but no hartree.cube was given")
        hartree = read_hartree_cube(hartree_cube)
    ff = build_force_field(
        atoms,
        settings.electrostatics,
        settings.tip.multipole,
        settings.tip.sigma_a,
        z_range,
        settings.ff_step_a,
        hartree,
    )
    cell = np.asarray(atoms.cell, dtype=float)
    views = make_views(cell, settings.views, seed)
    relax = relax_fz
    if settings.engine == "opencl":
        from iceafm.afm.opencl import relax_fz_opencl  # pyopencl is an optional extra

        relax = relax_fz_opencl
    tips = view_tips(settings.tip, settings.tip_ranges, len(views), settings.views, seed)
    if settings.tip_ranges.enabled:  # one relaxation per view, each with its own tip
        df = np.concatenate([
            simulate_stacks(ff, z_top, [view], [tip], settings.cantilever, settings.scan, relax)[0]
            for view, tip in zip(views, tips, strict=True)
        ])  # fmt: skip
    else:
        df = simulate_stacks(
            ff, z_top, views, [settings.tip], settings.cantilever, settings.scan, relax
        )[0]
    return AfmStack(df, views, z_top, cell, tips)


def dft_failure(dft_json: str | os.PathLike) -> str | None:
    """The DFT stage's failure reason from its dft.json, or None when it converged."""
    try:
        record = read_record(dft_json)
    except DftFailedError as err:
        raise AfmError(str(err)) from None
    if record["status"] == "failed":
        return str(record.get("reason") or "DFT failed (no reason recorded)")
    return None


def write_stack_npz(path: str | os.PathLike, sample: str, settings: AfmSettings, stack: AfmStack):
    """Write a successful stack atomically (keys in the module docstring)."""
    scan = settings.scan
    ny, nx = scan.shape
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez_compressed(
            handle,
            sample=np.str_(sample),
            failed=np.bool_(False),
            reason=np.str_(""),
            settings_json=np.str_(json.dumps(settings.to_dict())),
            df=stack.df_hz.astype(np.float32),
            heights_a=scan.heights_a,
            pixel_size_a=np.float64(scan.pixel_size_a),
            window_size_a=np.array([nx, ny]) * scan.pixel_size_a,
            view_center_a=np.array([v.center_a for v in stack.views]),
            view_rotation_deg=np.array([v.rotation_deg for v in stack.views]),
            z_top_a=np.float64(stack.z_top_a),
            cell_a=stack.cell_a,
            tip_charge_e=np.array([t.charge_e for t in stack.tips]),
            tip_klat_n_m=np.array([t.klat_n_m for t in stack.tips]),
        )


def write_failed_npz(path: str | os.PathLike, sample: str, settings: AfmSettings, reason: str):
    """Write the placeholder of a structure that cannot be imaged (``failed=True``, ``reason``)."""
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez_compressed(
            handle,
            sample=np.str_(sample),
            failed=np.bool_(True),
            reason=np.str_(reason),
            settings_json=np.str_(json.dumps(settings.to_dict())),
        )
