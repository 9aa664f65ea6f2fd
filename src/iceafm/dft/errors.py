"""Exceptions of the DFT stage; each message is one line naming the file/key and the problem."""

from __future__ import annotations


class DftConfigError(ValueError):
    """The ``dft`` config section has a missing key or a value of the wrong kind."""


class DftFailedError(RuntimeError):
    """A DFT result exists but is recorded as failed (no valid cubes); the message says why."""


class CubeFormatError(ValueError):
    """A cube file is malformed (truncated header or data, wrong grid)."""
