"""Label grid <-> atom lists (the representation of :mod:`iceafm.labels`).

Grid: float [n_species, 4, n_z, ny_l, nx_l]; channel 0 confidence in [0, 1], channels 1-3 the
fractional x, y, z of the atom in its voxel (x, y from the voxel's low edge, z upwards from its
bottom). Voxel (iz, iy, ix) of a window with pixel ``p`` and lateral voxel ``v = voxel_xy_px *
p`` spans x in [ix v - p/2, (ix + 1) v - p/2) (scan frame: pixel column j centred at j p) and
z in (above - (iz + 1) vz, above - iz vz] relative to the topmost O (``above`` =
``above_top_o_a``, ``vz`` = ``voxel_z_a``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from iceafm.afm.params import ScanParams
from iceafm.labels import SPECIES, LabelParams, voxel_targets

_NUMBERS = {"O": 8, "H": 1}


@dataclass(frozen=True)
class GridGeometry:
    """Where the label grid sits: ``pixel_size_a`` (A), ``voxel_xy_px`` (pixels per voxel),
    ``voxel_z_a`` and ``above_top_o_a`` (A), as in :class:`iceafm.labels.LabelParams`."""

    pixel_size_a: float
    voxel_xy_px: int
    voxel_z_a: float
    above_top_o_a: float

    @property
    def voxel_xy_a(self) -> float:
        """Lateral voxel size (A)."""
        return self.voxel_xy_px * self.pixel_size_a


def grid_to_candidates(
    grid: np.ndarray, geometry: GridGeometry, species_index: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Voxels of one species with confidence > ``threshold``: (xyz_a [m, 3], confidence [m]),
    positions from the voxel index plus its fractional offsets (labels frame, A)."""
    conf = grid[species_index, 0]
    iz, iy, ix = np.nonzero(conf > threshold)
    off = grid[species_index][1:, iz, iy, ix].T  # [m, 3]
    v, p = geometry.voxel_xy_a, geometry.pixel_size_a
    x = (ix + off[:, 0]) * v - 0.5 * p
    y = (iy + off[:, 1]) * v - 0.5 * p
    z = geometry.above_top_o_a - (iz + 1.0 - off[:, 2]) * geometry.voxel_z_a
    return np.column_stack([x, y, z]).astype(np.float64), conf[iz, iy, ix].astype(np.float64)


def per_species(value: Any, key: str) -> float | dict[str, float]:
    """A decode setting given as one number or as one per species (a mapping with exactly the
    keys of :data:`SPECIES`), each >= 0, as a float or a dict of floats; a :class:`ValueError`
    (one line naming ``key``) otherwise."""
    each = ", ".join(f"{name}: number >= 0" for name in SPECIES)
    expected = f"expected a number >= 0 or a mapping {{{each}}}"
    if isinstance(value, Mapping):
        if set(value) != set(SPECIES):
            raise ValueError(f"{key}: {expected}, got {dict(value)!r}")
        return {name: float(per_species(value[name], f"{key}.{name}")) for name in SPECIES}
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{key}: {expected}, got {value!r}")
    return float(value)


def for_species(value: float | Mapping[str, float], name: str) -> float:
    """The value of a decode setting (one number, or one per species) for species ``name``."""
    return value[name] if isinstance(value, Mapping) else value


def non_max_suppression(xyz_a: np.ndarray, conf: np.ndarray, radius_a: float) -> np.ndarray:
    """Indices (by descending confidence) of the candidates kept when every candidate within
    ``radius_a`` (A, 3D) of a more confident kept one is dropped."""
    order = np.argsort(-conf, kind="stable")
    kept: list[int] = []
    for i in order:
        if kept and np.min(np.linalg.norm(xyz_a[kept] - xyz_a[i], axis=1)) < radius_a:
            continue
        kept.append(int(i))
    return np.array(kept, dtype=np.int64)


def away_from_edges(
    xyz_a: np.ndarray, extent_a: tuple[float, float], margin_a: float
) -> np.ndarray:
    """Mask [n] of the atoms at xyz_a [n, 3] (A) that lie at least ``margin_a`` (A) inside a
    scan spanning 0..extent_a (x, y; A): on a non-periodic real scan the network, padded with
    zeros beyond the edge, fires along it (the shipped model put 21 of its 46 O on Ying_Jiang_1
    within 0.5 A of the edge)."""
    x, y = xyz_a[:, 0], xyz_a[:, 1]
    return (
        (x >= margin_a)
        & (x <= extent_a[0] - margin_a)
        & (y >= margin_a)
        & (y <= extent_a[1] - margin_a)
    )


def decode_grid(
    grid: np.ndarray,
    geometry: GridGeometry,
    threshold: float | Mapping[str, float] = 0.5,
    nms_radius_a: float | Mapping[str, float] = 1.0,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Atoms of a predicted (or target) grid: (symbols [n], xyz_a [n, 3] (labels frame: scan x,
    y; z relative to the topmost O), confidence [n]), species in :data:`SPECIES` order, each
    sorted by descending confidence, after a confidence threshold and a per-species NMS within
    ``nms_radius_a`` (A), each one value or one per species."""
    symbols: list[str] = []
    xyz_all, conf_all = [np.zeros((0, 3))], [np.zeros(0)]
    for s, name in enumerate(SPECIES):
        xyz, conf = grid_to_candidates(grid, geometry, s, for_species(threshold, name))
        keep = non_max_suppression(xyz, conf, for_species(nms_radius_a, name))
        symbols += [name] * len(keep)
        xyz_all.append(xyz[keep])
        conf_all.append(conf[keep])
    return symbols, np.concatenate(xyz_all), np.concatenate(conf_all)


def encode_atoms(
    symbols: list[str],
    xyz_a: np.ndarray,
    geometry: GridGeometry,
    shape_yx: tuple[int, int],
    depth_a: float,
) -> np.ndarray:
    """Target grid [n_species, 4, n_z, ny_l, nx_l] of atoms (labels frame) for an image of
    ``shape_yx`` pixels, by :func:`iceafm.labels.voxel_targets` itself (atoms outside the image
    or the depth window must already be dropped)."""
    numbers = np.array([_NUMBERS[s] for s in symbols], dtype=np.uint8)
    order = np.argsort(-np.asarray(xyz_a)[:, 2], kind="stable") if len(numbers) else []
    scan = ScanParams(
        size_a=(shape_yx[1] * geometry.pixel_size_a, shape_yx[0] * geometry.pixel_size_a),
        pixel_size_a=geometry.pixel_size_a,
    )
    params = LabelParams(
        depth_a=depth_a,
        above_top_o_a=geometry.above_top_o_a,
        voxel_xy_px=geometry.voxel_xy_px,
        voxel_z_a=geometry.voxel_z_a,
    )
    return voxel_targets(np.asarray(xyz_a).reshape(-1, 3)[order], numbers[order], scan, params)
