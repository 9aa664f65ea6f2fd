"""Reading the stages' ``.npz`` files so that a truncated or incomplete one names itself.

``np.load`` opens an ``.npz`` lazily: a truncated file (a copy cut short, a full disk) fails
later, on the first array read, with ``BadZipFile``, ``EOFError`` or a zlib error that names
no file. :func:`open_npz` reads through a wrapper that turns every such failure, and a missing
array, into :class:`NpzFileError` with one line naming the file.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np

#: What reading a damaged npz raises (numpy, zipfile, zlib).
_READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)


class NpzFileError(ValueError):
    """An ``.npz`` file is unreadable, truncated or lacks an array; the message is one line."""


class CheckedNpz:
    """Read-only mapping over an open ``NpzFile`` whose reads raise :class:`NpzFileError`."""

    def __init__(self, npz: Any, path: str | os.PathLike):
        self._npz = npz
        self.path = str(path)

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self._npz[key]
        except KeyError:
            raise NpzFileError(
                f"{self.path}: no array '{key}' (holds {sorted(self._npz.files)}); stale or "
                "foreign file: delete it and rerun"
            ) from None
        except _READ_ERRORS as err:
            raise NpzFileError(_damaged(self.path, err)) from None

    def __contains__(self, key: str) -> bool:
        return key in self._npz.files

    @property
    def files(self) -> list[str]:
        return list(self._npz.files)


def _damaged(path: str, err: BaseException) -> str:
    reason = " ".join(str(err).split()) or type(err).__name__
    return f"{path}: truncated or corrupt npz ({type(err).__name__}: {reason}); delete it and rerun"


@contextlib.contextmanager
def open_npz(path: str | os.PathLike) -> Iterator[CheckedNpz]:
    """Open ``path`` like ``np.load`` (no pickles) and yield a :class:`CheckedNpz`.

    Raises:
        NpzFileError: missing, truncated or corrupt file, or a missing array (one line).
    """
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise NpzFileError(f"{path}: npz file not found") from None
    except _READ_ERRORS as err:
        raise NpzFileError(_damaged(str(path), err)) from None
    with npz:
        yield CheckedNpz(npz, path)
