"""iceafm: water structures -> GPAW DFT -> ppafm AFM stacks -> structure-from-AFM networks."""

__version__ = "0.1.0"
