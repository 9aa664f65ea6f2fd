"""The ``diffusion`` config section with the schema's defaults filled in (for tests, benchmarks
and scripts that run outside Snakemake, which fills them itself)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"


def _fill(schema: dict, value: dict) -> dict:
    out = copy.deepcopy(value)
    for key, sub in schema.get("properties", {}).items():
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if sub.get("type") == "object" and isinstance(out.get(key), dict):
            out[key] = _fill(sub, out[key])
    return out


def diffusion_section(overrides: dict | None = None, schema_path: str | Path = SCHEMA) -> dict:
    """``diffusion`` config: ``overrides`` (nested, e.g. ``{"train": {"epochs": 2}}``) over the
    schema's defaults."""
    schema = yaml.safe_load(Path(schema_path).read_text())["properties"]["diffusion"]
    return _fill(schema, overrides or {})
