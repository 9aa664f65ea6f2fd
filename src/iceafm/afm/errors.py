"""Errors of the AFM stage: each message is one line naming the file/key/value at fault."""


class AfmError(Exception):
    """Base class of the AFM stage's errors."""


class AfmConfigError(AfmError, ValueError):
    """An ``afm`` config key is missing or holds a value outside its allowed range."""


class CubeError(AfmError):
    """A Hartree-potential cube file is missing, marked FAILED, truncated or malformed."""


class AfmStructureError(AfmError):
    """A structure cannot be scanned (e.g. its cell's c vector is not along z)."""


class OpenClUnavailableError(AfmError):
    """The OpenCL engine was asked for but pyopencl or an OpenCL device is missing."""
