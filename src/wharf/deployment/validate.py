"""Upstream's validating webhook rules, checked in Python on the whole resource at any graph depth.

The API server already enforces most of them through the CRD's CEL rules; the operator and
``wharf render`` run these too, so a resource that reached the cluster some other way, or a graph
deeper than the CEL rules look, still fails with a message that names the field.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import jsonschema

from wharf.deployment import kube
from wharf.deployment.crd import crd_json_schema
from wharf.deployment.defaults import is_prepackaged, no_engine
from wharf.deployment.kube import without_nulls
from wharf.deployment.names import SVC_NAME_ANNOTATION
from wharf.deployment.schema import (
    KAFKA_ENV,
    LOGGER_MODES,
    METHODS,
    NODE_TYPES,
    PROTOCOLS,
    SERVER_TYPES,
    TRANSPORTS,
    sdep_schema,
)


class SdepError(ValueError):
    """A SeldonDeployment that cannot be rendered; ``problems`` each name a field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _nodes(node: Any, path: str) -> Iterator[tuple[dict[str, Any], str]]:
    if not isinstance(node, dict):
        return
    yield node, path
    for i, child in enumerate(node.get("children") or []):
        yield from _nodes(child, f"{path}.children[{i}]")


NO_MODEL_URI_NEEDED = ("HUGGINGFACE_SERVER",)
NOT_FOR_TENSORFLOW = ("SKLEARN_SERVER", "XGBOOST_SERVER", "MLFLOW_SERVER", "HUGGINGFACE_SERVER")


def problems(sdep: Any, predictor_servers: dict[str, Any] | None = None) -> list[str]:
    """Every rule broken by ``sdep`` (raw, not defaulted), each naming the field at fault: upstream's
    webhook rules, then the embedded Kubernetes objects as the API server checks them."""
    out: list[str] = []
    if not isinstance(sdep, dict):
        return ["expected a SeldonDeployment mapping"]
    sdep = without_nulls(sdep)
    structural = structural_problems(sdep)
    if any(_UNKNOWN in p for p in structural):
        # A misspelt field (componentSpec for componentSpecs) makes the rules below misleading ("no
        # container named ..."): say what the API server says, misspelt fields first, and only that.
        return structural
    if not ((sdep.get("metadata") or {}).get("name")):
        out.append("metadata.name: required")
    spec = sdep.get("spec")
    if not isinstance(spec, dict):
        return out + ["spec: required, a mapping"]
    for key, allowed in (("protocol", PROTOCOLS), ("transport", TRANSPORTS), ("serverType", SERVER_TYPES)):
        if key in spec and spec[key] not in allowed:
            out.append(f"spec.{key}: {spec[key]!r} is not one of {', '.join(allowed)}")
    predictors = spec.get("predictors")
    if not isinstance(predictors, list) or not predictors:
        return out + ["spec.predictors: at least one predictor is required"]
    protocol = spec.get("protocol") or "seldon"
    names_seen: set[str | None] = set()
    svc_names: dict[str, int] = {}
    shadows, traffic_sum = 0, 0
    endpoint_types: set[str] = set()
    for i, p in enumerate(predictors):
        where = f"spec.predictors[{i}]"
        if not isinstance(p, dict):
            out.append(f"{where}: expected a mapping")
            continue
        pname = p.get("name")
        if not pname:
            out.append(f"{where}.name: required")
        elif pname in names_seen:
            out.append(f"{where}.name: {pname!r} is used by another predictor; names must be unique")
        names_seen.add(pname)
        if p.get("shadow"):
            shadows += 1
        else:
            traffic_sum += int(p.get("traffic") or 0)
        svc = (p.get("annotations") or {}).get(SVC_NAME_ANNOTATION)
        if svc is not None:
            if svc in svc_names:
                out.append(
                    f"{where}.annotations[{SVC_NAME_ANNOTATION}]: {svc!r} is also used by "
                    f"spec.predictors[{svc_names[svc]}]"
                )
            svc_names[svc] = i
        if spec.get("serverType") == "kafka":
            env = {e.get("name") for e in ((p.get("svcOrchSpec") or {}).get("env") or []) if isinstance(e, dict)}
            missing = [k for k in KAFKA_ENV if k not in env]
            if missing:
                out.append(f"{where}.svcOrchSpec.env: serverType kafka needs {', '.join(missing)}")
        graph = p.get("graph")
        if not isinstance(graph, dict):
            out.append(f"{where}.graph: required, a mapping")
            continue
        container_names = {
            c.get("name")
            for cs in p.get("componentSpecs") or []
            if isinstance(cs, dict)
            for c in ((cs.get("spec") or {}).get("containers") or [])
            if isinstance(c, dict)
        }
        # Containers with no image, by name -> their field path: fine for a prepackaged server's node
        # (the operator sets its image), an error for a node whose own image serves it.
        imageless = {
            c.get("name"): f"{where}.componentSpecs[{j}].spec.containers[{k}]"
            for j, cs in enumerate(p.get("componentSpecs") or [])
            if isinstance(cs, dict)
            for k, c in enumerate((cs.get("spec") or {}).get("containers") or [])
            if isinstance(c, dict) and not c.get("image")
        }
        node_names: set[str | None] = set()
        nodes = list(_nodes(graph, f"{where}.graph"))
        if no_engine(p) and len(nodes) > 1:
            out.append(f"{where}.annotations[seldon.io/no-engine]: only allowed for a single-node graph")
        for node, path in nodes:
            out += _node_problems(node, path, container_names, protocol, predictor_servers)
            name = node.get("name")
            own_image = (node.get("implementation") or "UNKNOWN_IMPLEMENTATION") == "UNKNOWN_IMPLEMENTATION"
            if own_image and name in imageless:
                out.append(
                    f"{imageless[name]}.image: required: graph node {path} runs in this container "
                    "(set the model image, e.g. registry/my-model:0.1)"
                )
            if name in node_names:
                out.append(f"{path}.name: {name!r} appears twice in the graph; node names must be unique")
            node_names.add(name)
            etype = (node.get("endpoint") or {}).get("type")
            if etype:
                endpoint_types.add(str(etype))
    if shadows > 1:
        out.append("spec.predictors: at most one predictor may be a shadow")
    if shadows and shadows == len(predictors):
        out.append("spec.predictors: a shadow predictor cannot be the only predictor")
    if len(predictors) - shadows > 1 and traffic_sum != 100:
        out.append(f"spec.predictors[].traffic: must sum to 100 over the non-shadow predictors, got {traffic_sum}")
    if len(predictors) == 1 and 0 < traffic_sum < 100:
        out.append(
            f"spec.predictors[0].traffic: a single predictor's traffic, when set, must be 100, got {traffic_sum}"
        )
    if len(endpoint_types) > 1:
        out.append(f"spec.predictors[].graph.endpoint.type: all nodes must use one type, got {sorted(endpoint_types)}")
    transport = spec.get("transport")
    if transport and endpoint_types and {transport.upper()} != endpoint_types:
        out.append(f"spec.transport: {transport!r} conflicts with graph endpoint type {sorted(endpoint_types)[0]}")
    # What the API server refuses by schema, for the fields no rule above named already
    named = {p.split(": ", 1)[0] for p in out}
    return out + [p for p in structural if _field_of(p) not in named]


