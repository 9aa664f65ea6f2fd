"""Tiny structures shared by the AFM, labels and dataset tests."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from iceafm.afm.params import (
    AfmSettings,
    CantileverParams,
    ScanParams,
    TipParams,
    ViewParams,
)


def flat_water(cell_a: float = 9.0, offset_a: tuple[float, float] = (-1.0, 0.5)) -> Atoms:
    """One water molecule lying flat (all atoms at z = 5 A) in a periodic cell (A).

    `offset_a` places the O atom relative to the cell centre in x, y (A).
    """
    angle = np.deg2rad(104.5 / 2)
    positions = [
        (0.0, 0.0, 0.0),
        (0.9572 * np.sin(angle), 0.9572 * np.cos(angle), 0.0),
        (-0.9572 * np.sin(angle), 0.9572 * np.cos(angle), 0.0),
    ]
    atoms = Atoms("OH2", positions=positions, cell=[cell_a, cell_a, 12.0], pbc=True)
    atoms.translate([0.5 * cell_a + offset_a[0], 0.5 * cell_a + offset_a[1], 5.0])
    return atoms


def small_settings(electrostatics: str = "point_charges", views: int = 1, **scan) -> AfmSettings:
    """32x32 px, 6 heights: seconds per structure on one core."""
    scan_params = {"size_a": (6.4, 6.4), "pixel_size_a": 0.2, "min_height_a": 2.9, "n_heights": 6}
    scan_params.update(scan)
    return AfmSettings(
        tip=TipParams(),
        cantilever=CantileverParams(),
        scan=ScanParams(**scan_params),
        views=ViewParams(count=views, rotate=True, seed=3),
        electrostatics=electrostatics,
    )
