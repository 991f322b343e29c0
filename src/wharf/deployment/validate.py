"""Upstream's validating webhook rules, checked in Python on the whole resource at any graph depth.

The API server already enforces most of them through the CRD's CEL rules; the operator and
``wharf render`` run these too, so a resource that reached the cluster some other way, or a graph
deeper than the CEL rules look, still fails with a message that names the field.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema

from wharf.deployment import kube
from wharf.deployment.crd import crd_json_schema
from wharf.deployment.kube import without_nulls
from wharf.deployment.model import Node, Predictor, SeldonDeployment, read
from wharf.deployment.names import SVC_NAME_ANNOTATION
from wharf.deployment.schema import KAFKA_ENV, METHODS, sdep_schema


class SdepError(ValueError):
    """A SeldonDeployment that cannot be rendered; ``problems`` each name a field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


NO_MODEL_URI_NEEDED = ("HUGGINGFACE_SERVER",)
NOT_FOR_TENSORFLOW = ("SKLEARN_SERVER", "XGBOOST_SERVER", "MLFLOW_SERVER", "HUGGINGFACE_SERVER")


def problems(sdep: Any, predictor_servers: dict[str, Any] | None = None) -> list[str]:
    """Every rule broken by ``sdep`` (raw, not defaulted), each naming the field at fault: what the
    typed model finds reading it, upstream's webhook rules over the model, then the embedded
    Kubernetes objects as the API server checks them."""
    if not isinstance(sdep, dict):
        return ["expected a SeldonDeployment mapping"]
    sdep = without_nulls(sdep)
    structural = structural_problems(sdep)
    if any(_UNKNOWN in p for p in structural):
        # A misspelt field (componentSpec for componentSpecs) makes the rules below misleading ("no
        # container named ..."): say what the API server says, misspelt fields first, and only that.
        return structural
    model, found = read(sdep)
    assert model is not None  # sdep is a mapping
    out = (["metadata.name: required"] if not model.name else []) + found
    if not model.predictors:  # no spec, or no predictor: nothing for the rules to read
        return out
    out += _spec_problems(model, sdep["spec"].get("transport"), predictor_servers)
    # What the API server refuses by schema, for the fields no rule above named already
    named = {p.split(": ", 1)[0] for p in out}
    return list(dict.fromkeys(out)) + [p for p in structural if _field_of(p) not in named]


def _spec_problems(
    model: SeldonDeployment, transport: str | None, predictor_servers: dict[str, Any] | None
) -> list[str]:
    """The webhook's rules over the predictors: unique names, shadows, traffic, one endpoint type."""
    out = _unique_names(model.predictors)
    endpoint_types: set[str] = set()
    for p in model.predictors:
        if model.server_type == "kafka":
            missing = [k for k in KAFKA_ENV if k not in p.svc_orch_spec.env_names()]
            if missing:
                out.append(f"{p.path}.svcOrchSpec.env: serverType kafka needs {', '.join(missing)}")
        out += _predictor_problems(p, model.protocol, predictor_servers)
        endpoint_types |= {n.endpoint.type for n in p.nodes() if n.endpoint is not None and n.endpoint.type}
    out += _traffic_problems(model.predictors)
    if len(endpoint_types) > 1:
        out.append(f"spec.predictors[].graph.endpoint.type: all nodes must use one type, got {sorted(endpoint_types)}")
    if transport and endpoint_types and {transport.upper()} != endpoint_types:
        out.append(f"spec.transport: {transport!r} conflicts with graph endpoint type {sorted(endpoint_types)[0]}")
    return out


def _unique_names(predictors: tuple[Predictor, ...]) -> list[str]:
    """Predictor names, and the Service names ``seldon.io/svc-name`` gives, are each used once."""
    out = []
    names_seen: set[str] = set()
    svc_names: dict[str, int] = {}
    for p in predictors:
        if p.name and p.name in names_seen:
            out.append(f"{p.path}.name: {p.name!r} is used by another predictor; names must be unique")
        names_seen.add(p.name)
        svc = p.annotations.get(SVC_NAME_ANNOTATION)
        if svc is not None:
            if svc in svc_names:
                out.append(
                    f"{p.path}.annotations[{SVC_NAME_ANNOTATION}]: {svc!r} is also used by "
                    f"spec.predictors[{svc_names[svc]}]"
                )
            svc_names[svc] = p.index
    return out


