"""Views of a periodic slab: the scan window placed and rotated anywhere in the cell.

A view is a lateral centre (A, lab frame) and a rotation angle about z. Because the force field
is periodic, a view costs only a new set of tip positions, never a new force field. The scan
frame has pixel (ix, iy) centred at (ix * pixel, iy * pixel) A, so an atom's scan-frame x / pixel
is its column in the image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from iceafm.afm.params import ScanParams, TipParams, TipRanges, ViewParams


@dataclass(frozen=True)
class View:
    """Window centre ``center_a`` (A, lab xy, [2]) and rotation ``rotation_deg`` (deg, about z)."""

    center_a: tuple[float, float]
    rotation_deg: float

    def rotation(self) -> np.ndarray:
        """2x2 matrix taking scan-frame directions to lab directions."""
        angle = np.deg2rad(self.rotation_deg)
        return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def make_views(cell: np.ndarray, params: ViewParams, seed: int) -> list[View]:
    """``params.count`` views of a cell (A, [3, 3]); reproducible for a given ``seed``.

    View 0 is centred on the cell with no rotation; the others sit at a uniformly random
    fractional position of the a, b vectors, rotated uniformly in [0, 360) deg if
    ``params.rotate``.
    """
    rng = np.random.default_rng([params.seed, seed])
    centre = 0.5 * (cell[0, :2] + cell[1, :2])
    views = [View((float(centre[0]), float(centre[1])), 0.0)]
    for _ in range(params.count - 1):
        frac = rng.random(2)
        xy = centre + frac[0] * cell[0, :2] + frac[1] * cell[1, :2]
        angle = float(rng.uniform(0.0, 360.0)) if params.rotate else 0.0
        views.append(View((float(xy[0]), float(xy[1])), angle))
    return views


def view_tips(
    tip: TipParams, ranges: TipRanges, n_views: int, params: ViewParams, seed: int
) -> list[TipParams]:
    """The tip of each of ``n_views`` views: ``tip`` for all when ``ranges`` is not enabled,
    else ``tip`` with ``charge_e`` (e) and ``klat_n_m`` (N/m) drawn uniformly per view within
    ``ranges`` (reproducible for a given ``seed``, a stream apart from :func:`make_views`)."""
    if not ranges.enabled:
        return [tip] * n_views
    rng = np.random.default_rng([params.seed, seed, 1])
    tips = []
    for _ in range(n_views):
        draws = {
            name: float(rng.uniform(*bounds))
            for name in ("charge_e", "klat_n_m")
            if (bounds := getattr(ranges, name)) is not None
        }
        tips.append(replace(tip, **draws))
    return tips


def pixel_centres(scan: ScanParams) -> np.ndarray:
    """Scan-frame pixel centres (A), [ny, nx, 2] as (x, y)."""
    ny, nx = scan.shape
    xs = np.arange(nx) * scan.pixel_size_a
    ys = np.arange(ny) * scan.pixel_size_a
    grid_x, grid_y = np.meshgrid(xs, ys)
    return np.stack([grid_x, grid_y], axis=-1)


def _window_half(scan: ScanParams) -> np.ndarray:
    ny, nx = scan.shape
    return 0.5 * scan.pixel_size_a * np.array([nx - 1, ny - 1])


def scan_to_lab(view: View, scan: ScanParams, xy_scan_a: np.ndarray) -> np.ndarray:
    """Lab xy (A) of scan-frame points ``xy_scan_a`` (A, [..., 2])."""
    return (xy_scan_a - _window_half(scan)) @ view.rotation().T + np.asarray(view.center_a)


def lab_to_scan(view: View, scan: ScanParams, xy_lab_a: np.ndarray) -> np.ndarray:
    """Scan-frame xy (A) of lab points ``xy_lab_a`` (A, [..., 2]); inverse of scan_to_lab."""
    return (xy_lab_a - np.asarray(view.center_a)) @ view.rotation() + _window_half(scan)
