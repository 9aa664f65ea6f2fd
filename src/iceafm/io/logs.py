"""Job logs: send a process's output, C/C++ libraries' included, to the rule's log file."""

from __future__ import annotations

import os


def redirect_output(log_path: str | os.PathLike) -> None:
    """Point file descriptors 1 and 2 (stdout, stderr) at ``log_path`` (truncated, mode 0666
    minus umask), so that libraries printing from C++ (ppafm) land in the job's log too."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
