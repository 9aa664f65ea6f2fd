"""train.amp: bfloat16 / float16 autocast on CUDA, float32 on the CPU; saved states stay valid."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import torch
import yaml
from ml_fixtures import build_ml_dataset

from iceafm.models.checkpoint import load_checkpoint
from iceafm.models.train import TrainConfig, TrainConfigError, amp_dtype, train_detector

TINY = {"width": 4, "depth": 2, "epochs": 1, "batch_size": 2, "val_samples": 2}


def test_amp_values_parse_and_bad_ones_fail_in_one_line():
    assert TrainConfig().amp == "bf16"
    assert TrainConfig.from_config({"amp": True}).amp == "bf16"
    assert TrainConfig.from_config({"amp": False}).amp == "off"
    assert TrainConfig.from_config({"amp": "fp16"}).amp == "fp16"
    cuda = torch.device("cuda", 0)
    assert amp_dtype(TrainConfig(), cuda) == torch.bfloat16
    assert amp_dtype(TrainConfig.from_config({"amp": "fp16"}), cuda) == torch.float16
    assert amp_dtype(TrainConfig.from_config({"amp": "off"}), cuda) is None
    assert amp_dtype(TrainConfig(), torch.device("cpu")) is None
    with pytest.raises(TrainConfigError, match=r"^config train\.amp: expected .*'half'") as err:
        TrainConfig.from_config({"amp": "half"})
    assert "\n" not in str(err.value)


def test_schema_accepts_what_train_config_accepts():
    schema = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
    amp = yaml.safe_load(schema.read_text())["properties"]["train"]["properties"]["amp"]
    assert amp["default"] is True
    for value in (True, False, "bf16", "fp16", "off"):
        jsonschema.validate(value, amp)
        TrainConfig.from_config({"amp": value})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("half", amp)


def test_amp_hash_is_the_boolean_era_hash():
    # hashes of TrainConfig before bfloat16 (commit 28ded90, amp a boolean): saved states keep
    # their names and resume
    assert TrainConfig().hash() == "dcdaea6d23397a33"
    assert TrainConfig.from_config({"amp": "bf16"}).hash() == "dcdaea6d23397a33"
    assert TrainConfig.from_config({"amp": False}).hash() == "4ca2937c23f2d69f"
    assert TrainConfig.from_config({"amp": "fp16"}).hash() not in (
        "dcdaea6d23397a33",
        "4ca2937c23f2d69f",
    )


def test_amp_on_the_cpu_trains_exactly_as_float32(tmp_path):
    splits = build_ml_dataset(tmp_path / "data", n_structures=3, views=2)
    states = {}
    for amp in ("bf16", "off"):
        config = TrainConfig.from_config({**TINY, "amp": amp, "workers": 0})
        state = tmp_path / f"{amp}.pt"
        train_detector(config, splits["train"], None, state, tmp_path / f"{amp}.csv", False)
        states[amp] = load_checkpoint(state)
    stored = json.loads(states["bf16"]["meta"]["info"]["train_config_json"])
    assert stored["amp"] == "bf16"
    assert states["bf16"]["train_state"]["config"]["amp"] == "bf16"
    a, b = states["bf16"]["model_state"], states["off"]["model_state"]
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
