"""Structure stage: interfacial-water structures (ice Ih basal slabs, premelted surfaces, ice
bilayers on Cu/Au(111), user imports) in the project's water contract (waters O,H,H first).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np
from ase import Atoms

from iceafm.structures.bilayer_metal import generate_bilayer_metal
from iceafm.structures.cluster_metal import generate_cluster_metal
from iceafm.structures.errors import StructureError
from iceafm.structures.ice_basal import generate_ice_basal
from iceafm.structures.importer import read_user_structure
from iceafm.structures.premelt import generate_premelt
from iceafm.structures.writer import write_structure

__all__ = [
    "FAMILY_CODES",
    "StructureError",
    "generate_structure",
    "read_user_structure",
    "write_structure",
]

FAMILY_CODES: dict[str, int] = {
    "ice_basal": 1,
    "premelt": 2,
    "bilayer_metal": 3,
    "cluster_metal": 4,
}
"""Stable integer per generated family, mixed into the sample's SeedSequence."""

_GENERATORS: dict[str, Callable[[dict, np.random.Generator], Atoms]] = {
    "ice_basal": generate_ice_basal,
    "bilayer_metal": generate_bilayer_metal,
    "cluster_metal": generate_cluster_metal,
}
"""Families generated from (params, rng) alone; ``premelt`` reads the md rule's frames."""


def generate_structure(
    family: str, index: int, params: dict, seed: int, md_frames: Sequence[str] = ()
) -> Atoms:
    """Generate sample ``index`` of ``family``, reproducibly.

    The sample's generator is ``np.random.default_rng(SeedSequence([seed, FAMILY_CODES[family],
    index]))``: the same (seed, family, index) gives the same structure on every machine, and
    samples never share a stream.

    Args:
        family: "ice_basal", "premelt", "bilayer_metal" or "cluster_metal".
        index: sample index within the family (>= 0).
        params: that family's config section (schema defaults filled); ``count`` and
            ``resources`` (operational) are ignored.
        seed: campaign seed (>= 0).
        md_frames: ``premelt`` only: the frames file of each trajectory (rule ``md``,
            :func:`iceafm.structures.premelt.run_premelt_trajectory`), in trajectory order.

    Returns:
        Atoms, waters O,H,H first then substrate atoms; info holds family, seed, index, params
        (JSON string), n_water, generator, for metal samples metal, substrate, ice_strain, and
        for premelt samples their MD frame's trajectory, temperature_k, md_frame (and
        gas_phase_waters_removed if any).
    """
    if family not in FAMILY_CODES:
        raise StructureError(f"family {family!r}: expected one of {sorted(FAMILY_CODES)}")
    if index < 0 or seed < 0:
        raise StructureError(f"{family}: index = {index}, seed = {seed}, expected both >= 0")
    shaping = {key: value for key, value in params.items() if key not in ("count", "resources")}
    rng = np.random.default_rng(np.random.SeedSequence([seed, FAMILY_CODES[family], index]))
    if family == "premelt":
        atoms = generate_premelt(shaping, index, md_frames)
    else:
        atoms = _GENERATORS[family](shaping, rng)
    n_water = sum(1 for symbol in atoms.get_chemical_symbols() if symbol == "O")
    atoms.info.update(
        family=family,
        seed=int(seed),
        index=int(index),
        params=json.dumps(shaping, sort_keys=True),
        n_water=n_water,
    )
    return atoms
