"""Console script ``iceafm``: ``iceafm predict INPUT... --out DIR [--model PATH]
[--scan-size-a W [H]] [--refine K]`` (see :mod:`iceafm.predict` for the output frame and files).

A bad file, folder or argument prints one line naming it and what was expected, and exits with
status 2 (no traceback; ``--debug`` or ``ICEAFM_DEBUG=1`` re-raises for a traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _positive(text: str) -> float:
    """A number > 0 (argparse type; anything else is a one-line usage error)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``iceafm`` argument parser."""
    parser = _Parser(prog="iceafm", description="iceafm command-line tools")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    predict = sub.add_parser(
        "predict",
        help="top-layer O and H atoms of AFM stacks",
        description=(
            "Predict the top-layer O and H atoms of each input stack: our AFM npz (several views "
            "-> <stem>_v<k>), an ml-spm npz, a folder of <k>.png / <name>_<k>.png slices, or a "
            "Nanonis .sxm. Writes DIR/<stem>.extxyz (x, y in A in the input's scan frame, z "
            "relative to the topmost O, per-atom confidence) and DIR/<stem>.png."
        ),
    )
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="npz, .sxm or folder")
    predict.add_argument("--out", required=True, metavar="DIR", help="output folder")
    predict.add_argument("--model", default=None, metavar="PATH",
                         help="detector checkpoint (default: the shipped model)")
    predict.add_argument("--scan-size-a", nargs="+", default=None, metavar="W [H]",
                         help="scan size (A) of image inputs that record none; default: "
                         "cell.txt in the folder, else estimated from the ice lattice")
    predict.add_argument("--closest", choices=("auto", "first", "last"), default="auto",
                         help="closest slice of stacks without heights (default: auto, the "
                         "sharper end)")
    predict.add_argument("--line-correction", choices=("none", "row_median"), default="none",
                         help="scan-line artifact correction (default none)")
    predict.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")
    predict.add_argument("--raw-decode", action="store_true",
                         help="keep every decoded O and H peak (no water assembly)")
    predict.add_argument("--refine", type=_positive, default=None, metavar="K",
                         help="relax the predicted waters (rigid TIP4P/Ice) with each O held to "
                         "its detection by K eV/A^2 (benchmarks/refinement.py chose 2); default: "
                         "no refinement")
    predict.add_argument("--refine-orientation", choices=("detected", "force_field"),
                         default="detected", help="with --refine: H where the network put them "
                         "(moved with their O; default) or where the force field turns them")
    predict.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def run_predict(args: argparse.Namespace) -> int:
    """Predict every input; print one line per stack written."""
    from iceafm.io.stacks import parse_scan_size, read_stacks, with_scan_size
    from iceafm.models import CheckpointError, load_detector
    from iceafm.predict import predict_stack, write_prediction

    scan = parse_scan_size(args.scan_size_a) if args.scan_size_a is not None else None
    label = str(args.model) if args.model else "shipped (iceafm.models.PRETRAINED)"
    # every input read and sized before the first prediction: a bad one fails fast
    stacks = [
        with_scan_size(s) for path in args.inputs for s in read_stacks(path, scan, args.closest)
    ]
    try:
        det = load_detector(args.model, device=_device(args.device))
    except CheckpointError:
        raise
    except Exception as err:  # torch.load raises many kinds (struct.error, ...) for junk files
        raise CheckpointError(
            f"{args.model}: not a readable detector checkpoint ({type(err).__name__}: {err})"
        ) from None
    if args.raw_decode:
        det.meta.water = replace(det.meta.water, enabled=False)
    names = [s.name for s in stacks]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ValueError(f"inputs give the same stack name(s) {doubled}; expected distinct stems")
    refine = {"restraint_ev_a2": args.refine, "orientation": args.refine_orientation}
    for stack in stacks:
        prediction = predict_stack(det, stack, label, args.line_correction, refine)
        xyz, _ = write_prediction(args.out, prediction)
        n_o = prediction.symbols.count("O")
        print(f"{xyz}: {n_o} O, {len(prediction.symbols) - n_o} H")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``iceafm`` console script."""
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False) or os.environ.get("ICEAFM_DEBUG") == "1"
    try:
        return run_predict(args)
    except (ValueError, OSError) as err:
        if debug:
            raise
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"iceafm {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
