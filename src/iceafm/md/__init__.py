"""Molecular dynamics of ice slabs: TIP4P/Ice in OpenMM (:mod:`iceafm.md.tip4p_ice`,
:mod:`iceafm.md.simulate`), the ASE TIP4P baseline (:mod:`iceafm.md.ase_tip4p`) and the
per-bilayer order parameter that measures the quasi-liquid layer (:mod:`iceafm.md.order`)."""
