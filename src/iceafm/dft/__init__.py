"""DFT stage: GPAW electrostatics (Hartree potential, all-electron density) per structure.

Modules: ``settings`` (config section -> GPAW keyword arguments, robust levels,
cell/vacuum handling), ``run`` (one calculation with checkpoints and atomic exports; needs
GPAW), ``cube`` (reading and checking the exported cubes: no GPAW needed, used downstream),
``record`` (the ``dft.json`` record), ``attempts`` (why earlier attempts ended: kill or SCF
non-convergence), ``errors`` (exception classes). Run a calculation with
``gpaw python -m iceafm.dft --help``.
"""
