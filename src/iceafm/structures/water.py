"""Rigid water geometry shared by the generators (TIP4P/physical-water O-H and H-O-H)."""

from __future__ import annotations

import numpy as np
from ase.calculators.tip4p import angleHOH, rOH

R_OH_A: float = float(rOH)
"""O-H bond length, A (TIP4P, 0.9572 A; also GenIce3's physical water)."""
ANGLE_HOH_DEG: float = float(angleHOH)
"""H-O-H angle, degrees (TIP4P, 104.52)."""


def hydrogens_along(o_pos_a: np.ndarray, dir1: np.ndarray, dir2: np.ndarray) -> np.ndarray:
    """Place the two H of a rigid water whose O-H bonds point roughly along two directions.

    The molecule keeps the exact O-H length and H-O-H angle: its bisector is the bisector of
    ``dir1`` and ``dir2`` and both bonds lie in their plane, so a tetrahedral pair (109.47 deg)
    is closed symmetrically to 104.52 deg, as GenIce3 does for ice.

    Args:
        o_pos_a: oxygen position, shape [3], A.
        dir1, dir2: donor directions (any length, not parallel), shape [3].

    Returns:
        H positions, shape [2, 3], A.
    """
    u1 = dir1 / np.linalg.norm(dir1)
    u2 = dir2 / np.linalg.norm(dir2)
    bisector = u1 + u2
    bisector /= np.linalg.norm(bisector)
    in_plane = u1 - u2
    in_plane /= np.linalg.norm(in_plane)
    half = np.radians(ANGLE_HOH_DEG) / 2
    h1 = o_pos_a + R_OH_A * (np.cos(half) * bisector + np.sin(half) * in_plane)
    h2 = o_pos_a + R_OH_A * (np.cos(half) * bisector - np.sin(half) * in_plane)
    return np.stack([h1, h2])
