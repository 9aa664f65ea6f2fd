"""Water validation and structural checks: O-H topology, H-bond counts, distances, dipole.

All distances use the minimum image along the periodic directions of ``atoms.pbc``.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from iceafm.cell import CellError, check_slab_cell
from iceafm.structures.errors import StructureError

OH_CUTOFF_A = 1.1
"""An H belongs to the O within this distance, A."""
OH_MIN_A = 0.9
"""Shortest acceptable O-H bond, A."""
HBOND_OO_MAX_A = 3.5
"""H-bond criterion: donor O to acceptor O distance, A."""
HBOND_ANGLE_MAX_DEG = 30.0
"""H-bond criterion: angle between O_d-H and O_d...O_a, degrees."""
DETACHED_WATER_A = 4.0
"""A water with no other atom within this distance of its own is in the gas phase, A (an
H-bonded neighbour's O is about 2.8 A away, a metal surface under an adsorbed O 2.2-3 A)."""


def water_topology(atoms: Atoms, source: str) -> np.ndarray:
    """Assign every H to one O and check that each O owns exactly two H.

    Args:
        atoms: any structure; species other than O and H (substrate) are ignored.
        source: file or family name used in error messages.

    Returns:
        Atom indices of the waters, shape [n_water, 3] as (O, H, H), ordered by O index.

    Raises:
        StructureError: one line naming ``source`` and the offending atom.
    """
    symbols = np.array(atoms.get_chemical_symbols())
    o_idx = np.flatnonzero(symbols == "O")
    h_idx = np.flatnonzero(symbols == "H")
    i, j, d = neighbor_list("ijd", atoms, OH_CUTOFF_A)
    oh = (symbols[i] == "H") & (symbols[j] == "O")
    h_of_pair, o_of_pair, d_pair = i[oh], j[oh], d[oh]
    owner: dict[int, int] = {}
    for h in h_idx:
        mine = h_of_pair == h
        owners = o_of_pair[mine]
        if len(owners) == 0:
            raise StructureError(f"{source}: atom {h} (H): no O within {OH_CUTOFF_A} A")
        if len(owners) > 1:
            raise StructureError(
                f"{source}: atom {h} (H): {len(owners)} O within {OH_CUTOFF_A} A "
                f"(atoms {', '.join(map(str, sorted(owners)))}), expected exactly 1"
            )
        if d_pair[mine][0] < OH_MIN_A:
            raise StructureError(
                f"{source}: atom {h} (H): O-H distance {d_pair[mine][0]:.3f} A to atom "
                f"{owners[0]}, expected {OH_MIN_A}-{OH_CUTOFF_A} A"
            )
        owner[int(h)] = int(owners[0])
    waters = []
    for o in o_idx:
        hs = sorted(h for h, oo in owner.items() if oo == o)
        if len(hs) != 2:
            raise StructureError(
                f"{source}: atom {o} (O): {len(hs)} H within {OH_CUTOFF_A} A, expected 2"
            )
        waters.append([int(o), *hs])
    return np.array(waters, dtype=int).reshape(-1, 3)


def check_cell(atoms: Atoms, source: str) -> None:
    """Raise StructureError unless the cell is a laterally periodic slab cell
    (:func:`iceafm.cell.check_slab_cell`)."""
    try:
        check_slab_cell(atoms, source)
    except CellError as err:
        raise StructureError(str(err)) from None


def canonical_order(atoms: Atoms, waters: np.ndarray) -> Atoms:
    """Return a copy ordered as waters (O, H, H each) first, then all other atoms in file order.

    Args:
        atoms: structure containing the waters.
        waters: indices [n_water, 3] from :func:`water_topology`.
    """
    in_water = np.zeros(len(atoms), dtype=bool)
    in_water[waters.ravel()] = True
    order = np.concatenate([waters.ravel(), np.flatnonzero(~in_water)])
    return atoms[order]


def count_waters(atoms: Atoms) -> int:
    """Number of waters in a canonically ordered structure (leading O,H,H triples)."""
    symbols = atoms.get_chemical_symbols()
    n = 0
    while symbols[3 * n : 3 * n + 3] == ["O", "H", "H"]:
        n += 1
    return n


def hbond_counts(atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """Count H-bonds donated and accepted per water (geometric criterion).

    A bond O_d-H...O_a counts when d(O_d, O_a) < 3.5 A and the angle H-O_d...O_a < 30 deg.

    Args:
        atoms: canonically ordered structure (waters O,H,H first).

    Returns:
        (donated, accepted), each shape [n_water], int.
    """
    n_water = count_waters(atoms)
    waters_only = atoms[: 3 * n_water]
    i, j, vec = neighbor_list("ijD", waters_only, HBOND_OO_MAX_A)
    oo = (i % 3 == 0) & (j % 3 == 0)
    i, j, vec = i[oo], j[oo], vec[oo]
    donated = np.zeros(n_water, dtype=int)
    accepted = np.zeros(n_water, dtype=int)
    pos = waters_only.positions
    cos_max = np.cos(np.radians(HBOND_ANGLE_MAX_DEG))
    for o_d, o_a, v_oo in zip(i, j, vec, strict=True):
        for h in (o_d + 1, o_d + 2):
            v_oh = pos[h] - pos[o_d]
            cos = v_oh @ v_oo / (np.linalg.norm(v_oh) * np.linalg.norm(v_oo))
            if cos > cos_max:
                donated[o_d // 3] += 1
                accepted[o_a // 3] += 1
    return donated, accepted


def oh_bond_lengths(atoms: Atoms) -> np.ndarray:
    """O-H bond lengths of the waters (minimum image), shape [n_water, 2], A."""
    n_water = count_waters(atoms)
    lengths = np.zeros((n_water, 2))
    for m in range(n_water):
        lengths[m] = atoms.get_distances(3 * m, [3 * m + 1, 3 * m + 2], mic=True)
    return lengths


def molecule_index(atoms: Atoms) -> np.ndarray:
    """Molecule of every atom [n_atoms] of a structure in canonical order (waters O,H,H first):
    water m is m, each other atom (substrate) its own molecule after them."""
    n_water = count_waters(atoms)
    molecule = np.arange(len(atoms)) - 2 * n_water
    molecule[: 3 * n_water] = np.arange(3 * n_water) // 3
    return molecule


def closest_nonbonded_distance(atoms: Atoms) -> float:
    """Shortest distance between atoms of different molecules (substrate atoms count as single
    atoms), minimum image, A. Intramolecular O-H and H-H pairs are excluded."""
    molecule = molecule_index(atoms)
    i, j, d = neighbor_list("ijd", atoms, 3.0)
    other = molecule[i] != molecule[j]
    return float(d[other].min()) if other.any() else np.inf


def gas_phase_atoms(atoms: Atoms) -> np.ndarray:
    """Mask [n_atoms] of the atoms of gas-phase waters in a structure in canonical order (waters
    O,H,H first): waters with no atom of another molecule or of the substrate within
    :data:`DETACHED_WATER_A` of any of their atoms (minimum image), e.g. one that evaporated from
    an MD slab."""
    molecule = molecule_index(atoms)
    i, j = neighbor_list("ij", atoms, DETACHED_WATER_A)
    bound = molecule[i[molecule[i] != molecule[j]]]
    return (np.arange(len(atoms)) < 3 * count_waters(atoms)) & ~np.isin(molecule, bound)


def water_dipole_sum(atoms: Atoms) -> np.ndarray:
    """Sum over waters of (r_H1 + r_H2 - 2 r_O) with minimum-image O-H vectors, shape [3], A.

    Proportional to the net dipole of the water network (point charges +q on H, -2q on O);
    one molecule contributes about 1.17 A.
    """
    n_water = count_waters(atoms)
    total = np.zeros(3)
    for m in range(n_water):
        total += atoms.get_distances(3 * m, [3 * m + 1, 3 * m + 2], mic=True, vector=True).sum(0)
    return total
