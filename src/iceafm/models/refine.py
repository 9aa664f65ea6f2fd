"""Physical refinement of a predicted water layer: rigid TIP4P/Ice waters relaxed under a
harmonic restraint to the detected O.

The detector places each O within about 0.2 A (laterally, on simulated stacks) of the truth,
independently of its neighbours, so two neighbouring O can come out closer (or farther) than
any two water O are: the predicted O-O distances spread twice as wide as the reference's on
the real images. Refinement (:func:`refine_waters`) keeps every detected O and lets the
neighbours settle their contacts:

1. Waters: each predicted H goes to its nearest predicted O within
   :data:`iceafm.diffusion.metrics.OH_MAX_A` (closest pairs first, at most two per O,
   :func:`iceafm.diffusion.real_surface.pair_hydrogens`); an O with fewer than two gets the
   missing ones pointing down (:func:`iceafm.diffusion.real_surface.complete_hydrogens`) for
   the relaxation only: the refined prediction holds the predicted atoms, moved, and no
   others.
2. Rigid TIP4P/Ice geometry fitted to each (:func:`iceafm.diffusion.projection.rigid_fit`).
3. Rigid-body minimisation (:func:`iceafm.diffusion.projection.relax`): overlap removal, then
   ``steps`` L-BFGS iterations of TIP4P/Ice, each O held to its detected position by
   ``restraint_ev_a2`` |dr|^2 (eV/A^2): the network says where the molecules are, the force
   field how close neighbours sit.
4. The H: ``orientation="detected"`` (default) moves each predicted H with its O's shift, so
   the network's reading of how each water points is kept; ``"force_field"`` takes the relaxed
   waters' H, which form the force field's H-bonds. On labelled simulated stacks the detected
   orientation is the closer to the truth (H F1 within 1 A 0.50 against 0.45 at 2 eV/A^2; the
   raw decode 0.51; ``benchmarks/results/refinement.json``).

The scan is not periodic: the waters sit in a cell padded by :data:`PAD_A` beyond their extent
in x and y, so no molecule sees a periodic image within the force field's cutoff.

What this does to the label-free distances is no proof of reading the image better: a force
field brings the O-O and H-bond distributions close to water's whatever the image. The
benchmark (``benchmarks/refinement.py``) therefore chooses the restraint on labelled simulated
validation stacks and reports the refined predictions' distance from the true O there beside
the real-image distances and re-simulation consistency.
"""

from __future__ import annotations

import numpy as np

from iceafm.diffusion.projection import relax, rigid_fit
from iceafm.diffusion.real_surface import complete_hydrogens, pair_hydrogens

#: Padding (A) of the relaxation cell beyond the waters in x and y: more than the TIP4P/Ice
#: cutoff plus the neighbour-list skin (7 A), so the non-periodic scan sees no image.
PAD_A = 10.0
#: L-BFGS iterations of the TIP4P/Ice stage (after the overlap removal).
REFINE_STEPS = 50
#: Where the refined H go (module docstring, step 4).
ORIENTATIONS = ("detected", "force_field")


def refine_waters(
    symbols: list[str],
    xyz_a: np.ndarray,
    restraint_ev_a2: float,
    steps: int = REFINE_STEPS,
    orientation: str = "detected",
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The refined prediction: (symbols [n'], xyz_a [n', 3] A, source [n']: each atom's index in
    the input), each predicted O followed by its predicted H (at most two; H beyond two per O,
    or farther than :data:`iceafm.diffusion.metrics.OH_MAX_A` from every O, are dropped),
    moved with its water.

    Args:
        symbols: [n] "O" / "H" of the prediction. xyz_a: [n, 3] positions, A (any frame).
        restraint_ev_a2: k of the restraint k |dr_O|^2 to the predicted O, eV/A^2 (> 0).
        steps: TIP4P/Ice L-BFGS iterations (0: overlap removal only).
        orientation: where the H go, one of :data:`ORIENTATIONS` (module docstring, step 4).

    With fewer than two O there are no contacts to settle: the waters are built (steps 1-2) and
    not relaxed.
    """
    if not restraint_ev_a2 > 0:
        raise ValueError(f"refinement restraint: expected a number > 0 eV/A^2, got "
                         f"{restraint_ev_a2!r}")  # fmt: skip
    if orientation not in ORIENTATIONS:
        raise ValueError(f"refinement orientation: expected one of {ORIENTATIONS}, got "
                         f"{orientation!r}")  # fmt: skip
    names = np.asarray(symbols)
    xyz_a = np.asarray(xyz_a, dtype=np.float64).reshape(-1, 3)
    o_index, h_index = np.flatnonzero(names == "O"), np.flatnonzero(names == "H")
    o, h = xyz_a[o_index], xyz_a[h_index]
    if not len(o):
        return [], np.zeros((0, 3)), np.zeros(0, np.int64)
    owners = pair_hydrogens(o, h)
    hydrogens = np.array([complete_hydrogens(o[i], h[owners[i]]) for i in range(len(o))])
    waters = rigid_fit(o, hydrogens[:, 0], hydrogens[:, 1])
    corner = o.min(axis=0) - PAD_A
    cell = np.diag(o.max(axis=0) - corner + PAD_A)
    waters = relax(waters - corner, np.ones(len(o), bool), cell, steps, restraint_ev_a2) + corner
    source = np.array([k for i, h_of in enumerate(owners) for k in [o_index[i], *h_index[h_of]]])
    if orientation == "detected":
        shift = np.repeat(waters[:, 0] - o, [1 + len(h_of) for h_of in owners], axis=0)
        kept = xyz_a[source] + shift
    else:
        kept = np.vstack([w[: 1 + len(h_of)] for w, h_of in zip(waters, owners, strict=True)])
    return [str(name) for name in names[source]], kept, source
