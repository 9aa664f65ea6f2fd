"""Errors of the structure stage."""


class StructureError(ValueError):
    """A structure (generated or read from a user's file) breaks the water contract.

    The message is one line naming the file or family, the atom or key, and what was expected.
    """
