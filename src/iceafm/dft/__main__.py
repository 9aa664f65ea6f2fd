"""Command line: ``[mpiexec -n N] gpaw python -m iceafm.dft --structure S.extxyz ...``.

``gpaw python`` is needed under MPI (plain ``python`` refuses); ``-m`` because ``gpaw python``
does not put a script's folder on the import path. As root, OpenMPI's ``mpiexec`` also needs
``OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1`` (rule ``dft`` sets them only
when it runs as root). Exit status: 0 outputs complete, 3 SCF not converged (retry), 2 bad
input (one-line message on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from pathlib import Path

from iceafm.dft.errors import DftConfigError
from iceafm.dft.run import run_dft
from iceafm.provenance import stamp_json_outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpaw python -m iceafm.dft", description=__doc__)
    parser.add_argument("--structure", required=True, help="input extxyz structure")
    parser.add_argument("--hartree", required=True, help="output potential cube")
    parser.add_argument("--density", required=True, help="output density cube")
    parser.add_argument("--record", required=True, help="output dft.json")
    parser.add_argument("--log", help="GPAW text log (appended); default: stdout")
    parser.add_argument("--settings", required=True, help="the dft config section as JSON")
    parser.add_argument(
        "--attempt", type=int, default=1, help="Snakemake attempt (1-based): may it retry?"
    )
    parser.add_argument(
        "--scratch", required=True, help="folder for restart files and the attempt history"
    )
    parser.add_argument(
        "--checkpoint-every", type=int, default=0, help="SCF iterations between restart files"
    )
    args = parser.parse_args(argv)
    from gpaw.mpi import world

    try:
        dft_config = json.loads(args.settings)
    except json.JSONDecodeError as err:
        print(f"--settings: not valid JSON ({err})", file=sys.stderr)
        return 2
    if args.log and world.rank == 0:
        Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    log_context = (
        open(args.log, "a", encoding="utf-8")
        if args.log and world.rank == 0
        else nullcontext(sys.stdout if world.rank == 0 else None)
    )
    try:
        with log_context as log:
            code = run_dft(
                args.structure,
                args.hartree,
                args.density,
                args.record,
                log,
                dft_config,
                args.attempt,
                args.scratch,
                args.checkpoint_every,
            )
        if world.rank == 0 and Path(args.record).is_file():
            stamp_json_outputs([args.record], dft_config)
        return code
    except DftConfigError as err:
        print(f"iceafm.dft: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
