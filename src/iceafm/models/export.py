"""Export a trained checkpoint as a slim detector file (weights + metadata, no optimiser).

    python -m iceafm.models.export CHECKPOINT OUT.pt [--val val.h5] [--name NAME]

With ``--val`` the per-species confidence thresholds are calibrated on that split
(:func:`iceafm.models.evaluate.calibrate_thresholds`) and stored in the exported file.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from iceafm.models.detector import Detector, load_detector, save_detector
from iceafm.models.evaluate import calibrate_thresholds


def export_detector(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    val_path: str | os.PathLike | None = None,
    name: str | None = None,
) -> Detector:
    """Load ``checkpoint``, optionally calibrate thresholds on ``val_path``, save to ``out``."""
    detector = load_detector(checkpoint)
    if val_path is not None:
        detector.meta.threshold = calibrate_thresholds(detector, val_path)
        detector.meta.info["thresholds_calibrated_on"] = Path(val_path).name
    if name is not None:
        detector.meta.info["name"] = name
    save_detector(out, detector)
    return detector


def main(argv: list[str] | None = None) -> None:
    """Command-line entry (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument("--val", default=None, help="validation split to calibrate thresholds")
    parser.add_argument("--name", default=None, help="model name stored in the file")
    args = parser.parse_args(argv)
    detector = export_detector(args.checkpoint, args.out, args.val, args.name)
    print(json.dumps({"threshold": detector.meta.threshold, "info": detector.meta.info}, indent=1))


if __name__ == "__main__":
    main()
