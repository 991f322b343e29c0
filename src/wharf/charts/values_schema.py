"""values.schema.json generated from one source: the chart's annotated ``values.yaml``.

The types come from the default values themselves; a ``# @schema {...}`` comment above a key
(a YAML flow mapping) adds or overrides JSON-Schema keywords for it, and the helm-docs ``# --``
comment becomes its ``description``. Special annotation keys:

- ``required: true`` -> the key is listed in its parent's ``required``;
- ``$ref: wharf:<name>`` -> the schema is inlined from ``wharf.deployment.schema`` (one source
  with the CRD), e.g. ``wharf:graph`` for a SeldonDeployment graph node, or from
  ``wharf.charts.quantity`` (``wharf:resources``, ``wharf:quantity``, ``wharf:quantityOrEmpty``).

Objects with keys are closed (``additionalProperties: false``) so typos are caught; an empty
default object (``{}``) is an open map, and so is an object whose annotation gives
``additionalProperties`` a schema (every entry, the defaults too, must follow it). The root always admits ``global`` and ``enabled``, which
parent charts pass to their dependencies.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

Schema = dict[str, Any]
DRAFT = "http://json-schema.org/draft-07/schema#"
_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.\-/]+|\"[^\"]+\"):(\s|$)")


class ValuesSourceError(ValueError):
    """values.yaml cannot be turned into a schema (message names file, line and problem)."""


@dataclass
class KeyDoc:
    description: str = ""
    annotation: Schema = field(default_factory=dict)
    line: int = 0


def load_yaml(text: str) -> Any:
    """Parse like helm does (YAML 1.1: ``yes``/``on`` are booleans)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 1)
    return yaml.load(text)


def scan_key_docs(text: str, source: str = "values.yaml") -> dict[tuple[str, ...], KeyDoc]:
    """Map each mapping key's path to its ``# --`` description and ``# @schema`` annotation."""
    docs: dict[tuple[str, ...], KeyDoc] = {}
    stack: list[tuple[int, str]] = []
    doc_lines: list[str] = []
    annotation: Schema = {}
    in_doc = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            body = stripped[1:].strip()
            if body.startswith("@schema"):
                try:
                    extra = load_yaml(body[len("@schema") :].strip() or "{}")
                except Exception as exc:  # noqa: BLE001 - any YAML error is reported the same way
                    raise ValuesSourceError(f"{source}:{number}: bad @schema annotation: {exc}") from None
                if not isinstance(extra, dict):
                    raise ValuesSourceError(f"{source}:{number}: @schema must be a mapping like {{type: string}}")
                annotation.update(extra)
            elif body.startswith("--"):
                doc_lines, in_doc = [body[2:].strip()], True
            elif in_doc and not body.startswith("@"):
                doc_lines.append(body)
            continue
        match = _KEY_LINE.match(line)
        if not stripped or stripped.startswith("-") or not match:
            if stripped:
                doc_lines, annotation, in_doc = [], {}, False
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = match["key"].strip('"')
        path = tuple(k for _, k in stack) + (key,)
        docs[path] = KeyDoc(" ".join(d for d in doc_lines if d).strip(), annotation, number)
        stack.append((indent, key))
        doc_lines, annotation, in_doc = [], {}, False
    return docs


def _shared_schema(name: str) -> Schema:
    from wharf.charts import quantity
    from wharf.deployment import schema as sdep

    makers = {
        "graph": lambda: sdep.graph_node(),
        "componentSpec": lambda: _typed_resources(sdep.component_spec(), "spec", "containers"),
        "container": lambda: _typed_resources(sdep.container()),
        "podSpec": lambda: _typed_resources(sdep.pod_spec(), "containers"),
        "resources": quantity.resources,
        "quantity": quantity.quantity,
        "quantityOrEmpty": lambda: quantity.quantity(allow_empty=True),
    }
    if name not in makers:
        raise ValuesSourceError(f"unknown shared schema wharf:{name} (known: {', '.join(sorted(makers))})")
    return _strip_kube_extensions(makers[name]())


