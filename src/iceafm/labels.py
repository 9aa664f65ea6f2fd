"""Training targets from a structure (never from its images), in every view's scan frame.

Target representation (AmorAFM-like): for each species (O, H) a voxel grid aligned with the
image, with 4 channels: confidence (1 where an atom's centre lies in the voxel) and the atom's
fractional (x, y, z) position inside that voxel, in [0, 1] (z counted upwards). Voxels are
``voxel_xy_px`` image pixels wide, so voxel column j covers pixel columns
[j * voxel_xy_px, (j + 1) * voxel_xy_px); along z, layer 0 is the top one, spanning
(z_top_O + above_top_o_a - voxel_z_a, z_top_O + above_top_o_a]. If two atoms of a species
share a voxel, the higher one is kept.

npz keys (``results/labels/{sample}.npz``): ``targets`` float32
[n_views, n_species, 4, n_z, ny_lab, nx_lab]; ``species`` [n_species] str; ``atoms_xyz``
float32 [n_atoms_total, 3] (A: scan-frame x, y so that x / pixel_size is the image column; z
relative to the topmost O, <= above_top_o_a); ``atoms_number`` uint8 [n_atoms_total] (atomic
numbers); ``atoms_offsets`` int64 [n_views + 1] (view v owns rows offsets[v]:offsets[v+1]);
``voxel_size_a`` [3] (A, x, y, z); ``z_top_o_a`` (A, lab z); ``view_center_a`` [n_views, 2],
``view_rotation_deg`` [n_views]; ``settings_json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from ase import Atoms

from iceafm.afm.params import ScanParams
from iceafm.afm.views import View, lab_to_scan
from iceafm.io.atomic import atomic_path

SPECIES = ("O", "H")
_NUMBERS = {"O": 8, "H": 1}


class LabelConfigError(ValueError):
    """A ``labels`` config key holds a value outside its allowed range."""


class LabelStructureError(ValueError):
    """A structure has no oxygen atom, so no top-layer window can be defined."""


@dataclass(frozen=True)
class LabelParams:
    """Top-layer window and target grid (see the module docstring); lengths in A."""

    depth_a: float = 3.0
    above_top_o_a: float = 1.0
    voxel_xy_px: int = 4
    voxel_z_a: float = 1.0

    @classmethod
    def from_config(cls, labels: dict[str, Any]) -> LabelParams:
        """Validate the ``labels`` config section."""
        unknown = set(labels) - set(cls.__dataclass_fields__)
        if unknown:
            raise LabelConfigError(f"config labels: unknown key(s) {sorted(unknown)}")
        params = cls(**labels)
        for key, value in asdict(params).items():
            if key != "above_top_o_a" and not value > 0:
                raise LabelConfigError(f"config labels.{key}: expected > 0, got {value!r}")
        if params.above_top_o_a < 0:
            raise LabelConfigError(
                f"config labels.above_top_o_a: expected >= 0, got {params.above_top_o_a!r}"
            )
        return params

    @property
    def n_z(self) -> int:
        """Number of voxel layers along z."""
        return int(np.ceil((self.depth_a + self.above_top_o_a) / self.voxel_z_a - 1e-9))


def top_o_z_a(atoms: Atoms) -> float:
    """Lab z (A) of the topmost O, the reference of the top-layer window."""
    is_o = np.array(atoms.get_chemical_symbols()) == "O"
    if not is_o.any():
        raise LabelStructureError(f"structure {atoms.get_chemical_formula()}: no O atom")
    return float(atoms.positions[is_o, 2].max())


def top_layer_atoms(
    atoms: Atoms, view: View, scan: ScanParams, params: LabelParams
) -> tuple[np.ndarray, np.ndarray]:
    """O and H atoms (with periodic images) inside the view's window and the top-layer window.

    Returns (xyz_a [m, 3]: scan-frame x, y and z relative to the topmost O (A); numbers [m]),
    sorted by descending z. The window is the image area, [-p/2, n * p - p/2) along each axis.
    """
    symbols = np.array(atoms.get_chemical_symbols())
    keep = np.isin(symbols, SPECIES)
    z_rel = atoms.positions[keep, 2] - top_o_z_a(atoms)
    in_depth = (z_rel >= -params.depth_a) & (z_rel <= params.above_top_o_a)
    xy = atoms.positions[keep][in_depth, :2]
    numbers = np.array([_NUMBERS[s] for s in symbols[keep][in_depth]], dtype=np.uint8)
    z_rel = z_rel[in_depth]
    cell = np.asarray(atoms.cell)[:2, :2]
    ny, nx = scan.shape
    reach = np.hypot(nx, ny) * scan.pixel_size_a
    widths = np.abs(np.linalg.det(cell)) / np.linalg.norm(cell, axis=1)
    n_img = int(np.ceil(reach / widths.min())) + 1
    shifts = np.array(
        [
            i * cell[0] + j * cell[1]
            for i in range(-n_img, n_img + 1)
            for j in range(-n_img, n_img + 1)
        ]
    )
    xy_all = lab_to_scan(view, scan, (xy[None, :, :] + shifts[:, None, :]).reshape(-1, 2))
    z_all = np.tile(z_rel, len(shifts))
    num_all = np.tile(numbers, len(shifts))
    half = 0.5 * scan.pixel_size_a
    inside = (
        (xy_all[:, 0] >= -half)
        & (xy_all[:, 0] < nx * scan.pixel_size_a - half)
        & (xy_all[:, 1] >= -half)
        & (xy_all[:, 1] < ny * scan.pixel_size_a - half)
    )
    xyz = np.column_stack([xy_all[inside], z_all[inside]])
    order = np.argsort(-xyz[:, 2], kind="stable")
    return xyz[order], num_all[inside][order]


def voxel_targets(
    xyz_a: np.ndarray, numbers: np.ndarray, scan: ScanParams, params: LabelParams
) -> np.ndarray:
    """Per-species confidence + offset grid, float32 [n_species, 4, n_z, ny_lab, nx_lab].

    ``xyz_a`` as returned by :func:`top_layer_atoms` (sorted by descending z). Atoms are written
    lowest first, so the higher of two atoms sharing a voxel is kept. Offsets x, y are measured
    from the voxel's low-x/low-y edge, z upwards from its bottom, all as fractions of the voxel.
    """
    ny, nx = scan.shape
    vxy = params.voxel_xy_px * scan.pixel_size_a
    ny_lab, nx_lab = -(-ny // params.voxel_xy_px), -(-nx // params.voxel_xy_px)
    out = np.zeros((len(SPECIES), 4, params.n_z, ny_lab, nx_lab), dtype=np.float32)
    fx = (xyz_a[:, 0] + 0.5 * scan.pixel_size_a) / vxy
    fy = (xyz_a[:, 1] + 0.5 * scan.pixel_size_a) / vxy
    fz = (params.above_top_o_a - xyz_a[:, 2]) / params.voxel_z_a
    for i in range(len(xyz_a) - 1, -1, -1):
        ix, iy, iz = int(fx[i]), int(fy[i]), min(int(fz[i]), params.n_z - 1)
        s = SPECIES.index("O" if numbers[i] == 8 else "H")
        out[s, :, iz, iy, ix] = (1.0, fx[i] - ix, fy[i] - iy, 1.0 - (fz[i] - iz))
    return out


def write_labels_npz(
    path: str | os.PathLike,
    atoms: Atoms,
    views: list[View],
    scan: ScanParams,
    params: LabelParams,
) -> None:
    """Compute the targets of every view and write them atomically (keys: module docstring)."""
    targets, xyz_all, num_all, offsets = [], [], [], [0]
    for view in views:
        xyz, numbers = top_layer_atoms(atoms, view, scan, params)
        targets.append(voxel_targets(xyz, numbers, scan, params))
        xyz_all.append(xyz)
        num_all.append(numbers)
        offsets.append(offsets[-1] + len(xyz))
    settings = {"labels": asdict(params), "scan": asdict(scan)}
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez_compressed(
            handle,
            targets=np.stack(targets),
            species=np.array(SPECIES),
            atoms_xyz=np.concatenate(xyz_all).astype(np.float32),
            atoms_number=np.concatenate(num_all).astype(np.uint8),
            atoms_offsets=np.array(offsets, dtype=np.int64),
            voxel_size_a=np.array(
                [params.voxel_xy_px * scan.pixel_size_a] * 2 + [params.voxel_z_a]
            ),
            z_top_o_a=np.float64(top_o_z_a(atoms)),
            view_center_a=np.array([v.center_a for v in views]),
            view_rotation_deg=np.array([v.rotation_deg for v in views]),
            settings_json=np.str_(json.dumps(settings)),
        )
