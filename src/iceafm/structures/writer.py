"""Writing a structure to the data contract: atomic extxyz with its provenance in ``info``."""

from __future__ import annotations

import io
import json
import os

import ase.io
from ase import Atoms

from iceafm.io.atomic import atomic_path
from iceafm.structures.errors import StructureError

REQUIRED_INFO = ("family", "seed", "index", "params", "n_water")
"""Keys every structure file carries in its extxyz header (``params`` is a JSON string)."""


def write_structure(atoms: Atoms, path: str | os.PathLike, only_if_changed: bool = False) -> None:
    """Write ``atoms`` as extended XYZ, atomically (a killed job leaves no half file).

    With ``only_if_changed``, an existing file with the same bytes is left as it is (its
    modification time too), so that recomputing an unchanged structure does not make its DFT
    and AFM jobs look out of date.

    ``atoms.info`` must hold family, seed, index, params (JSON string of the generator
    parameters) and n_water; metal samples also carry metal and substrate. Constraints and
    calculators are not written.

    Raises:
        StructureError: a required info key is missing or ``params`` is not JSON.
    """
    missing = [key for key in REQUIRED_INFO if key not in atoms.info]
    if missing:
        raise StructureError(f"{path}: atoms.info lacks {missing}, expected all of {REQUIRED_INFO}")
    try:
        json.loads(atoms.info["params"])
    except (TypeError, ValueError) as err:
        raise StructureError(f"{path}: info['params'] is not a JSON string ({err})") from err
    clean = Atoms(
        atoms.get_chemical_symbols(),
        positions=atoms.positions,
        cell=atoms.cell,
        pbc=atoms.pbc,
        info=dict(atoms.info),
    )
    if only_if_changed and os.path.exists(path):
        text = io.StringIO()
        ase.io.write(text, clean, format="extxyz")
        with open(path, encoding="utf-8") as existing:
            if existing.read() == text.getvalue():
                return
    with atomic_path(path) as tmp:
        ase.io.write(tmp, clean, format="extxyz")
