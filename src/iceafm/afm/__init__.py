"""CO-tip AFM simulation with ppafm: force fields computed once per structure, many views/tips."""
