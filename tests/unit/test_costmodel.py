"""DFT cost model of the plan: sizes as GPAW sees them, and plans from two real measured runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dft_fixtures import tiny_dft_config, write_water

from iceafm.costmodel import (
    DEFAULT_EXPONENT,
    MPI_ALPHA,
    CostModel,
    DftSize,
    Measurement,
    fitted_exponent,
    grid_points,
    read_measurements,
)
from iceafm.plan import Measured, PlannedJob, estimate, full_config, planned_dft_sizes

REPO = Path(__file__).resolve().parents[2]


def test_grid_points_are_gpaws() -> None:
    h2gpts = pytest.importorskip("gpaw.utilities").h2gpts
    oblique = [[7.7, 0, 0], [3.8, 6.6, 0], [0, 0, 30]]
    for cell, h in ((np.diag([10.0, 9.0, 17.3]), 0.18), (oblique, 0.25)):
        assert grid_points(np.asarray(cell), h) == int(np.prod(h2gpts(h, np.asarray(cell))))


def _run(mode: str, x: float, core_s: float, ranks: int = 1) -> Measurement:
    return Measurement(DftSize(mode, int(x), 1, 1, ranks), core_s, f"{mode}-{x}")


def test_exponent_is_fitted_only_over_a_span_of_sizes() -> None:
    assert fitted_exponent([_run("fd", 1000, 10), _run("fd", 1200, 30)]) == DEFAULT_EXPONENT
    runs = [_run("fd", 1000, 10), _run("fd", 4000, 80), _run("fd", 16000, 640)]
    assert fitted_exponent(runs) == pytest.approx(1.5)
    # nearest measured size in log x is the reference; 16 ranks cost 16**MPI_ALPHA more
    est = CostModel(runs).estimate(DftSize("fd", 32000, 1, 1, 16))
    assert est.source == "fd-16000" and est.x_ratio == pytest.approx(2.0)
    assert est.core_seconds == pytest.approx(640 * 2**1.5 * 16**MPI_ALPHA)


@pytest.fixture(scope="module")
def measured_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two real GPAW runs of a water molecule: demo-like LCAO, and FD at a finer h."""
    from iceafm.dft.run import run_dft

    runs = {}
    for name, changes in (("demo", {}), ("paper", {"mode": "fd", "h": 0.25})):
        run_dir = tmp_path_factory.mktemp(name)
        folder = run_dir / "results" / "dft" / "water"
        folder.mkdir(parents=True)
        structure = write_water(run_dir / "water.extxyz", 2.5)
        config = tiny_dft_config(vacuum_a=2.5, **changes)
        outputs = [folder / n for n in ("hartree.cube", "density.cube", "dft.json")]
        assert run_dft(structure, *outputs, None, config, 1, run_dir / "scratch") == 0
        runs[name] = run_dir
    return runs


@pytest.mark.slow
def test_paper_plans_from_two_measurements_differ_by_the_predicted_ratio(measured_runs) -> None:
    (demo,) = read_measurements(measured_runs["demo"])
    (paper,) = read_measurements(measured_runs["paper"])
    assert (demo.size.mode, paper.size.mode) == ("lcao", "fd")
    assert paper.size.grid_points > demo.size.grid_points  # finer h
    # What the model, from the demo run alone, predicts the paper-setting run costs:
    predicted = CostModel([demo]).estimate(paper.size).core_seconds

    config = full_config(str(REPO / "config" / "paper.yaml"))
    samples = ["ice_basal-00000", "ice_basal-00001", "premelt-00000", "bilayer_metal-00000"]
    sizes = planned_dft_sizes(config, samples, REPO)
    ranks = config["dft"]["resources"]["ranks"]
    jobs = [PlannedJob("dft", ranks, 0, 60.0, sample=s) for s in samples]
    plans = {}
    for name, run in (("demo", demo), ("paper", paper)):
        measured = Measured({"dft": 1.0}, dft_model=CostModel([run]), dft_sizes=sizes)
        _, stages, sources = estimate(jobs, measured)
        plans[name] = stages["dft"].core_hours
        assert sources["dft"].startswith(f"model: {run.source}")
    assert plans["demo"] / plans["paper"] == pytest.approx(predicted / paper.core_seconds)
    # The old plan (the measured mean wall time for every job) is orders of magnitude low.
    naive = len(jobs) * ranks * demo.core_seconds / 3600
    assert plans["demo"] > 100 * naive
    record = json.loads((measured_runs["paper"] / "results/dft/water/dft.json").read_text())
    assert record["settings"]["mode"] == "fd"
