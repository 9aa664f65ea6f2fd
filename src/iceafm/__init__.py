"""iceafm: water structures -> GPAW DFT -> ppafm AFM stacks -> structure-from-AFM networks."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """``iceafm.__version__``: the version in pyproject.toml (iceafm.provenance.package_version),
    read on first use so that importing iceafm stays cheap."""
    if name == "__version__":
        from iceafm.provenance import package_version

        return package_version()
    raise AttributeError(f"module 'iceafm' has no attribute {name!r}")
