"""Session fixture: the single-node SLURM test cluster (tests/slurm/cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cluster import SlurmCluster, slurm_available


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip SLURM tests only where the SLURM/munge binaries are absent (CI installs them)."""
    if slurm_available():
        return
    skip = pytest.mark.skip(reason="slurmctld/slurmd/munged/sbatch not installed")
    for item in items:
        if "slurm" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A running cluster (partitions cpu and gpu on one node), stopped after the session."""
    cluster = SlurmCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
