"""A small real dataset for the detector tests: ppafm stacks of GenIce ice Ih slabs.

Three 1x1 basal slabs (2 bilayers, 9.0 x 7.8 A cells), 4 views each, 32 x 32 px at 0.25 A
(8 x 8 A), 6 heights from 2.6 A: a few seconds of AFM per structure on one core. Built once per
test session (cached under pytest's base temp folder).
"""

from __future__ import annotations

from pathlib import Path

from afm_fixtures import small_settings

from iceafm.afm.stack import simulate_structure, view_seed, write_stack_npz
from iceafm.afm.views import make_views
from iceafm.data.build import DatasetParams, build_dataset
from iceafm.labels import LabelParams, write_labels_npz
from iceafm.structures import generate_structure

ICE = {"bilayers": 2, "supercell": [1, 1], "vacuum_a": 10.0}


def build_ml_dataset(root: Path, n_structures: int = 4, views: int = 4) -> dict[str, Path]:
    """Write results-like AFM/label files and the dataset splits under ``root``; return the
    split paths (train gets 2 structures, val and test 1 each for the default 4)."""
    paths = {s: root / f"dataset/{s}.h5" for s in ("train", "val", "test")}
    if all(p.exists() for p in paths.values()):
        return paths
    settings = small_settings(
        views=views, size_a=(8.0, 8.0), pixel_size_a=0.25, min_height_a=2.6, height_step_a=0.15
    )
    samples, afm, labels = [], [], []
    for i in range(n_structures):
        sample = f"ice_basal-{i:05d}"
        atoms = generate_structure("ice_basal", i, ICE, seed=5)
        stack = simulate_structure(atoms, settings, view_seed(sample))
        samples.append(sample)
        afm.append(root / f"afm/{sample}.npz")
        labels.append(root / f"labels/{sample}.npz")
        write_stack_npz(afm[-1], sample, settings, stack)
        views_ = make_views(stack.cell_a, settings.views, view_seed(sample))
        write_labels_npz(labels[-1], atoms, views_, settings.scan, LabelParams())
    fractions = {"train": 0.5, "val": 0.25, "test": 0.25}
    build_dataset(
        samples, afm, labels, paths, root / "manifest.json", DatasetParams(fractions, 0, 4)
    )
    return paths
