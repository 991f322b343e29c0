"""Values files against a chart's values.schema.json: every error, each naming file, key path and expectation.

Helm validates the *merged* values (chart defaults + user files), so we do the same, but unknown
keys are reported against the user's file, where the typo is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, validators
from jsonschema.exceptions import ValidationError

from wharf.charts.values_schema import load_yaml


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '(root)'}: {self.message}"


def merge_values(base: Any, override: Any) -> Any:
    """Helm's coalescing: maps merge key by key, anything else replaces, ``null`` deletes a key."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged:
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = value
    return merged


def key_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    """(key path, expectation) pairs for one jsonschema error."""
    path = key_path(error.absolute_path)
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if custom:
        return [(path, custom)]
    value, kind = error.instance, error.validator
    if kind == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return [(path, f"expected {wanted}, got {_json_type(value)} {json.dumps(value)}")]
    if kind == "additionalProperties" and isinstance(value, dict):
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in value if k not in known)
        allowed = ", ".join(sorted(known)) or "none"
        return [(key_path([*error.absolute_path, k]), f"unknown key (allowed here: {allowed})") for k in extra]
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        return [(key_path([*error.absolute_path, missing]), "required key is missing")]
    if kind == "enum":
        options = ", ".join(json.dumps(o) for o in error.validator_value)
        return [(path, f"expected one of {options}, got {json.dumps(value)}")]
    if kind == "minLength" and error.validator_value == 1:
        return [(path, "must not be empty")]
    if kind == "pattern":
        return [(path, f"expected a value matching {error.validator_value}, got {json.dumps(value)}")]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return [(path, f"expected {kind} {error.validator_value}, got {json.dumps(value)}")]
    return [(path, error.message)]


def _wharf_required(validator: Any, required: Any, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    """``x-wharf-required``: a value the chart cannot render without. Helm's schema check ignores the
    keyword (the templates' ``required`` says it there, in words Helm prints); here it gets the
    schema's ``errorMessage`` like any other problem."""
    if required and instance in (None, ""):
        yield ValidationError("required value is empty")


_Validator = validators.extend(Draft7Validator, {"x-wharf-required": _wharf_required})


def check_values(schema: dict[str, Any], defaults: dict[str, Any], user: Any, file: str) -> list[Problem]:
    """All problems of ``user`` values (from ``file``) merged over ``defaults``, sorted by key path."""
    if user is None:
        user = {}
    if not isinstance(user, dict):
        return [Problem(file, "", f"expected a mapping of values, got {_json_type(user)}")]
    merged = merge_values(defaults, user)
    validator = _Validator(schema)
    problems = {Problem(file, p, m) for err in validator.iter_errors(merged) for p, m in _describe(err)}
    return sorted(problems, key=lambda p: (p.path, p.message))


def check_values_file(chart_dir: Path, values_file: Path | None) -> list[Problem]:
    """Problems of one values file (or of the chart defaults alone when ``values_file`` is None)."""
    schema = json.loads((chart_dir / "values.schema.json").read_text())
    defaults = load_yaml((chart_dir / "values.yaml").read_text()) or {}
    if values_file is None:
        return check_values(schema, {}, defaults, str(chart_dir / "values.yaml"))
    try:
        user = load_yaml(values_file.read_text())
    except Exception as exc:  # noqa: BLE001 - YAML syntax errors of any kind
        return [Problem(str(values_file), "", f"not valid YAML: {exc}")]
    return check_values(schema, defaults, user, str(values_file))