def structural_problems(sdep: dict[str, Any]) -> list[str]:
    """What the API server itself refuses: a type or field Wharf's CRD schema does not allow (strict,
    as kubectl's default field validation asks), or an embedded Kubernetes object it would not take."""
    sdep = without_nulls(sdep)
    # dict.fromkeys: a field both schemas type (a container port) is named once
    found = list(dict.fromkeys(kube.schema_problems(_crd_validator(), sdep) + kube.problems(sdep)))
    return sorted(found, key=lambda problem: _UNKNOWN not in problem)  # misspelt fields first


_UNKNOWN = ": unknown field "


def problem_lines(source: str, sdep: Any, found: list[str]) -> list[str]:
    """How every command (render, run, the operator's status) says what is wrong with a
    SeldonDeployment: one line per problem naming the file, the resource and the field."""
    name = ((sdep.get("metadata") if isinstance(sdep, dict) else None) or {}).get("name") or "(no metadata.name)"
    return [f"{source}: SeldonDeployment {name}: {problem}" for problem in found]


def _field_of(problem: str) -> str:
    """The field a problem is about: ``a.b: required field 'c' is missing`` is about ``a.b.c``."""
    path, _, message = problem.partition(": ")
    missing = re.fullmatch(r"required field '([^']+)' is missing", message)
    return f"{path}.{missing.group(1)}" if missing else path


@functools.lru_cache(maxsize=1)
def _crd_validator() -> jsonschema.protocols.Validator:
    """Wharf's own CRD schema, strict as the API server with kubectl's default field validation is
    (its CEL rules are the rules above)."""
    return jsonschema.Draft7Validator(crd_json_schema(sdep_schema()))


def _node_problems(
    node: dict[str, Any],
    path: str,
    container_names: set[str | None],
    protocol: str,
    predictor_servers: dict[str, Any] | None,
) -> list[str]:
    out = []
    name = node.get("name")
    if not isinstance(name, str) or not name:
        return [f"{path}.name: required, a non-empty string"]
    node_type = node.get("type")
    if node_type is not None and node_type not in NODE_TYPES:
        out.append(f"{path}.type: {node_type!r} is not one of {', '.join(NODE_TYPES)}")
    methods = node.get("methods") or []
    bad = [m for m in methods if m not in METHODS]
    if bad:
        out.append(f"{path}.methods: {', '.join(map(str, bad))} not among {', '.join(METHODS)}")
    implementation = node.get("implementation") or "UNKNOWN_IMPLEMENTATION"
    if implementation == "UNKNOWN_IMPLEMENTATION":
        if name not in container_names:
            out.append(
                f"{path}.name: no container named {name!r} in componentSpecs[].spec.containers "
                "(a node without an implementation runs in the container of its name)"
            )
        if node_type == "UNKNOWN_TYPE" and not methods:
            out.append(f"{path}.methods: type UNKNOWN_TYPE needs a non-empty methods list")
    elif is_prepackaged(node):
        if not node.get("modelUri") and implementation not in NO_MODEL_URI_NEEDED:
            out.append(f"{path}.modelUri: required for the prepackaged server {implementation}")
        if protocol == "tensorflow" and implementation in NOT_FOR_TENSORFLOW:
            out.append(f"{path}.implementation: {implementation} does not serve protocol tensorflow")
        if predictor_servers is not None and name not in container_names:
            images = predictor_servers.get(implementation)
            if not images:
                out.append(
                    f"{path}.implementation: unknown prepackaged server {implementation!r} "
                    f"(known: {', '.join(sorted(predictor_servers))})"
                )
            elif not (images.get(protocol) or images.get({"v2": "kfserving", "kfserving": "v2"}.get(protocol, ""))):
                out.append(f"{path}.implementation: {implementation} has no image for protocol {protocol!r}")
    logger = node.get("logger")
    if logger is not None and (not isinstance(logger, dict) or logger.get("mode") not in LOGGER_MODES):
        out.append(f"{path}.logger.mode: required when logger is set, one of {', '.join(LOGGER_MODES)}")
    return out


def check(sdep: Any, predictor_servers: dict[str, Any] | None = None) -> None:
    found = problems(sdep, predictor_servers)
    if found:
        raise SdepError(found)
