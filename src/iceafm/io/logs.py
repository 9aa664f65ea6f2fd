"""Job logs: send a process's output, C/C++ libraries' included, to the rule's log file, and
report a failure whose culprit is known as one line on the terminal (traceback in the log)."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator

_terminal_fd: int | None = None


def redirect_output(log_path: str | os.PathLike) -> None:
    """Point file descriptors 1 and 2 (stdout, stderr) at ``log_path`` (truncated, mode 0666
    minus umask), so that libraries printing from C++ (ppafm) land in the job's log too.
    The original stderr is kept for :func:`one_line_errors`."""
    global _terminal_fd
    if _terminal_fd is None:
        _terminal_fd = os.dup(2)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


@contextlib.contextmanager
def one_line_errors(
    log_path: str | os.PathLike, *known: type[BaseException], what: str = "job"
) -> Iterator[None]:
    """Run the body; an exception of a ``known`` kind (whose message is one line naming the
    file, key or value) ends the process with exit status 1 after writing its traceback to
    ``log_path`` (appended) and only ``"<what>: <message>"`` to the terminal (the stderr the
    process had before :func:`redirect_output`). Other exceptions propagate unchanged.
    """
    try:
        yield
    except known as err:
        line = f"{what}: {' '.join(str(err).split())}"
        sys.stdout.flush()
        sys.stderr.flush()
        with open(log_path, "a", encoding="utf-8") as log:
            log.write("".join(traceback.format_exception(err)))
            log.write(f"{line}\n")
        terminal = _terminal_fd if _terminal_fd is not None else 2
        os.write(terminal, f"{line}\n".encode())
        raise SystemExit(1) from None
