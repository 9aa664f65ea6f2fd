"""Command line of rule ``md``: one trajectory of the ``premelt`` family.

``python -m iceafm.md --params JSON --seed S --trajectory T --out frames.extxyz
--checkpoint state.npz [--checkpoint-every-ps 1] [--platform auto] [--threads N]``

Rerun after a kill with the same arguments, it continues from the checkpoint. Exit status: 0
frames written, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from iceafm.md.simulate import PLATFORMS, MDError
from iceafm.structures.errors import StructureError
from iceafm.structures.premelt import run_premelt_trajectory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iceafm.md", description=__doc__)
    parser.add_argument("--params", required=True, help="the premelt family section as JSON")
    parser.add_argument("--seed", type=int, required=True, help="campaign seed")
    parser.add_argument("--trajectory", type=int, required=True, help="trajectory index")
    parser.add_argument("--out", required=True, help="frames file (multi-frame extxyz)")
    parser.add_argument("--checkpoint", required=True, help="checkpoint .npz (resumed from)")
    parser.add_argument("--checkpoint-every-ps", type=float, default=1.0)
    parser.add_argument("--platform", default="auto", choices=PLATFORMS)
    parser.add_argument("--threads", type=int, default=1, help="CPU platform threads")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    def log(line: str) -> None:
        print(f"[{time.perf_counter() - start:8.1f} s] {line}", flush=True)

    try:
        run_premelt_trajectory(
            json.loads(args.params),
            args.seed,
            args.trajectory,
            args.out,
            args.checkpoint,
            args.checkpoint_every_ps,
            args.platform,
            args.threads,
            log,
        )
    except (StructureError, MDError, json.JSONDecodeError, KeyError) as err:
        print(f"md: {err}", file=sys.stderr)
        return 2
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
