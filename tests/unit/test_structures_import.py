"""User imports and the written files: validation, reordering, round trip of every generator."""

import json
import re

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import fcc111

from iceafm.structures import (
    StructureError,
    generate_structure,
    read_user_structure,
    write_structure,
)

# premelt needs MD frames: its round trip is in tests/unit/test_structures_premelt.py
FAMILIES = {
    "ice_basal": {"count": 1, "bilayers": 2, "supercell": [1, 1], "vacuum_a": 10.0},
    "bilayer_metal": {
        "count": 1,
        "metal": "Au",
        "surface_size": [3, 6, 1],
        "height_a": 3.0,
        "vacuum_a": 10.0,
    },
}


def water(o, flip=False):
    """One water at ``o`` (A), as O,H,H or (flip) H,O,H."""
    h1, h2 = o + [0.757, 0.586, 0.0], o + [-0.757, 0.586, 0.0]
    return Atoms("HOH", positions=[h1, o, h2]) if flip else Atoms("OHH", positions=[o, h1, h2])


def user_file(tmp_path, atoms, name="snap.xyz"):
    path = tmp_path / name
    ase.io.write(path, atoms, format="extxyz")
    return path


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_generator_round_trips_through_the_importer(tmp_path, family):
    atoms = generate_structure(family, 4, FAMILIES[family], seed=9)
    path = tmp_path / f"{family}-00004.extxyz"
    write_structure(atoms, path)
    back = read_user_structure(path)
    assert back.get_chemical_symbols() == atoms.get_chemical_symbols()
    np.testing.assert_allclose(back.positions, atoms.positions, atol=1e-6)
    header = ase.io.read(path, format="extxyz").info
    assert header["family"] == family and header["index"] == 4 and header["seed"] == 9
    assert json.loads(header["params"]) == {
        k: v for k, v in FAMILIES[family].items() if k != "count"
    }
    assert header["n_water"] == back.info["n_water"]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_import_reorders_waters_first_and_keeps_substrate(tmp_path):
    metal = fcc111("Cu", size=(2, 2, 1), vacuum=6.0)
    metal.info = {}
    top = metal.positions[:, 2].max()
    atoms = metal + water(np.array([1.0, 1.0, top + 2.5]), flip=True)
    atoms += water(np.array([3.5, 2.0, top + 2.6]))
    back = read_user_structure(user_file(tmp_path, atoms))
    assert back.get_chemical_symbols() == ["O", "H", "H"] * 2 + ["Cu"] * 4
    assert back.info == {
        "family": "import",
        "source": "snap.xyz",
        "params": '{"source": "snap.xyz"}',
        "n_water": 2,
    }


def test_import_pairs_hydrogens_across_the_periodic_boundary(tmp_path):
    atoms = water(np.array([0.2, 5.0, 5.0]))  # H2 at x = -0.557 wraps to the far side
    atoms.cell = [10.0, 10.0, 10.0]
    atoms.pbc = True
    atoms.wrap()
    assert read_user_structure(user_file(tmp_path, atoms)).info["n_water"] == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda a: a.positions.__setitem__(2, a.positions[2] + [3.0, 0, 0]),
            "atom 2 (H): no O within 1.1 A",
        ),
        (
            lambda a: a.positions.__setitem__(1, a.positions[0] + [0.8, 0, 0]),
            "atom 1 (H): O-H distance 0.800 A",
        ),
        (lambda a: a.set_cell([0, 0, 0]), "cell has zero volume"),
        (lambda a: a.set_pbc(False), "expected periodic x and y"),
        (lambda a: a.set_cell([[10, 0, 0], [0, 10, 0], [2, 0, 10]]), "c along z"),
    ],
)
def test_broken_waters_give_one_line_errors(tmp_path, edit, message):
    atoms = water(np.array([5.0, 5.0, 5.0]))
    atoms.cell = [10.0, 10.0, 10.0]
    atoms.pbc = True
    edit(atoms)
    with pytest.raises(StructureError, match=re.escape(message)) as info:
        read_user_structure(user_file(tmp_path, atoms))
    assert str(info.value).startswith("snap.xyz: ") and "\n" not in str(info.value)


def test_gas_phase_water_above_the_slab_is_rejected_and_a_bound_one_kept(tmp_path):
    """A molecule evaporated from the slab would set the AFM scan heights: refused, naming its
    O in the file; the same molecule H-bonded on top (O-O 2.9 A) is part of the surface."""
    slab = generate_structure("bilayer_metal", 0, FAMILIES["bilayer_metal"], seed=1)
    o_top = slab.positions[slab.numbers == 8][np.argmax(slab.positions[slab.numbers == 8, 2])]
    for lift, accepted in ((8.0, False), (2.9, True)):
        atoms = slab + water(o_top + [0.0, 0.0, lift])
        path = user_file(tmp_path, atoms, f"lift{lift:g}.xyz")
        if accepted:
            assert read_user_structure(path).info["n_water"] == slab.info["n_water"] + 1
            continue
        message = f"lift8.xyz: the water of atom {len(slab)} (O) at z {o_top[2] + lift:.2f} A"
        with pytest.raises(StructureError, match=re.escape(message) + ".*no other atom within 4 A"):
            read_user_structure(path)


def test_oxygen_with_three_hydrogens_is_rejected(tmp_path):
    atoms = water(np.array([5.0, 5.0, 5.0])) + Atoms("H", positions=[[5.0, 4.05, 5.0]])
    atoms.cell = [10.0, 10.0, 10.0]
    atoms.pbc = True
    with pytest.raises(StructureError, match=r"atom 0 \(O\): 3 H within 1.1 A, expected 2"):
        read_user_structure(user_file(tmp_path, atoms))


def test_wrong_suffix_is_rejected(tmp_path):
    with pytest.raises(StructureError, match="expected one of"):
        read_user_structure(tmp_path / "snap.pdb")


def test_writer_refuses_atoms_without_provenance(tmp_path):
    with pytest.raises(StructureError, match="lacks"):
        write_structure(water(np.zeros(3)), tmp_path / "x.extxyz")
    assert not list(tmp_path.iterdir())
