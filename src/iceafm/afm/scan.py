"""Relaxed CO-tip scans over many views and tip settings on one precomputed force field."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from ppafm import common as ppu
from ppafm import core

from iceafm.afm.forcefield import ForceField, bind_grid
from iceafm.afm.params import CantileverParams, ScanParams, TipParams
from iceafm.afm.views import View, pixel_centres, scan_to_lab


def df_kernel(amplitude_a: float, dz_a: float) -> np.ndarray:
    """Giessibl's force-to-df convolution weights (1/A), [n_w], for a peak-to-peak amplitude."""
    return ppu.get_df_weight(amplitude_a, dz=dz_a)


def fz_to_df(fz_ev_a: np.ndarray, dz_a: float, cantilever: CantileverParams) -> np.ndarray:
    """Frequency shift (Hz) from vertical force (eV/A) sampled upwards every ``dz_a`` (A).

    ``fz_ev_a`` [..., nz], z ascending; returns [..., nz - n_w + 1] where entry j is the
    oscillation whose lower turning point is z index j (same numbers as ppafm's ``Fz2df``).
    """
    weights = df_kernel(cantilever.amplitude_a, dz_a)[::-1]
    n_out = fz_ev_a.shape[-1] - weights.size + 1
    conv = np.zeros((*fz_ev_a.shape[:-1], n_out))
    for k, w in enumerate(weights):
        conv += w * fz_ev_a[..., k : k + n_out]
    return conv * ppu.eVA_Nm * cantilever.f0_hz / cantilever.k0_n_m


def apex_heights_a(scan: ScanParams, tip: TipParams, cantilever: CantileverParams) -> np.ndarray:
    """Apex z (A above the topmost atom) of every relaxation step, ascending, [n_z]."""
    n_w = df_kernel(cantilever.amplitude_a, scan.height_step_a).size
    pp_heights = scan.min_height_a + scan.height_step_a * np.arange(scan.n_heights + n_w - 1)
    return pp_heights + tip.probe_length_a


def tip_positions(views: Sequence[View], scan: ScanParams, apex_z_a: np.ndarray) -> np.ndarray:
    """Apex positions (A, lab frame), [n_views * ny, nx, n_z, 3], z descending (approach)."""
    lab_xy = np.stack([scan_to_lab(v, scan, pixel_centres(scan)) for v in views])
    n_views, ny, nx, _ = lab_xy.shape
    positions = np.empty((n_views * ny, nx, apex_z_a.size, 3))
    positions[..., :2] = lab_xy.reshape(n_views * ny, nx, 1, 2)
    positions[..., 2] = apex_z_a[::-1]
    return positions


def relax_fz(
    ff_total: np.ndarray, lvec: np.ndarray, tip: TipParams, apex_a: np.ndarray
) -> np.ndarray:
    """Relax the PP below every apex position; return its vertical force Fz (eV/A).

    ``ff_total`` [na, nb, nc, 3] (eV/A) on the periodic grid ``lvec``; ``apex_a`` as from
    :func:`tip_positions`. Returns Fz with the same leading shape and z ascending.
    """
    ff_total = np.ascontiguousarray(ff_total, dtype=np.float64)
    r_tips = np.ascontiguousarray(apex_a - lvec[0])
    pp_positions = np.zeros_like(r_tips)
    forces = np.zeros_like(r_tips)
    bind_grid(ff_total, lvec)
    core.setTip(
        lRadial=tip.probe_length_a,
        kRadial=tip.krad_n_m / -ppu.eVA_Nm,
        rPP0=np.zeros(3),
        kSpring=np.array([tip.klat_n_m, tip.klat_n_m, 0.0]) / -ppu.eVA_Nm,
    )
    core.relaxTipStrokes_omp(r_tips, pp_positions, forces)
    core.lib.deleteFF_Fpointer()
    return forces[..., ::-1, 2].copy()


def simulate_stacks(
    ff: ForceField,
    z_top_a: float,
    views: Sequence[View],
    tips: Sequence[TipParams],
    cantilever: CantileverParams,
    scan: ScanParams,
    relax: Callable[[np.ndarray, np.ndarray, TipParams, np.ndarray], np.ndarray] = relax_fz,
) -> np.ndarray:
    """df stacks (Hz) for every tip and view on one force field, [n_tips, n_views, n_h, ny, nx].

    ``z_top_a``: z of the topmost atom (A); heights are ``scan.heights_a`` above it (PP at the
    oscillation's lower turning point). All tips must share the force field's multipole: only
    charge, stiffness and probe length vary, which costs a relaxation, not a force field.
    ``relax``: the engine's relaxation, :func:`relax_fz` (CPU) or
    :func:`iceafm.afm.opencl.relax_fz_opencl`.
    """
    ny, nx = scan.shape
    out = np.empty((len(tips), len(views), scan.n_heights, ny, nx), dtype=np.float32)
    for i, tip in enumerate(tips):
        if ff.multipole is not None and tip.multipole != ff.multipole:
            raise ValueError(f"tip multipole {tip.multipole!r} != force field's {ff.multipole!r}")
        apex = tip_positions(views, scan, z_top_a + apex_heights_a(scan, tip, cantilever))
        fz = relax(ff.total(tip.charge_e), ff.lvec, tip, apex)
        df = fz_to_df(fz, scan.height_step_a, cantilever)
        out[i] = df.reshape(len(views), ny, nx, scan.n_heights).transpose(0, 3, 1, 2)
    return out
