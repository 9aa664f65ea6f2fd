"""The shipped detector against a baseline on test splits simulated with different tips (issue 11).

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/tip_randomisation.py \
        --split fixed_tip=<run>/results/dataset/test.h5 \
        --split random_tip=<tip run>/results/dataset/test.h5 --baseline-model PT [--model PT]

Trained with ``afm.tip_ranges`` (config/bench.yaml), a detector sees each view with its own
tip; this scores it and a baseline (default: none) in the same run on every ``--split`` (the
keys of structure_from_afm.json: O and H F1 per depth band, precision, recall) and on the real
images: the AmorAFM agreement on the premelting surface and the real-image keys (O per stack,
energy distances against the thermal reference, pooled and on the surface alone). Writes
``benchmarks/results/tip_randomisation.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import machine_info, write_result
from structure_from_afm import SPLIT_KEYS, amorafm_keys, real_image_keys

from iceafm.models import load_detector
from iceafm.models.evaluate import evaluate_split


def named_split(text: str) -> tuple[str, Path]:
    """``name=path`` of a test split (argparse type)."""
    name, sep, path = text.partition("=")
    if not sep or not name or not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"expected name=path/to/test.h5 (a file), got {text!r}")
    return name, Path(path)


def scores(model: Path | None, splits: list[tuple[str, Path]]) -> dict:
    """Every split's keys and the real-image keys of the detector at ``model`` (None: shipped)."""
    detector = load_detector(model)
    out = {"model": detector.info}
    for name, path in splits:
        summary = evaluate_split(detector, path)["summary"]
        out[name] = {k: summary[k] for k in SPLIT_KEYS}
        print(name, out[name], flush=True)
    out["real"] = {**amorafm_keys(detector), **real_image_keys(detector)}
    print("real", out["real"], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", type=named_split, action="append", required=True)
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped one")
    parser.add_argument("--baseline-model", type=Path, required=True)
    args = parser.parse_args()
    record = {
        **machine_info(("torch",)),
        "splits": {name: str(path) for name, path in args.split},
        "detector": scores(args.model, args.split),
        "baseline": scores(args.baseline_model, args.split),
    }
    print(write_result("tip_randomisation", record))


if __name__ == "__main__":
    main()
