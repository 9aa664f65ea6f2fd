"""``python -m iceafm.launch [snakemake arguments]``: check the config files, then run Snakemake.

Snakemake reads each ``--configfile`` before any workflow code runs: a missing file ends in a
Python traceback, and a YAML syntax error in a message that names neither the file nor the
line. This launcher reads them first, strictly (:func:`iceafm.config_checks.load_config_file`:
file:line for syntax errors and duplicate keys), prints one line and exits with status 2 on a
bad file; otherwise it replaces itself with ``python -m snakemake`` and the same arguments.
"""

from __future__ import annotations

import os
import sys

from iceafm.config_checks import ConfigCheckError, load_config_file

CONFIG_OPTIONS = ("--configfile", "--configfiles")


def config_files(argv: list[str]) -> list[str]:
    """The paths given to ``--configfile``/``--configfiles`` (``=value`` or following words)."""
    files: list[str] = []
    taking = False
    for arg in argv:
        name, eq, value = arg.partition("=")
        if name in CONFIG_OPTIONS:
            taking = not eq
            if eq:
                files.append(value)
        elif taking and not arg.startswith("-"):
            files.append(arg)
        else:
            taking = False
    return files


def main(argv: list[str] | None = None) -> int:
    """Check every config file named in ``argv``; then exec Snakemake (never returns)."""
    argv = sys.argv[1:] if argv is None else argv
    for path in config_files(argv):
        try:
            load_config_file(path)
        except ConfigCheckError as err:
            print(err, file=sys.stderr)
            return 2
    os.execv(sys.executable, [sys.executable, "-m", "snakemake", *argv])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