def _traffic_problems(predictors: tuple[Predictor, ...]) -> list[str]:
    out = []
    shadows = sum(1 for p in predictors if p.shadow)
    traffic_sum = sum(p.traffic or 0 for p in predictors if not p.shadow)
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
    return out


def _predictor_problems(p: Predictor, protocol: str, predictor_servers: dict[str, Any] | None) -> list[str]:
    """A predictor's graph against its componentSpecs: a container for every node that needs one,
    with an image where the node's own image serves it; unique node names."""
    if not p.has_graph:
        return []
    out = []
    container_names = p.container_names()
    # Containers with no image, by name -> their field path: fine for a prepackaged server's node
    # (the operator sets its image), an error for a node whose own image serves it.
    imageless = {c.name: c.path for _, c in p.containers() if not c.image}
    nodes = list(p.nodes())
    if p.no_engine and len(nodes) > 1:
        out.append(f"{p.path}.annotations[seldon.io/no-engine]: only allowed for a single-node graph")
    node_names: set[str] = set()
    for node in nodes:
        if not node.name:
            continue  # the model said so
        out += _node_problems(node, container_names, protocol, predictor_servers)
        if node.own_image and node.name in imageless:
            out.append(
                f"{imageless[node.name]}.image: required: graph node {node.path} runs in this container "
                "(set the model image, e.g. registry/my-model:0.1)"
            )
        if node.name in node_names:
            out.append(f"{node.path}.name: {node.name!r} appears twice in the graph; node names must be unique")
        node_names.add(node.name)
    return out


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
    node: Node, container_names: set[str], protocol: str, predictor_servers: dict[str, Any] | None
) -> list[str]:
    methods = node.raw.get("methods")
    bad = [m for m in methods if m not in METHODS] if isinstance(methods, list) else []
    out = [f"{node.path}.methods: {', '.join(map(str, bad))} not among {', '.join(METHODS)}"] if bad else []
    if node.own_image:
        if node.name not in container_names:
            out.append(
                f"{node.path}.name: no container named {node.name!r} in componentSpecs[].spec.containers "
                "(a node without an implementation runs in the container of its name)"
            )
        if node.type == "UNKNOWN_TYPE" and not methods:
            out.append(f"{node.path}.methods: type UNKNOWN_TYPE needs a non-empty methods list")
    elif node.prepackaged:
        out += _prepackaged_problems(node, protocol)
        if predictor_servers is not None and node.name not in container_names:
            out += _server_problems(node.path, node.implementation_or_default, protocol, predictor_servers)
    return out


def _prepackaged_problems(node: Node, protocol: str) -> list[str]:
    out = []
    implementation = node.implementation_or_default
    if not node.model_uri and implementation not in NO_MODEL_URI_NEEDED:
        out.append(f"{node.path}.modelUri: required for the prepackaged server {implementation}")
    if protocol == "tensorflow" and implementation in NOT_FOR_TENSORFLOW:
        out.append(f"{node.path}.implementation: {implementation} does not serve protocol tensorflow")
    return out


def _server_problems(path: str, implementation: str, protocol: str, predictor_servers: dict[str, Any]) -> list[str]:
    """A prepackaged node the operator gives a container: ``predictor_servers`` must have its image."""
    images = predictor_servers.get(implementation)
    if not images:
        return [
            f"{path}.implementation: unknown prepackaged server {implementation!r} "
            f"(known: {', '.join(sorted(predictor_servers))})"
        ]
    if not (images.get(protocol) or images.get({"v2": "kfserving", "kfserving": "v2"}.get(protocol, ""))):
        return [f"{path}.implementation: {implementation} has no image for protocol {protocol!r}"]
    return []


def check(sdep: Any, predictor_servers: dict[str, Any] | None = None) -> None:
    found = problems(sdep, predictor_servers)
    if found:
        raise SdepError(found)
