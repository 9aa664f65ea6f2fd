"""Export a trained checkpoint as a slim detector file (weights + metadata, no optimiser).

    python -m iceafm.models.export CHECKPOINT OUT.pt [--val val.h5] [--name NAME]
        [--nms-radius-a R | --nms-radius-a O=2.2,H=1.0] [--no-rigid-waters]

With ``--nms-radius-a`` the decode's non-maximum suppression radius (A; one value or one per
species) is replaced (before any calibration; ``info`` records the change); with
``--no-rigid-waters`` the decoded H stay where the network put them instead of on the rigid water
geometry (``water_rigid``, :mod:`iceafm.models.assemble`). With ``--val`` the
per-species confidence thresholds are calibrated on that split
(:func:`iceafm.models.evaluate.calibrate_thresholds`) and stored in the exported file.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

from iceafm.models.decode import per_species
from iceafm.models.detector import Detector, load_detector, save_detector
from iceafm.models.evaluate import calibrate_thresholds


def export_detector(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    val_path: str | os.PathLike | None = None,
    name: str | None = None,
    nms_radius_a: float | dict[str, float] | None = None,
    rigid_waters: bool | None = None,
) -> Detector:
    """Load ``checkpoint``, optionally set the NMS radius (A) and the water assembly's rigid
    geometry, calibrate thresholds on ``val_path``, save to ``out``."""
    detector = load_detector(checkpoint)
    if rigid_waters is not None:
        detector.meta.water = replace(detector.meta.water, rigid=rigid_waters)
    if nms_radius_a is not None:
        radius = per_species(nms_radius_a, "nms_radius_a")
        detector.meta.info["nms_radius_a_set_at_export"] = {
            "was": detector.meta.nms_radius_a, "now": radius
        }
        detector.meta.nms_radius_a = radius
    if val_path is not None:
        detector.meta.threshold = calibrate_thresholds(detector, val_path)
        detector.meta.info["thresholds_calibrated_on"] = Path(val_path).name
    if name is not None:
        detector.meta.info["name"] = name
    save_detector(out, detector)
    return detector


def parse_radius(text: str) -> float | dict[str, float]:
    """``"2.2"`` -> 2.2, ``"O=2.2,H=1.0"`` -> {"O": 2.2, "H": 1.0}; one-line ValueError else."""
    try:
        if "=" not in text:
            return per_species(float(text), "--nms-radius-a")
        pairs = [item.split("=") for item in text.split(",")]
        return per_species({k.strip(): float(v) for k, v in pairs}, "--nms-radius-a")
    except ValueError as err:
        if str(err).startswith("--nms-radius-a"):
            raise
        raise ValueError(f"--nms-radius-a: expected R or O=R,H=R (A), got {text!r}") from None


def main(argv: list[str] | None = None) -> None:
    """Command-line entry (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument("--val", default=None, help="validation split to calibrate thresholds")
    parser.add_argument("--name", default=None, help="model name stored in the file")
    parser.add_argument(
        "--nms-radius-a", default=None, help="NMS radius (A): R, or per species O=R,H=R"
    )
    parser.add_argument(
        "--no-rigid-waters", action="store_true", help="keep decoded H off the rigid geometry"
    )
    args = parser.parse_args(argv)
    radius = None
    if args.nms_radius_a is not None:
        try:
            radius = parse_radius(args.nms_radius_a)
        except ValueError as err:
            parser.error(str(err))
    rigid = False if args.no_rigid_waters else None
    detector = export_detector(args.checkpoint, args.out, args.val, args.name, radius, rigid)
    print(json.dumps({"threshold": detector.meta.threshold,
                      "nms_radius_a": detector.meta.nms_radius_a,
                      "decode": detector.meta.water.to_dict(),
                      "info": detector.meta.info}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