def _typed_resources(schema: Schema, *path: str) -> Schema:
    """The container schema at ``path`` (object properties, then a list's items) with typed resources.

    The CRD leaves a container's resources open: the API server checks them when the operator
    creates the pods, long after ``helm install`` has returned. In values they are typed, so a
    wrong quantity is refused by helm, naming the key."""
    from wharf.charts import quantity

    node = schema
    for key in path:
        node = node["properties"][key]["items"] if key == "containers" else node["properties"][key]
    node["properties"]["resources"] = quantity.resources()
    return schema


def _strip_kube_extensions(node: Any) -> Any:
    """Drop x-kubernetes-* keywords (CEL etc.) that mean nothing to a JSON-Schema validator."""
    if isinstance(node, dict):
        out = {k: _strip_kube_extensions(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
        if node.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
            out["type"] = ["integer", "string"]
        return out
    if isinstance(node, list):
        return [_strip_kube_extensions(v) for v in node]
    return node


def _resolve_refs(node: Any) -> Any:
    """Inline every ``{$ref: wharf:<name>}`` inside an annotation."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("wharf:"):
            return _shared_schema(ref[len("wharf:") :])
        return {k: _resolve_refs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_refs(v) for v in node]
    return node


def _infer(value: Any) -> Schema:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        return {"type": "array"}
    if isinstance(value, dict):
        return {"type": "object"}
    return {}


def _build(value: Any, path: tuple[str, ...], docs: dict[tuple[str, ...], KeyDoc]) -> Schema:
    doc = docs.get(path, KeyDoc())
    annotation = dict(doc.annotation)
    annotation.pop("required", None)
    ref = annotation.pop("$ref", None)
    if isinstance(ref, str) and ref.startswith("wharf:"):
        schema = _shared_schema(ref[len("wharf:") :])
    else:
        schema = _infer(value)
        if isinstance(annotation.get("additionalProperties"), dict):
            pass  # a map whose entries all follow one schema: the defaults are examples, not the keys
        elif isinstance(value, dict) and value:
            props = {str(k): _build(v, path + (str(k),), docs) for k, v in value.items()}
            schema["properties"] = props
            schema["additionalProperties"] = False
            required = [k for k in props if docs.get(path + (k,), KeyDoc()).annotation.get("required")]
            if required:
                schema["required"] = required
    schema.update(_resolve_refs(annotation))
    if doc.description:
        schema = {"description": doc.description, **schema}
    return schema


def generate(values_text: str, title: str, source: str = "values.yaml") -> Schema:
    values = load_yaml(values_text) or {}
    if not isinstance(values, dict):
        raise ValuesSourceError(f"{source}: the top level must be a mapping")
    docs = scan_key_docs(values_text, source)
    body = _build(values, (), docs)
    body.setdefault("properties", {})
    body["properties"].setdefault("global", {"description": "Values shared with parent charts.", "type": "object"})
    body["properties"].setdefault(
        "enabled", {"description": "Set by a parent chart's dependency condition.", "type": "boolean"}
    )
    return {"$schema": DRAFT, "title": f"Values of the {title} chart", **body}


def render(schema: Schema) -> str:
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def chart_schema(chart_dir: Path) -> str:
    """The values.schema.json text that ``chart_dir``'s values.yaml generates."""
    return render(generate((chart_dir / "values.yaml").read_text(), chart_dir.name, str(chart_dir / "values.yaml")))


def undocumented_keys(values_text: str) -> list[str]:
    """Dotted paths of values.yaml keys with no ``# --`` description (keys inside open maps such
    as ``env``, or inside a shared ``$ref`` schema such as ``wharf:resources``, need none)."""
    values = load_yaml(values_text) or {}
    docs = scan_key_docs(values_text)
    schema = _build(values, (), docs)
    missing: list[str] = []

    def walk(node: Any, node_schema: Schema, path: tuple[str, ...]) -> None:
        if not isinstance(node, dict) or node_schema.get("additionalProperties") is not False:
            return
        for key, child in node.items():
            here = path + (str(key),)
            doc = docs.get(here, KeyDoc())
            if not doc.description:
                missing.append(".".join(here))
            if "$ref" not in doc.annotation:
                walk(child, node_schema.get("properties", {}).get(str(key), {}), here)

    walk(values, schema, ())
    return missing
