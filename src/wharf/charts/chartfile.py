"""Chart.yaml checks as ct's ``chart_schema.yaml`` (yamale) states them, expressed in JSON Schema."""

from __future__ import annotations

from pathlib import Path

from jsonschema import Draft7Validator

from wharf.charts.values_check import Problem, _describe
from wharf.charts.values_schema import load_yaml

_STR = {"type": "string"}
CHART_SCHEMA = {
    "type": "object",
    "required": ["name", "version", "apiVersion"],
    "properties": {
        "name": _STR,
        "version": _STR,
        "apiVersion": _STR,
        "home": _STR,
        "appVersion": {"type": ["string", "number"]},
        "description": _STR,
        "kubeVersion": _STR,
        "type": _STR,
        "icon": _STR,
        "condition": _STR,
        "tags": _STR,
        "engine": _STR,
        "deprecated": {"type": "boolean"},
        "keywords": {"type": "array", "items": _STR},
        "sources": {"type": "array", "items": _STR},
        "maintainers": {
            "type": "array",
            "items": {"type": "object", "required": ["name"], "properties": {"name": _STR, "email": _STR, "url": _STR}},
        },
        "dependencies": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "version"],
                "properties": {
                    "name": _STR,
                    "version": _STR,
                    "repository": _STR,
                    "condition": _STR,
                    "tags": {"type": "array", "items": _STR},
                    "enabled": {"type": "boolean"},
                    "import-values": {"type": "array"},
                    "alias": _STR,
                },
            },
        },
        "annotations": {"type": "object", "additionalProperties": _STR},
    },
}


def check_chart_yaml(chart_dir: Path) -> list[Problem]:
    path = chart_dir / "Chart.yaml"
    try:
        data = load_yaml(path.read_text())
    except Exception as exc:  # noqa: BLE001
        return [Problem(str(path), "", f"not valid YAML: {exc}")]
    problems = [
        Problem(str(path), p, m) for e in Draft7Validator(CHART_SCHEMA).iter_errors(data) for p, m in _describe(e)
    ]
    if isinstance(data, dict):
        # Our own conventions on top of ct's schema (every chart here follows them).
        if data.get("apiVersion") != "v2":
            problems.append(Problem(str(path), "apiVersion", f"expected v2, got {data.get('apiVersion')!r}"))
        if not data.get("kubeVersion"):
            problems.append(Problem(str(path), "kubeVersion", 'required key is missing (e.g. ">=1.25.0-0")'))
    return sorted(set(problems), key=lambda p: (p.path, p.message))


def check_maintainers(chart_dir: Path) -> list[Problem]:
    """ct's rule without the network part: a deprecated chart has none, others at least one with a name.
    (ct also HEADs https://<git host>/<name>; this workplace has no internet, so that is left out.)"""
    path = chart_dir / "Chart.yaml"
    data = load_yaml(path.read_text()) or {}
    maintainers = data.get("maintainers") or []
    if data.get("deprecated"):
        return (
            [Problem(str(path), "maintainers", "a deprecated chart must not have maintainers")] if maintainers else []
        )
    if not maintainers:
        return [Problem(str(path), "maintainers", "at least one maintainer is required")]
    return [
        Problem(str(path), f"maintainers[{i}].name", "must not be empty")
        for i, m in enumerate(maintainers)
        if not (m or {}).get("name")
    ]
