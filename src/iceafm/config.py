"""Config validation messages: turn a JSON-schema failure into one line a user can act on."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import jsonschema
import yaml


def key_path(path: Iterable[object]) -> str:
    """Dotted config key for a jsonschema ``absolute_path`` (list indices as ``[i]``)."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<top level>"


def describe_validation_error(error: jsonschema.ValidationError, source: str = "config") -> str:
    """One line naming the config key, the offending value and what the schema expected.

    ``source`` names where the config came from (e.g. ``config/config.yaml``).
    """
    best = error
    key = key_path(best.absolute_path)
    expected = best.schema.get("description") if isinstance(best.schema, dict) else None
    line = f"{source}: invalid key '{key}': {best.message}"
    if expected and best.validator not in ("additionalProperties", "required"):
        line += f" (expected: {' '.join(expected.split())})"
    return line


def first_schema_error(config: dict, schema_path: str | Path) -> jsonschema.ValidationError | None:
    """The most relevant violation of the YAML JSON-schema at ``schema_path``, or None."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return jsonschema.exceptions.best_match(validator.iter_errors(config))
