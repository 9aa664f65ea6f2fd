"""Figures of the campaign (matplotlib, Agg): one module per stage."""
