"""Dataset assembly: structure-level splits, incremental HDF5, exclusion manifest."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from afm_fixtures import flat_water, small_settings

from iceafm.afm.stack import AfmStack, write_failed_npz, write_stack_npz
from iceafm.afm.views import make_views
from iceafm.data.build import DatasetParams, build_dataset
from iceafm.data.splits import SplitConfigError, split_samples
from iceafm.data.store import iter_entries
from iceafm.labels import LabelParams, write_labels_npz


def test_split_is_by_structure_reproducible_and_complete():
    samples = [f"ice_basal-{i:05d}" for i in range(20)]
    fractions = {"train": 0.7, "val": 0.15, "test": 0.15}
    a = split_samples(samples, fractions, seed=1)
    assert a == split_samples(samples[::-1], fractions, seed=1)
    assert sorted(sum(a.values(), [])) == samples
    assert [len(a[s]) for s in ("train", "val", "test")] == [14, 3, 3]
    assert a != split_samples(samples, fractions, seed=2)
    tiny = split_samples(samples[:3], fractions, seed=0)
    assert all(len(v) == 1 for v in tiny.values())
    with pytest.raises(SplitConfigError, match="sum to 1"):
        split_samples(samples, {"train": 0.5, "val": 0.1, "test": 0.1}, 0)


def _campaign(tmp_path, n_ok=5):
    atoms = flat_water()
    settings = small_settings(views=2)
    samples, afm, labels = [], [], []
    rng = np.random.default_rng(0)
    for i in range(n_ok + 1):
        sample = f"ice_basal-{i:05d}"
        views = make_views(np.asarray(atoms.cell), settings.views, seed=i)
        samples.append(sample)
        afm.append(tmp_path / f"afm/{sample}.npz")
        labels.append(tmp_path / f"labels/{sample}.npz")
        write_labels_npz(labels[-1], atoms, views, settings.scan, LabelParams())
        if i == n_ok:
            write_failed_npz(afm[-1], sample, settings, "DFT failed: SCF not converged")
            continue
        df = rng.normal(size=(2, 6, 32, 32)).astype(np.float32)
        stack = AfmStack(df, views, 5.0, np.eye(3), [settings.tip] * 2)
        write_stack_npz(afm[-1], sample, settings, stack)
    return samples, afm, labels


def test_dataset_files_manifest_and_round_trip(tmp_path):
    samples, afm, labels = _campaign(tmp_path)
    paths = {s: tmp_path / f"dataset/{s}.h5" for s in ("train", "val", "test")}
    params = DatasetParams({"train": 0.6, "val": 0.2, "test": 0.2}, seed=0, shard_size=3)
    manifest = build_dataset(samples, afm, labels, paths, tmp_path / "m.json", params)
    assert manifest["excluded"] == [
        {"sample": "ice_basal-00005", "reason": "DFT failed: SCF not converged"}
    ]
    assert json.loads((tmp_path / "m.json").read_text()) == manifest
    seen = set()
    for split, path in paths.items():
        with h5py.File(path) as h5:
            assert h5["df"].dtype == np.float32 and h5["df"].compression == "gzip"
            assert h5["df"].shape[0] == 2 * len(manifest["splits"][split])
            assert h5["targets"].shape[1:] == (2, 4, 4, 8, 8)
        for entry in iter_entries(path):
            seen.add(entry["sample_id"])
            with np.load(afm[samples.index(entry["sample_id"])]) as a:
                np.testing.assert_array_equal(entry["df"], a["df"][entry["view"]])
            with np.load(labels[samples.index(entry["sample_id"])]) as lab:
                o = lab["atoms_offsets"]
                v = entry["view"]
                np.testing.assert_array_equal(entry["atoms_xyz"], lab["atoms_xyz"][o[v] : o[v + 1]])
    assert seen == set(samples[:5])
