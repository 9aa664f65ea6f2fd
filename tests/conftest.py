"""pytest configuration: makes `tests/helpers.py` importable as `helpers` from every test folder."""

import os

# Tests run real numerics on a 2-core machine: one BLAS/OpenMP thread per process.
os.environ.setdefault("OMP_NUM_THREADS", "1")
