"""Physical refinement of predicted waters (:mod:`iceafm.models.refine`): rigid TIP4P/Ice
waters relaxed under a restraint to the detected O."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from ase.geometry import find_mic
from scipy.spatial import cKDTree

from iceafm.models.refine import ORIENTATIONS, refine_waters
from iceafm.structures.ice_basal import basal_slab
from iceafm.structures.water import ANGLE_HOH_DEG, R_OH_A


@pytest.fixture(scope="module")
def bilayer() -> tuple[list[str], np.ndarray]:
    """The top bilayer (O within 1.5 A of the topmost, and their H) of an ice Ih basal slab of
    2 x 1 cells: 16 waters, O-O 2.76 A."""
    slab = basal_slab((2, 1), 2, 10.0, 3)[0]
    mol = slab.positions.reshape(-1, 3, 3)
    arms = find_mic((mol[:, 1:] - mol[:, :1]).reshape(-1, 3), slab.cell, pbc=True)[0]
    mol[:, 1:] = mol[:, :1] + arms.reshape(-1, 2, 3)  # whole waters, as a prediction has them
    top = mol[mol[:, 0, 2] > mol[:, 0, 2].max() - 1.5]
    return ["O", "H", "H"] * len(top), top.reshape(-1, 3)


def _squeezed(xyz: np.ndarray, factor: float) -> np.ndarray:
    """The waters of ``xyz`` (O, H, H each) moved whole so that their O's x, y scale by
    ``factor``."""
    waters = xyz.reshape(-1, 3, 3)
    shift = waters[:, :1] * [factor - 1.0, factor - 1.0, 0.0]
    return (waters + shift).reshape(-1, 3)


def _nearest_oo(symbols: list[str], xyz: np.ndarray) -> np.ndarray:
    o = xyz[np.asarray(symbols) == "O"]
    return cKDTree(o).query(o, k=2)[0][:, 1]


def test_refinement_restores_water_contacts_near_the_detections(bilayer):
    """A bilayer squeezed laterally by 10 % (O-O 2.5 A: closer than water's O ever sit) comes
    back towards ice's 2.76 A, each O within 0.5 A of where it was detected, as rigid waters
    (the force field's orientations)."""
    symbols, xyz = bilayer
    squeezed = _squeezed(xyz, 0.9)
    before = _nearest_oo(symbols, squeezed)
    out_symbols, out, source = refine_waters(symbols, squeezed, restraint_ev_a2=2.0,
                                             orientation="force_field")  # fmt: skip
    after = _nearest_oo(out_symbols, out)
    assert out_symbols == ["O", "H", "H"] * 16
    assert (source[0::3] == np.arange(0, 48, 3)).all()  # every O, each with its own two H
    assert (np.sort(source.reshape(-1, 3), axis=1) == np.arange(48).reshape(-1, 3)).all()
    assert abs(after.mean() - 2.76) < 0.5 * abs(before.mean() - 2.76)
    assert after.min() > before.min() + 0.1
    moved = np.linalg.norm(out[0::3] - squeezed[0::3], axis=1)
    assert moved.max() < 0.5
    waters = out.reshape(-1, 3, 3)
    v1, v2 = waters[:, 1] - waters[:, 0], waters[:, 2] - waters[:, 0]
    assert np.allclose(np.linalg.norm(v1, axis=1), R_OH_A, atol=1e-6)
    cos = (v1 * v2).sum(1) / (np.linalg.norm(v1, axis=1) * np.linalg.norm(v2, axis=1))
    assert np.allclose(np.degrees(np.arccos(cos)), ANGLE_HOH_DEG, atol=1e-4)


def test_detected_orientation_moves_each_water_whole(bilayer):
    """The default orientation: the same O as the force field's, each H moved by its O's shift."""
    symbols, xyz = bilayer
    squeezed = _squeezed(xyz, 0.9)
    _, kept, source = refine_waters(symbols, squeezed, restraint_ev_a2=2.0)
    _, turned, _ = refine_waters(symbols, squeezed, restraint_ev_a2=2.0, orientation="force_field")
    assert np.allclose(kept[0::3], turned[0::3])
    moved = (kept - squeezed[source]).reshape(-1, 3, 3)
    assert np.allclose(moved, moved[:, :1])
    assert not np.allclose(kept, turned)


def test_a_stiff_restraint_keeps_the_detected_o(bilayer):
    symbols, xyz = bilayer
    _, out, _ = refine_waters(symbols, xyz, restraint_ev_a2=1e4)
    assert np.abs(out[0::3] - xyz[0::3]).max() < 0.01


def test_hydrogens_are_paired_completed_and_capped():
    """An O with three close H keeps the two closest; an O with none stays without (the two
    that orient it in the relaxation are not returned); an H far from every O is dropped; a lone
    O has no contacts and comes back where it was."""
    o1, o2 = np.array([0.0, 0.0, 0.0]), np.array([2.8, 0.0, -0.5])
    h = np.array([[0.6, 0.75, 0.1], [-0.6, 0.75, 0.1], [0.0, -0.96, 0.0], [9.0, 9.0, 0.0]])
    symbols = ["O", "O", "H", "H", "H", "H"]
    out_symbols, out, source = refine_waters(symbols, np.vstack([o1, o2, h]),
                                             restraint_ev_a2=5.0)  # fmt: skip
    assert out_symbols == ["O", "H", "H", "O"]
    assert source[0] == 0 and source[3] == 1
    assert 4 in source[1:3] and set(source[1:3]) <= {2, 3, 4}
    assert np.allclose(out[1:3] - out[0], h[source[1:3] - 2] - o1)
    assert np.linalg.norm(out[3] - o2) < 0.3
    lone_symbols, lone, _ = refine_waters(["O"], o1[None], restraint_ev_a2=1.0)
    assert lone_symbols == ["O"] and np.allclose(lone[0], o1)
    assert refine_waters(["H"], h[:1], restraint_ev_a2=1.0)[0] == []


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_a_restraint_that_is_not_positive_gets_one_line(bad):
    with pytest.raises(ValueError, match=r"^refinement restraint: expected a number > 0 eV/A\^2"):
        refine_waters(["O"], np.zeros((1, 3)), restraint_ev_a2=bad)
    with pytest.raises(ValueError, match=r"^refinement orientation: expected one of"):
        refine_waters(["O"], np.zeros((1, 3)), restraint_ev_a2=1.0, orientation="up")


def test_every_way_in_offers_the_orientations_refine_knows():
    """``iceafm predict --refine-orientation`` and the schema's ``predict_real.refine.orientation``
    offer exactly :data:`iceafm.models.refine.ORIENTATIONS` (the CLI keeps its own tuple so that
    ``--help`` does not import torch)."""
    from helpers import REPO

    from iceafm.cli import build_parser

    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    predict = subparsers.choices["predict"]
    cli = next(a for a in predict._actions if a.dest == "refine_orientation").choices
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    refine = schema["properties"]["predict_real"]["properties"]["refine"]["properties"]
    assert tuple(cli) == ORIENTATIONS
    assert tuple(refine["orientation"]["enum"]) == ORIENTATIONS
    assert refine["orientation"]["default"] == ORIENTATIONS[0]
