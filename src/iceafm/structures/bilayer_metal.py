"""Hexagonal ice bilayer (H-up or H-down, ice-rule compliant in the layer) on Cu(111) or Au(111).

Cells are rectangular (ASE ``fcc111(..., orthogonal=True)``: x along a close-packed row, z along
the surface normal) and commensurate with a hexagonal ice bilayer of in-plane lattice constant
a_ice = 4.517 A (GenIce3 ice Ih):

- Cu (a = 3.61 A): ice (sqrt3 x sqrt3)R30 on Cu(111), the classic Cu/Pt(111) registry. One
  repeat is 3 x 2 surface atoms (7.66 x 4.42 A) holding 4 waters; ice strained -2.1 %.
- Au (a = 4.08 A): ice aligned with the rows, 2 x 2 ice rectangles on 3 x 6 surface atoms
  (8.65 x 14.99 A) holding 16 waters; ice strained -4.2 %.

``surface_size = [nx, ny, layers]`` is passed to ``fcc111`` as is, so nx, ny must be multiples
of the repeat above. Waters come first (O,H,H), metal atoms last.

Layer model (Doering-Madey H-up bilayer): the lower molecules sit atop metal atoms at
``height_a`` above the top metal plane and bind through the O lone pair; they donate both H
into the layer. The upper molecules sit ``buckling`` higher (chosen to keep O-O = 2.76 A), point
one H up (dangling OH) and donate the other into the layer. So each molecule has 3 in-layer
H-bonds plus a lone pair (lower) or a dangling H (upper); the proton disorder is which lower
molecule each upper one donates to, a perfect matching of the honeycomb drawn by a seeded
random walk of defect pairs (a worm move) from an ordered start.

H-down bilayer (``orientation: down``): the roles swap, the lower molecules point one H down
to the metal and donate the other into the layer (a matching lower -> upper), the upper ones
donate both H into the layer and show a lone pair to the tip. ``random`` draws up or down per
sample (one draw from the sample's generator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.build import fcc111

from iceafm.structures.errors import StructureError
from iceafm.structures.water import hydrogens_along

A_ICE_A = 4.5165
"""In-plane lattice constant of ice Ih (GenIce3 ice1h_unit, 7.823 A / sqrt 3), A."""
D_OO_A = 2.76
"""O-O H-bond length kept in the bilayer, A."""
WORM_MOVES_PER_WATER = 10
ORIENTATIONS = ("up", "down", "random")


@dataclass(frozen=True)
class Registry:
    """A commensurate repeat: surface atoms (nx, ny) of fcc111(orthogonal) per ice rectangles."""

    metal_repeat: tuple[int, int]
    ice_rectangles: tuple[int, int]
    ice_rotated: bool
    description: str


REGISTRIES = {
    "Cu": Registry((3, 2), (1, 1), True, "ice (sqrt3 x sqrt3)R30 on Cu(111)"),
    "Au": Registry((3, 6), (2, 2), False, "ice 2x2 (rect.) on Au(111) 3x6 (rect.), aligned"),
}


def honeycomb_bonds(
    lower_xy: np.ndarray, upper_xy: np.ndarray, cell_xy: np.ndarray, bond_xy_a: float
) -> list[tuple[int, int, np.ndarray]]:
    """In-layer bonds of a periodic honeycomb: (upper, lower, shift from upper to lower, A [2]).

    Periodic images make distinct bonds even between the same pair (small cells), so bonds are
    listed with their in-plane vector rather than as pairs.
    """
    shifts = np.array([[sx, sy] for sx in (-1, 0, 1) for sy in (-1, 0, 1)]) * cell_xy
    # vec[u, lo, s] = lower + shift - upper; argwhere's C order is the (u, lo, shift) loop order
    vec = lower_xy[None, :, None] + shifts[None, None] - upper_xy[:, None, None]
    hits = np.argwhere(np.abs(np.linalg.norm(vec, axis=-1) - bond_xy_a) < 1e-3)
    return [(int(u), int(lo), vec[u, lo, s]) for u, lo, s in hits]


def random_matching(
    bonds: list[tuple[int, int, np.ndarray]], n_pairs: int, rng: np.random.Generator
) -> np.ndarray:
    """Seeded random perfect matching upper -> lower over the honeycomb bonds.

    Starts from the ordered matching (every upper along the same bond direction, the one
    pointing most in -y) and
    applies worm moves: an upper molecule switches to another of its bonds, displacing the
    lower molecule's previous partner, until the walk closes on the vacated lower molecule.

    Returns:
        bond index chosen by each upper molecule, shape [n_pairs].
    """
    bonds_of_upper = [[b for b, bond in enumerate(bonds) if bond[0] == u] for u in range(n_pairs)]
    def direction(b: int) -> tuple[float, float]:
        """Sort key: most -y first, ties (H-down on Au) by x, so every site takes the same bond
        direction, which makes the start a perfect matching."""
        unit = bonds[b][2] / np.linalg.norm(bonds[b][2])
        return round(float(unit[1]), 6), round(float(unit[0]), 6)

    chosen = np.array([min(bs, key=direction) for bs in bonds_of_upper])
    taker_of_lower = np.empty(n_pairs, dtype=int)
    taker_of_lower[[bonds[b][1] for b in chosen]] = np.arange(n_pairs)
    for _ in range(WORM_MOVES_PER_WATER * n_pairs):
        upper = int(rng.integers(n_pairs))
        vacated = bonds[chosen[upper]][1]
        while True:
            others = [b for b in bonds_of_upper[upper] if b != chosen[upper]]
            chosen[upper] = others[rng.integers(len(others))]
            lower = bonds[chosen[upper]][1]
            displaced = taker_of_lower[lower]
            taker_of_lower[lower] = upper
            if lower == vacated:
                break
            upper = displaced
    return chosen


def generate_bilayer_metal(params: dict, rng: np.random.Generator) -> Atoms:
    """Ice bilayer on a metal (111) slab for the ``bilayer_metal`` family.

    Args:
        params: ``metal`` ("Cu" | "Au"), ``surface_size`` ([nx, ny, layers], fcc111 atoms),
            ``height_a`` (lower O above the top metal plane, A), ``vacuum_a`` (total vacuum, A),
            ``orientation`` ("up" | "down" | "random", default "up").
        rng: the sample's generator (orientation draw, then proton arrangement).

    Returns:
        Atoms: waters O,H,H first (the upper molecules, then the lower ones), metal last;
        rectangular cell, pbc (True, True, False); info has metal, substrate, registry,
        ice_strain (relative, same in x and y), n_metal, orientation ("up" | "down").
    """
    metal = str(params["metal"])
    if metal not in REGISTRIES:
        raise StructureError(
            f"bilayer_metal: metal = {metal!r}, expected one of {sorted(REGISTRIES)}"
        )
    registry = REGISTRIES[metal]
    orientation = str(params.get("orientation", "up"))
    if orientation not in ORIENTATIONS:
        raise StructureError(
            f"bilayer_metal: orientation = {orientation!r}, expected one of {list(ORIENTATIONS)}"
        )
    if orientation == "random":
        orientation = ("up", "down")[int(rng.integers(2))]
    nx, ny, layers = (int(v) for v in params["surface_size"])
    mx, my = registry.metal_repeat
    if nx % mx or ny % my or nx < mx or ny < my or layers < 1:
        raise StructureError(
            f"bilayer_metal: surface_size = {[nx, ny, layers]} for {metal}, expected nx a "
            f"multiple of {mx}, ny a multiple of {my} and layers >= 1"
        )
    slab = fcc111(metal, size=(nx, ny, layers), orthogonal=True, vacuum=0.0)
    cell_xy = np.array([slab.cell[0, 0], slab.cell[1, 1]])
    n_rect = (registry.ice_rectangles[0] * nx // mx, registry.ice_rectangles[1] * ny // my)
    # A rectangle spans (a, sqrt3 a), or (sqrt3 a, a) when the ice is turned by 30 deg (90 deg
    # for the rectangle); strain is equal along x and y by construction of the registries.
    aspect = (
        np.array([np.sqrt(3.0), 1.0]) if registry.ice_rotated else np.array([1.0, np.sqrt(3.0)])
    )
    a_ice = cell_xy[0] / (n_rect[0] * aspect[0])
    strain = a_ice / A_ICE_A - 1.0
    bond_xy = a_ice / np.sqrt(3.0)
    buckling = np.sqrt(D_OO_A**2 - bond_xy**2)

    # Honeycomb rectangle with a along x: lower O at (0, 0) and (a/2, sqrt3 a/2), upper O
    # a/sqrt3 higher in y.
    rect_lower = np.array([[0.0, 0.0], [0.5, np.sqrt(3.0) / 2]]) * a_ice
    rect_upper = rect_lower + np.array([0.0, bond_xy])
    if registry.ice_rotated:
        rect_lower, rect_upper = rect_lower[:, ::-1], rect_upper[:, ::-1]
    rect_size = aspect * a_ice
    offsets = np.array([[i, j] for i in range(n_rect[0]) for j in range(n_rect[1])]) * rect_size
    top = slab.positions[:, 2].max()
    top_layer_xy = slab.positions[np.isclose(slab.positions[:, 2], top), :2]
    anchor_xy = top_layer_xy[top_layer_xy.sum(1).argmin()]  # a lower O sits atop this atom
    lower_xy = ((offsets[:, None] + rect_lower).reshape(-1, 2) + anchor_xy) % cell_xy
    upper_xy = ((offsets[:, None] + rect_upper).reshape(-1, 2) + anchor_xy) % cell_xy
    n_pairs = len(lower_xy)

    z_lower = top + float(params["height_a"])
    z_upper = z_lower + buckling
    lower_o = np.column_stack([lower_xy, np.full(n_pairs, z_lower)])
    upper_o = np.column_stack([upper_xy, np.full(n_pairs, z_upper)])
    # H-up: each upper molecule donates one bond (a matching upper -> lower) and points one H
    # up; the lower ones donate their other two bonds. H-down: the same with the layers swapped
    # (bond vectors from the matched layer's molecule, dz = -buckling for upper -> lower).
    if orientation == "up":
        matched_xy, other_xy, matched_o, other_o = upper_xy, lower_xy, upper_o, lower_o
        dz, free_dir = -buckling, np.array([0, 0, 1.0])
    else:
        matched_xy, other_xy, matched_o, other_o = lower_xy, upper_xy, lower_o, upper_o
        dz, free_dir = buckling, np.array([0, 0, -1.0])
    bonds = honeycomb_bonds(other_xy, matched_xy, cell_xy, bond_xy)  # (matched, other, vec)
    chosen = random_matching(bonds, n_pairs, rng)

    def bond_vector(b: int) -> np.ndarray:
        """Matched-layer O -> other-layer O, A [3]."""
        return np.array([*bonds[b][2], dz])

    positions = []
    for m in range(n_pairs):
        free = free_dir
        if orientation == "down":
            # tetrahedral to the H-bond, in a plane tilted 45 deg off the vertical: pointing
            # straight down from an atop O would put the H 1.5 A from the metal atom below
            # (45 deg: 1.7-1.8 A at height_a 2.4; 60 deg brings it 1.5 A from a neighbour H)
            u = bond_vector(chosen[m]) / np.linalg.norm(bond_vector(chosen[m]))
            side = np.cross([0.0, 0.0, 1.0], u)
            w = (free_dir + side / np.linalg.norm(side)) / np.sqrt(2)
            free = -u / 3 + np.sqrt(8 / 9) * w
        hydrogens = hydrogens_along(matched_o[m], bond_vector(chosen[m]), free)
        positions += [matched_o[m], *hydrogens]
    taken = set(chosen.tolist())
    for o in range(n_pairs):
        donated = [b for b, bond in enumerate(bonds) if bond[1] == o and b not in taken]
        positions += [
            other_o[o],
            *hydrogens_along(other_o[o], -bond_vector(donated[0]), -bond_vector(donated[1])),
        ]
    if orientation == "down":  # keep the documented order: upper molecules first
        positions = positions[3 * n_pairs :] + positions[: 3 * n_pairs]
    water = Atoms("OH2" * (2 * n_pairs), positions=positions)
    atoms = water + slab
    atoms.cell = [cell_xy[0], cell_xy[1], 1.0]
    atoms.pbc = (True, True, False)
    atoms.center(vacuum=float(params["vacuum_a"]) / 2, axis=2)
    atoms.info.update(
        metal=metal,
        substrate=f"{metal}(111)",
        registry=registry.description,
        ice_strain=round(float(strain), 5),
        n_metal=len(slab),
        orientation=orientation,
    )
    return atoms
