"""Training and conditioning data for the diffusion model: slabs as batched atom tensors.

Structures follow the campaign's water contract (waters O,H,H first, then substrate atoms; see
``iceafm.structures``). A slab is cropped to its top ``depth_a`` (waters whose O lies at most
``depth_a`` below the topmost O, substrate atoms likewise), whole slabs when the depth exceeds
the slab. Molecule identity (which H belongs to which O) is part of the input: the model generates
positions for a given composition, as a molecular simulation does.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from ase.io import read

from iceafm.cell import check_slab_cell
from iceafm.diffusion.score_net import SPECIES
from iceafm.structures.checks import count_waters, molecule_index


class DiffusionDataError(ValueError):
    """Unusable training input; the message is one line naming the file."""


@dataclass
class SlabBatch:
    """Slabs concatenated atom-wise.

    Attributes:
        positions: [n, 3] float32, A. species: [n] int64 (0 O, 1 H, 2 other).
        molecule: [n] int64, unique over the batch. batch: [n] int64 structure index (sorted).
        cells: [n_struct, 3, 3] float32, A. fixed: [n] bool, atoms held at their positions.
        numbers: [n] int64 atomic numbers (to write structures back).
    """

    positions: torch.Tensor
    species: torch.Tensor
    molecule: torch.Tensor
    batch: torch.Tensor
    cells: torch.Tensor
    fixed: torch.Tensor
    numbers: torch.Tensor

    def to(self, device: torch.device | str) -> SlabBatch:
        return SlabBatch(**{k: v.to(device) for k, v in self.__dict__.items()})

    def with_positions(self, positions: torch.Tensor) -> SlabBatch:
        fields = dict(self.__dict__)
        fields["positions"] = positions
        return SlabBatch(**fields)

    @property
    def n_struct(self) -> int:
        return len(self.cells)

    def to_atoms(self) -> list[Atoms]:
        """One ASE Atoms per structure (pbc True, True, False), positions as stored."""
        out = []
        for s in range(self.n_struct):
            sel = (self.batch == s).cpu().numpy()
            out.append(
                Atoms(
                    numbers=self.numbers.cpu().numpy()[sel],
                    positions=self.positions.detach().cpu().double().numpy()[sel],
                    cell=self.cells[s].cpu().double().numpy(),
                    pbc=(True, True, False),
                )
            )
        return out


def depth_below_top(atoms: Atoms) -> np.ndarray:
    """Depth of each atom's molecule below the topmost O, A (waters: their O's depth), shape [n]."""
    z = atoms.positions[:, 2]
    symbols = np.array(atoms.get_chemical_symbols())
    o_z = z[symbols == "O"]
    top = o_z.max() if len(o_z) else z.max()
    n_water = count_waters(atoms)
    depth = top - z
    depth[: 3 * n_water] = np.repeat(top - z[: 3 * n_water : 3], 3)
    return depth


def surface_crop(atoms: Atoms, depth_a: float) -> Atoms:
    """The molecules within ``depth_a`` below the topmost O (order kept: waters first)."""
    keep = depth_below_top(atoms) <= depth_a
    return atoms[np.flatnonzero(keep)]


def top_layer_mask(atoms: Atoms, top_a: float) -> np.ndarray:
    """Atoms of the molecules less than ``top_a`` below the topmost O (the AFM-visible layer)."""
    return depth_below_top(atoms) < top_a


def species_codes(atoms: Atoms) -> np.ndarray:
    symbols = atoms.get_chemical_symbols()
    return np.array([SPECIES.index(s) if s in SPECIES else len(SPECIES) for s in symbols])


def collate(structures: list[Atoms], fixed: list[np.ndarray] | None = None) -> SlabBatch:
    """Batch structures (each with its own cell); ``fixed`` masks default to nothing fixed."""
    pos, spec, mol, bat, cells, fix, nums = [], [], [], [], [], [], []
    mol_offset = 0
    for s, atoms in enumerate(structures):
        m = molecule_index(atoms)
        pos.append(atoms.positions)
        spec.append(species_codes(atoms))
        mol.append(m + mol_offset)
        mol_offset += int(m.max()) + 1 if len(m) else 0
        bat.append(np.full(len(atoms), s))
        cells.append(np.asarray(atoms.cell))
        fix.append(np.zeros(len(atoms), bool) if fixed is None else fixed[s])
        nums.append(atoms.numbers)
    return SlabBatch(
        positions=torch.tensor(np.concatenate(pos), dtype=torch.float32),
        species=torch.tensor(np.concatenate(spec), dtype=torch.int64),
        molecule=torch.tensor(np.concatenate(mol), dtype=torch.int64),
        batch=torch.tensor(np.concatenate(bat), dtype=torch.int64),
        cells=torch.tensor(np.stack(cells), dtype=torch.float32),
        fixed=torch.tensor(np.concatenate(fix), dtype=torch.bool),
        numbers=torch.tensor(np.concatenate(nums), dtype=torch.int64),
    )


def load_structures(paths: list[str], families: list[str], depth_a: float) -> list[Atoms]:
    """Read campaign structures of the given families (file name ``{family}-{index}.extxyz``),
    crop each to its top ``depth_a``.

    Raises:
        DiffusionDataError: a file that is not a water slab, or no file selected.
    """
    out = []
    for path in paths:
        family = os.path.basename(path).rsplit("-", 1)[0]
        if family not in families:
            continue
        atoms = read(path)
        check_slab_cell(atoms, path)
        if count_waters(atoms) == 0:
            raise DiffusionDataError(
                f"{path}: no water molecules (O,H,H first), expected a water slab"
            )
        out.append(surface_crop(atoms, depth_a))
    if not out:
        raise DiffusionDataError(
            f"diffusion.train.families = {families}: no structure among {len(paths)} files"
        )
    return out


def campaign_files(folder: str) -> list[str]:
    """The campaign's structure files in ``folder``, sorted."""
    return sorted(glob.glob(os.path.join(folder, "*.extxyz")))
