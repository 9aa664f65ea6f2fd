"""Agreement of our prediction on the real premelting ice surface with AmorAFM's published one.

AmorAFM's ``amorafm_prediction.xyz`` holds O and H in the top 3 A of a 45 x 45 A region of the
70 x 70 A scan, at an unrecorded place. :func:`amorafm_agreement` registers it by the lateral
shift s (A; reference x, y + s = our scan frame) that maximises the O F1 at 1.0 A: a coarse grid
(``grid_step_a``) over every shift that keeps the region inside the scan (+- 2 A), ranked by a
cheap bound, the exact F1 on its best ``n_candidates``, then a fine grid (``refine_step_a``)
around the best. For each shift only our O inside the shifted region
count (the reference says nothing about the rest of the scan). Matching: optimal one-to-one
within the cutoff (:func:`iceafm.metrics.detection.match_atoms`) in 3D, z of each set relative to
its own topmost O; the lateral-only F1 is reported beside it.

The registration's search over shifts finds some agreement for any O layer of a given density,
so both F1 come with their chance level (:func:`random_o_layer`): the same registration and
score for our O moved to random lateral positions, same count, none closer than
``chance_spacing_a`` (default: water's closest O-O approach, the shipped decode's O NMS radius),
mean of ``chance_draws`` layers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from iceafm.metrics.detection import match_atoms
from iceafm.metrics.label_free import WATER_OO_MIN_A

#: Lateral size (A) of AmorAFM's predicted region.
AMORAFM_REGION_A = 45.0


def _o_positions(symbols: list[str] | np.ndarray, positions_a: np.ndarray, depth_a: float):
    """O positions [n, 3] with z relative to the topmost O, only the top ``depth_a`` A."""
    xyz = np.asarray(positions_a, dtype=np.float64).reshape(-1, 3)[np.asarray(symbols) == "O"]
    if len(xyz):
        xyz = xyz.copy()
        xyz[:, 2] -= xyz[:, 2].max()
        xyz = xyz[xyz[:, 2] >= -depth_a]
    return xyz


def _read_atoms(source: Any) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """(symbols, positions [n, 3], cell xy lengths or None) of an (ext)xyz path or an object with
    ``symbols`` and ``positions_a`` (a Detection or Prediction)."""
    if isinstance(source, str | os.PathLike):
        from ase.io import read

        path = Path(source)
        try:
            atoms = read(path)
        except Exception as err:  # ase raises many kinds for a bad xyz
            raise ValueError(f"{path}: not a readable (ext)xyz file ({err})") from None
        lengths = atoms.cell.lengths()[:2]
        cell = lengths if np.all(lengths > 0) else None
        return atoms.get_chemical_symbols(), atoms.positions, cell
    return list(source.symbols), np.asarray(source.positions_a), None


def o_f1(ours_xyz: np.ndarray, ref_xyz: np.ndarray, cutoff_a: float) -> tuple[float, int, float]:
    """(F1, true positives, mean matched distance in A) of O sets [n, 3] / [m, 3] with optimal
    one-to-one matching."""
    if not len(ours_xyz) and not len(ref_xyz):
        return 1.0, 0, 0.0
    rows, cols = match_atoms(ours_xyz, ref_xyz, cutoff_a)
    tp = len(rows)
    dist = float(np.linalg.norm(ours_xyz[rows] - ref_xyz[cols], axis=1).mean()) if tp else 0.0
    return 2 * tp / (len(ours_xyz) + len(ref_xyz)), tp, dist


def _score(ours, ref, shift, region, cutoff_a, lateral):
    lo = shift
    hi = shift + region
    inside = np.all((ours[:, :2] >= lo - 0.5 * cutoff_a) & (ours[:, :2] <= hi + 0.5 * cutoff_a), 1)
    moved = ref.copy()
    moved[:, :2] += shift
    a, b = ours[inside], moved
    if lateral:
        a, b = a * [1, 1, 0], b * [1, 1, 0]
    return o_f1(a, b, cutoff_a), inside


def random_o_layer(
    ours_xyz: np.ndarray, scan_a: tuple[float, float], spacing_a: float, seed: int
) -> np.ndarray:
    """``ours_xyz`` [n, 3] (A) with x, y replaced by uniform random positions in the scan (0.5 A
    from its edges), no two closer than ``spacing_a``: random sequential addition; z kept."""
    rng = np.random.default_rng(seed)
    high = np.asarray(scan_a, dtype=float) - 0.5
    points = np.empty((0, 2))
    while len(points) < len(ours_xyz):
        q = rng.uniform(0.5, high)
        if not len(points) or np.hypot(*(points - q).T).min() >= spacing_a:
            points = np.vstack([points, q])
    return np.column_stack([points, ours_xyz[:, 2]])


def register_shift(
    ours_xyz: np.ndarray,
    ref_xyz: np.ndarray,
    scan_a: tuple[float, float],
    region_a: tuple[float, float] = (AMORAFM_REGION_A, AMORAFM_REGION_A),
    cutoff_a: float = 1.0,
    grid_step_a: float = 0.5,
    refine_step_a: float = 0.05,
    lateral: bool = False,
    n_candidates: int = 25,
) -> tuple[np.ndarray, float]:
    """Shift [2] (A) maximising the O F1 of ``ref_xyz`` + shift against ``ours_xyz`` (see the
    module), then minimising the mean matched distance (F1 is flat near the optimum); and F1."""
    region = np.asarray(region_a, dtype=np.float64)
    span = np.asarray(scan_a, dtype=np.float64) - region
    xs = np.arange(-2.0, span[0] + 2.0 + 1e-9, grid_step_a)
    ys = np.arange(-2.0, span[1] + 2.0 + 1e-9, grid_step_a)
    # coarse grid ranked by a cheap upper bound (reference O with any of our O within the
    # cutoff), the exact one-to-one F1 on the best candidates and in the refinement
    tree_dims = 2 if lateral else 3
    tree = cKDTree(ours_xyz[:, :tree_dims]) if len(ours_xyz) else None
    proxy = []
    for sx in xs:
        for sy in ys:
            shift = np.array([sx, sy])
            moved = ref_xyz[:, :tree_dims].copy()
            moved[:, :2] += shift
            hits = 0
            if tree is not None and len(moved):
                hits = int(np.isfinite(tree.query(moved, distance_upper_bound=cutoff_a)[0]).sum())
            proxy.append((hits, sx, sy))
    proxy.sort(key=lambda item: -item[0])
    # F1 is flat within ~cutoff of the true shift: ties go to the smaller mean matched distance
    best = ((-1.0, 0.0), np.zeros(2))
    for _, sx, sy in proxy[:n_candidates]:
        (f1, _, dist), _ = _score(ours_xyz, ref_xyz, np.array([sx, sy]), region, cutoff_a, lateral)
        if (f1, -dist) > best[0]:
            best = ((f1, -dist), np.array([sx, sy]))
    fine = np.arange(-grid_step_a, grid_step_a + 1e-9, refine_step_a)
    centre = best[1]
    for dx in fine:
        for dy in fine:
            shift = centre + [dx, dy]
            (f1, _, dist), _ = _score(ours_xyz, ref_xyz, shift, region, cutoff_a, lateral)
            if (f1, -dist) > best[0]:
                best = ((f1, -dist), shift)
    return best[1], best[0][0]


#: The square's symmetries (2x2 matrices acting on x, y about the region centre).
ORIENTATIONS: dict[str, np.ndarray] = {
    "identity": np.array([[1, 0], [0, 1]]),
    "rot90": np.array([[0, -1], [1, 0]]),
    "rot180": np.array([[-1, 0], [0, -1]]),
    "rot270": np.array([[0, 1], [-1, 0]]),
    "flip_x": np.array([[-1, 0], [0, 1]]),
    "flip_y": np.array([[1, 0], [0, -1]]),
    "transpose": np.array([[0, 1], [1, 0]]),
    "antitranspose": np.array([[0, -1], [-1, 0]]),
}


def _oriented(ref_xyz: np.ndarray, matrix: np.ndarray, region: tuple[float, float]) -> np.ndarray:
    centre = np.asarray(region) / 2
    out = ref_xyz.copy()
    out[:, :2] = (ref_xyz[:, :2] - centre) @ matrix.T + centre
    return out


def points_lattice_angle_deg(
    xy_a: np.ndarray, spacing_a: tuple[float, float] = (3.6, 4.3)
) -> float:
    """Orientation (degrees in [0, 60)) of the strongest six-fold peak of the structure factor
    |sum exp(-i q.r)|^2 of points ``xy_a`` [n, 2] (A) over plane spacings ``spacing_a`` (A): the
    first reciprocal shell of their hexagonal lattice, in the convention of
    :func:`iceafm.io.stacks.lattice_angle_deg` (from +x towards +y)."""
    theta = np.deg2rad(np.arange(0.0, 60.0, 0.5))[:, None] + np.pi / 3 * np.arange(6)[None, :]
    best = (-1.0, 0.0)
    for spacing in np.arange(spacing_a[0], spacing_a[1], 0.02):
        q = 2 * np.pi / spacing * np.stack([np.cos(theta), np.sin(theta)], axis=-1)
        power = np.abs(np.exp(-1j * (q @ np.asarray(xy_a, dtype=np.float64).T)).sum(-1)) ** 2
        score = power.mean(axis=1)
        if score.max() > best[0]:
            best = (float(score.max()), float(np.rad2deg(theta[int(np.argmax(score)), 0])))
    return best[1]


def amorafm_agreement(
    prediction: Any,
    reference_xyz: str | os.PathLike,
    scan_a: tuple[float, float] | None = None,
    cutoff_a: float = 1.0,
    depth_a: float = 3.0,
    figure_path: str | os.PathLike | None = None,
    stack: Any = None,
    all_orientations: bool = False,
    chance_draws: int = 5,
    chance_spacing_a: float = WATER_OO_MIN_A,
) -> dict[str, Any]:
    """O F1 at ``cutoff_a`` between our prediction and AmorAFM's, after registration.

    ``prediction``: our ``<stem>.extxyz`` (its cell gives the scan size) or a Detection /
    Prediction; ``reference_xyz``: ``amorafm_prediction.xyz``; ``scan_a``: (W, H) of our scan (A)
    when the prediction carries none. Only the top ``depth_a`` A of O of each set count.
    ``figure_path``: a PNG overlaying both (over ``stack.df[0]`` when a Stack is given).
    Returns ``amorafm_agreement_o_f1``, ``amorafm_shift_a`` [2], ``amorafm_agreement_o_f1_lateral``
    (registered and scored on x, y only), their chance levels ``*_chance`` (module docstring;
    ``chance_draws`` 0 skips them), counts of O on each side and true positives; with
    ``all_orientations`` also ``o_f1_by_orientation``: the registered F1 after each of the
    square's 8 symmetries of the reference about its centre (a diagnostic: the reference's
    lattice is rotated about 25 degrees from the image's in the identity orientation); with a
    ``stack``, ``lattice_angle_image_deg`` and ``lattice_angle_reference_deg`` (first reciprocal
    shell, degrees mod 60, same convention).
    """
    symbols, positions, cell = _read_atoms(prediction)
    if scan_a is None:
        if cell is None and stack is not None:
            cell = np.asarray(stack.scan_size_a)
        if cell is None:
            raise ValueError("amorafm_agreement: scan size unknown; pass scan_a=(W, H) in A")
        scan_a = (float(cell[0]), float(cell[1]))
    ref_symbols, ref_positions, ref_cell = _read_atoms(Path(reference_xyz))
    region = (
        (float(ref_cell[0]), float(ref_cell[1]))
        if ref_cell is not None
        else (AMORAFM_REGION_A, AMORAFM_REGION_A)
    )
    ours = _o_positions(symbols, positions, depth_a)
    ref = _o_positions(ref_symbols, ref_positions, depth_a)
    shift, f1 = register_shift(ours, ref, scan_a, region, cutoff_a)
    shift_lat, f1_lat = register_shift(ours, ref, scan_a, region, cutoff_a, lateral=True)
    (_, tp, _), inside = _score(ours, ref, shift, np.asarray(region), cutoff_a, lateral=False)
    chance = np.zeros(2)
    for seed in range(chance_draws):
        layer = random_o_layer(ours, scan_a, chance_spacing_a, seed)
        chance += [register_shift(layer, ref, scan_a, region, cutoff_a, lateral=lat)[1]
                   for lat in (False, True)]  # fmt: skip
    chance /= max(chance_draws, 1)
    orientation_f1 = {"identity": float(f1)}
    if all_orientations:
        for name, matrix in ORIENTATIONS.items():
            if name != "identity":
                oriented = _oriented(ref, matrix, region)
                orientation_f1[name] = float(
                    register_shift(ours, oriented, scan_a, region, cutoff_a)[1]
                )
    result = {
        "amorafm_agreement_o_f1": float(f1),
        "amorafm_shift_a": [round(float(v), 3) for v in shift],
        "amorafm_agreement_o_f1_lateral": float(f1_lat),
        "amorafm_shift_lateral_a": [round(float(v), 3) for v in shift_lat],
        "amorafm_agreement_o_f1_chance": float(chance[0]) if chance_draws else None,
        "amorafm_agreement_o_f1_lateral_chance": float(chance[1]) if chance_draws else None,
        "n_ours_o_in_region": int(inside.sum()),
        "n_reference_o": int(len(ref)),
        "true_positives_o": int(tp),
        "cutoff_a": cutoff_a,
        "depth_a": depth_a,
    }
    if all_orientations:
        # diagnostic only: the published place is unrecorded, its orientation assumed identity
        result["o_f1_by_orientation"] = orientation_f1
    if stack is not None:
        from iceafm.io.stacks import lattice_angle_deg

        # a shift cannot align lattices that are rotated against each other: say how much
        result["lattice_angle_image_deg"] = lattice_angle_deg(stack.df)
        result["lattice_angle_reference_deg"] = points_lattice_angle_deg(ref[:, :2])
    if figure_path is not None:
        from iceafm.figures import save_figure
        from iceafm.figures.predict import agreement_figure

        if stack is not None:
            image, pixel = stack.df[0], stack.pixel_size_xy_a
        else:
            image, pixel = np.zeros((2, 2)), (scan_a[0] / 2, scan_a[1] / 2)
        fig = agreement_figure(
            image,
            pixel,
            ours[:, :2],
            ref[:, :2] + shift,
            (shift[0], shift[1], region[0], region[1]),
            f"O F1 at {cutoff_a} A: {f1:.3f} (lateral {f1_lat:.3f}"
            + (f"; random O: {chance[0]:.3f}" if chance_draws else "")
            + f");\nAmorAFM region shifted by ({shift[0]:.2f}, {shift[1]:.2f}) A",
        )
        save_figure(fig, figure_path)
    return result
