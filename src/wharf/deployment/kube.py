"""The Kubernetes objects a SeldonDeployment embeds (pod specs, containers, env), checked as the API server would.

Upstream's CRD spells out the full PodSpec, so the API server refuses a SeldonDeployment whose pod
spec has a wrong type or (with kubectl's default strict field validation) an unknown field. Wharf's
CRD keeps pod specs schemaless (see ``schema.py``), so the same checks run here, against the strict
Kubernetes JSON schemas bundled with ``kubernetes-validate`` (the ones the chart tooling validates
manifests with), and each problem names the field's path in the SeldonDeployment.

The operator, the orchestrator and ``wharf run`` all read SeldonDeployments, but kubernetes-validate
carries every Kubernetes release's schemas (108 MB). So the few definitions used here (PodSpec,
Container, ResourceRequirements, EnvVar and what they refer to: about 180 KB) are copied into the
package by ``invoke generate`` (:func:`core_definitions`), and checked for drift in CI.

Also here: ``without_nulls``. The API server prunes a ``null`` it finds in a CRD field that is not
nullable, so ``componentSpecs: null`` or ``env: null`` mean "not set"; Wharf does the same before
reading a resource, whether it came from a cluster or a file.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

import jsonschema
from referencing import Registry, Resource

# The Kubernetes release whose schemas are used; the chart tooling's default too.
KUBE_VERSION = "1.32.0"

# field path (relative to a predictor) -> Kubernetes definition it holds
PREDICTOR_OBJECTS = {
    "svcOrchSpec.resources": "ResourceRequirements",
    "engineResources": "ResourceRequirements",
    "explainer.containerSpec": "Container",
}


def without_nulls(value: Any) -> Any:
    """``value`` with every mapping entry whose value is None dropped, at any depth (a copy)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


# The definitions a SeldonDeployment embeds; their closure is what the package carries.
ROOTS = ("PodSpec", "Container", "ResourceRequirements", "EnvVar")
DEFINITIONS_FILE = f"kube-core-v{KUBE_VERSION}-strict.json"
CORE = "io.k8s.api.core.v1."


def core_definitions() -> dict[str, Any]:
    """Kubernetes' strict definitions of :data:`ROOTS` and everything they refer to, from
    kubernetes-validate (the chart tooling's dependency, not the runtime's): what ``invoke generate``
    writes to :data:`DEFINITIONS_FILE`."""
    from kubernetes_validate.utils import schema_contents

    full = schema_contents(f"kubernetes-json-schema/v{KUBE_VERSION}-local-strict/_definitions.json", KUBE_VERSION)
    wanted: dict[str, Any] = {}
    todo = [CORE + name for name in ROOTS]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted[name] = full["$defs"][name]
            todo += [ref.rsplit("/", 1)[-1] for ref in _refs(wanted[name])]
    return {"$schema": full["$schema"], "$id": full["$id"], "$defs": dict(sorted(wanted.items()))}


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


@functools.cache
def _validator(definition: str) -> jsonschema.protocols.Validator:
    """A strict validator for ``io.k8s.api.core.v1.<definition>`` (built once per definition)."""
    definitions = json.loads(resources.files("wharf.deployment").joinpath(DEFINITIONS_FILE).read_text())
    registry = Resource.from_contents(definitions) @ Registry()
    schema = {"$ref": f"{definitions['$id']}#/$defs/io.k8s.api.core.v1.{definition}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "a boolean",
    "object": "a mapping",
    "array": "a list",
    "number": "a number",
}


def _listed(value: object) -> list[Any]:
    """A schema keyword's value as a list: ``type`` holds one name or a list of them, ``enum`` a list."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _describe(error: jsonschema.ValidationError) -> tuple[list[Any], str]:
    """(extra path, message) in the words a user reads: the schemas' types allow null, which says nothing here."""
    path = list(error.absolute_path)
    if error.validator == "type":
        wanted = [t for t in _listed(error.validator_value) if t != "null"]
        return path, f"expected {' or '.join(TYPE_NAMES.get(t, t) for t in wanted)}, got {error.instance!r}"
    if (
        error.validator == "additionalProperties"
        and isinstance(error.schema, Mapping)
        and isinstance(error.instance, Mapping)
    ):
        known = set(error.schema.get("properties") or {})
        unknown = sorted(k for k in error.instance if k not in known)
        return path, ", ".join(f"unknown field {k!r}" for k in unknown)
    if error.validator == "required":
        return path, f"required field {error.message.split(' ')[0]} is missing"
    if error.validator == "enum":
        return path, f"{error.instance!r} is not one of {', '.join(map(str, _listed(error.validator_value)))}"
    return path, error.message


def _flatten(errors: Iterator[jsonschema.ValidationError]) -> Iterator[jsonschema.ValidationError]:
    """The leaf errors: a ``oneOf``/``anyOf`` failure (int-or-string, quantities) reports its best branch."""
    for error in errors:
        if error.context:
            yield jsonschema.exceptions.best_match(error.context)
        else:
            yield error


def _path(base: str, extra: list[Any]) -> str:
    out = base
    for part in extra:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def schema_problems(validator: jsonschema.protocols.Validator, value: Any, where: str = "") -> list[str]:
    """Each way ``value`` fails ``validator``, as ``<field path under where>: <what was expected>``."""
    found = []
    for error in _flatten(validator.iter_errors(value)):
        extra, message = _describe(error)
        found.append((list(map(str, extra)), f"{_path(where, extra).lstrip('.') or '(root)'}: {message}"))
    return [message for _, message in sorted(found)]


def object_problems(value: Any, definition: str, where: str) -> list[str]:
    """Each way ``value`` is not a valid Kubernetes ``definition`` (core/v1), naming the field under ``where``."""
    return schema_problems(_validator(definition), value, where)


def problems(sdep: Any) -> list[str]:
    """Every embedded Kubernetes object of ``sdep`` (nulls already dropped) the API server would refuse."""
    out: list[str] = []
    spec = sdep.get("spec") if isinstance(sdep, dict) else None
    predictors = spec.get("predictors") if isinstance(spec, dict) else None
    for i, predictor in enumerate(predictors if isinstance(predictors, list) else []):
        if isinstance(predictor, dict):
            out += _predictor_problems(predictor, f"spec.predictors[{i}]")
    return out


def _predictor_problems(predictor: dict[str, Any], where: str) -> list[str]:
    """A predictor's pod specs, orchestrator resources and env, and explainer container."""
    out: list[str] = []
    components = predictor.get("componentSpecs")
    for j, component in enumerate(components if isinstance(components, list) else []):
        if isinstance(component, dict) and "spec" in component:
            out += object_problems(component["spec"], "PodSpec", f"{where}.componentSpecs[{j}].spec")
    for dotted, definition in PREDICTOR_OBJECTS.items():
        value: Any = predictor
        for key in dotted.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            out += object_problems(value, definition, f"{where}.{dotted}")
    orchestrator = predictor.get("svcOrchSpec")
    env = orchestrator.get("env") if isinstance(orchestrator, dict) else None
    if env is not None and not isinstance(env, list):
        out.append(f"{where}.svcOrchSpec.env: expected a list, got {env!r}")
    for k, item in enumerate(env if isinstance(env, list) else []):
        out += object_problems(item, "EnvVar", f"{where}.svcOrchSpec.env[{k}]")
    return out
