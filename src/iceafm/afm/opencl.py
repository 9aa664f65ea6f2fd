"""OpenCL engine: the probe-particle relaxation of :mod:`iceafm.afm.scan` on an OpenCL device.

The force field is the CPU engine's (:mod:`iceafm.afm.forcefield`, built once per structure), so
both engines see the same grid, LJ parameters, electrostatics and periodic images; only the
relaxation runs on the device, with ppafm's ``relaxStrokesTilted`` kernel (FIRE, at most 128
steps per tip position, stop at |F| < 1e-4 eV/A as on the CPU; float32; periodic trilinear
sampling of the grid). Tip positions, the height convention and the
force-to-df conversion are the CPU engine's too (:func:`iceafm.afm.scan.tip_positions`,
:func:`iceafm.afm.scan.fz_to_df`), so the images differ only by float32 rounding and the relaxation
tolerance. Every view of a structure is relaxed in one kernel launch.

Device choice: ``PYOPENCL_CTX`` if set (pyopencl's own convention), else the first GPU of any
platform, else the first device (e.g. PoCL on the CPU).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ppafm import common as ppu

from iceafm.afm.errors import OpenClUnavailableError
from iceafm.afm.params import TipParams

#: ppafm's relaxation kernel source (shipped with ppafm).
_KERNEL_DIR = Path(ppu.__file__).resolve().parent / "ocl" / "cl"
#: FIRE time step, damping (ppafm's AFMulator values; the other two entries are unused).
_RELAX_PARAMS = np.array([0.5, 0.1, 0.02, 0.5], dtype=np.float32)


@dataclass(frozen=True)
class OpenClDevice:
    """An OpenCL context, its queue and ppafm's compiled ``relaxStrokesTilted`` kernel."""

    context: object
    queue: object
    relax_kernel: object

    @property
    def name(self) -> str:
        """Platform and device name, e.g. ``Portable Computing Language: pthread-...``."""
        device = self.context.devices[0]
        return f"{device.platform.name}: {device.name}"


def _pick_context(cl):
    if os.environ.get("PYOPENCL_CTX"):
        return cl.create_some_context(interactive=False)
    devices = [d for p in cl.get_platforms() for d in p.get_devices()]
    if not devices:
        raise OpenClUnavailableError("OpenCL: no device on any platform")
    gpus = [d for d in devices if d.type & cl.device_type.GPU]
    return cl.Context([(gpus or devices)[0]])


@functools.cache
def opencl_device() -> OpenClDevice:
    """The process-wide OpenCL device (created and compiled on first use).

    Raises :class:`OpenClUnavailableError` (one line) when pyopencl or an OpenCL platform is
    missing.
    """
    try:
        import pyopencl as cl
    except ImportError:
        raise OpenClUnavailableError(
            "afm.engine 'opencl' needs pyopencl (pip install 'iceafm[opencl]') and an OpenCL "
            "driver (Debian: pocl-opencl-icd for CPUs)"
        ) from None
    try:
        context = _pick_context(cl)
    except cl.Error as err:
        raise OpenClUnavailableError(f"OpenCL: no usable platform ({err})") from None
    source = (_KERNEL_DIR / "relax.cl").read_text()
    program = cl.Program(context, source).build(options=["-I", str(_KERNEL_DIR)])
    return OpenClDevice(context, cl.CommandQueue(context), cl.Kernel(program, "relaxStrokesTilted"))


def _float4(values) -> np.ndarray:
    out = np.zeros(4, dtype=np.float32)
    out[: len(values)] = values
    return out


def relax_fz_opencl(
    ff_total: np.ndarray, lvec: np.ndarray, tip: TipParams, apex_a: np.ndarray
) -> np.ndarray:
    """OpenCL twin of :func:`iceafm.afm.scan.relax_fz` (same arguments, units and result).

    ``ff_total`` [na, nb, nc, 3] (eV/A) on the periodic grid ``lvec`` [4, 3] (A); ``apex_a``
    [..., n_z, 3] (A, lab frame) with z descending in equal steps along each stroke and the same
    xy. Returns the vertical force Fz (eV/A) on the relaxed PP, [..., n_z], z ascending.
    """
    import pyopencl as cl

    device = opencl_device()
    *lead, n_z, _ = apex_a.shape
    dz = float(apex_a[(0,) * len(lead) + (0, 2)] - apex_a[(0,) * len(lead) + (1, 2)])
    # image texel (i, j, k) = grid point (a, b, c): x (fastest) is a, so store [nc, nb, na, 4]
    texels = np.zeros((*ff_total.shape[2::-1], 4), dtype=np.float32)
    texels[..., :3] = ff_total.transpose(2, 1, 0, 3)
    image = cl.image_from_array(device.context, texels, num_channels=4, mode="r")
    # The kernel works in grid coordinates relative to the grid origin.
    starts = np.zeros((int(np.prod(lead)), 4), dtype=np.float32)
    starts[:, :3] = apex_a[..., 0, :].reshape(-1, 3) - lvec[0]
    n_strokes = starts.shape[0]
    flags = cl.mem_flags
    cl_starts = cl.Buffer(device.context, flags.READ_ONLY | flags.COPY_HOST_PTR, hostbuf=starts)
    cl_forces = cl.Buffer(device.context, flags.WRITE_ONLY, n_strokes * n_z * 16)
    cl_paths = cl.Buffer(device.context, flags.WRITE_ONLY, n_strokes * n_z * 16)
    inv_cell = np.linalg.inv(lvec[1:4]).T  # rows: dual vectors, grid coordinate = dot(pos, row)
    stiffness = np.array([tip.klat_n_m, tip.klat_n_m, 0.0, tip.krad_n_m]) / -ppu.eVA_Nm
    length = tip.probe_length_a
    device.relax_kernel(
        device.queue,
        (n_strokes,),
        None,
        image,
        cl_starts,
        cl_forces,
        cl_paths,
        *(_float4(row) for row in inv_cell),
        _float4([1.0, 0.0, 0.0]),
        _float4([0.0, 1.0, 0.0]),
        _float4([0.0, 0.0, 1.0, -dz]),  # approach: one step of dz down per tip position
        _float4(stiffness),
        _float4([0.0, 0.0, -length, length]),
        _RELAX_PARAMS,
        np.zeros(4, dtype=np.float32),
        np.int32(n_z),
    )
    forces = np.empty((n_strokes, n_z, 4), dtype=np.float32)
    cl.enqueue_copy(device.queue, forces, cl_forces)
    device.queue.finish()
    return forces[:, ::-1, 2].astype(np.float64).reshape(*lead, n_z)
