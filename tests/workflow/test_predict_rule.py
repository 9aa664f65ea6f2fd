"""Rules predict_real / predict_real_agreement: a user's folder end to end, the shared images
planned into the default targets only where they and the model exist."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from ase.io import read
from helpers import EXPERIMENTAL, REPO, run_snakemake, tiny_config

sys.path.insert(0, str(REPO / "tests" / "unit"))
from stack_fixtures import (  # noqa: E402
    sharpening_stack,
    tiny_detector_path,
    write_our_npz,
    write_png_stack,
)

SHIPPED = REPO / "src" / "iceafm" / "models" / "pretrained" / "detector.pt"


def _jobs(stdout: str, rule: str) -> int:
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == rule and parts[1].isdigit():
            return int(parts[1])
    return 0


@pytest.mark.slow
def test_user_folder_end_to_end(tmp_path):
    images = tmp_path / "my_images"
    df = sharpening_stack(6, shape_yx=(48, 64), pixel_a=0.25)
    write_png_stack(images / "pngs", df, name="flake")
    heights = [3.0 + 0.2 * k for k in range(6)]
    write_our_npz(images / "sim.npz", np.stack([df, df[:, ::-1]]), heights, 0.2)
    model = tiny_detector_path(tmp_path / "tiny.pt")
    config = tiny_config()
    config["predict_real"] = {
        "images_dir": str(images),
        "inputs": ["pngs", "sim.npz"],
        "model": str(model),
        "scan_size_a": {"flake": [16.0, 12.0]},
        "amorafm_reference": None,
    }
    work = tmp_path / "work"
    dry = run_snakemake(work, "-n", config=config)
    assert _jobs(dry.stdout, "predict_real") == 3
    assert _jobs(dry.stdout, "predict_real_agreement") == 0
    targets = [f"results/predict_real/{s}.{e}" for s in ("flake", "sim_v0", "sim_v1")
               for e in ("extxyz", "png")]
    run_snakemake(work, *targets, config=config)
    flake = read(work / "results/predict_real/flake.extxyz")
    assert flake.cell.lengths()[:2] == pytest.approx((16.0, 12.0))
    assert "predict_real.scan_size_a" in flake.info["reader_notes"]
    assert "nearest slices" in read(work / "results/predict_real/sim_v1.extxyz").info["slices_used"]
    assert (work / "results/predict_real/flake.png").stat().st_size > 1000


@pytest.mark.skipif(not EXPERIMENTAL.is_dir(), reason=f"shared images absent ({EXPERIMENTAL})")
def test_shared_images_in_default_targets_only_with_a_model(tmp_path):
    config = tiny_config()
    proc = run_snakemake(tmp_path / "default", "-n", config=config)
    expected = 10 if SHIPPED.is_file() else 0  # premelting surface + nine cluster stacks
    assert _jobs(proc.stdout, "predict_real") == expected
    config["predict_real"] = {"model": str(tiny_detector_path(tmp_path / "tiny.pt"))}
    proc = run_snakemake(tmp_path / "with_model", "-n", config=config)
    assert _jobs(proc.stdout, "predict_real") == 10
    assert _jobs(proc.stdout, "predict_real_agreement") == 1
    config["predict_real"]["images_dir"] = str(tmp_path / "nowhere")
    proc = run_snakemake(tmp_path / "no_images", "-n", config=config)
    assert _jobs(proc.stdout, "predict_real") == 0


def test_bad_input_entry_is_one_line(tmp_path):
    images = tmp_path / "images"
    write_png_stack(images / "gappy", sharpening_stack(3, (16, 16)))
    Path(images / "gappy" / "1.png").unlink()
    config = tiny_config()
    config["predict_real"] = {"images_dir": str(images), "inputs": ["gappy"]}
    proc = run_snakemake(tmp_path / "work", "-n", config=config, check=False)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stdout.splitlines() if "predict_real.inputs" in ln]
    assert lines and "misses slice(s) [1]" in lines[0], proc.stdout[-2000:]
