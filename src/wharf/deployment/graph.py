"""The inference graph of one predictor (``spec.predictors[].graph``), typed and defaulted.

Read by the orchestrator (which node to call, how) and the local runtime (which servers to start).
Errors name the path of the offending field, e.g. ``graph.children[1].type``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wharf.deployment import kube
from wharf.deployment.validate import problem_lines, structural_problems

NODE_TYPES = ("UNKNOWN_TYPE", "ROUTER", "COMBINER", "MODEL", "TRANSFORMER", "OUTPUT_TRANSFORMER")
METHODS = ("TRANSFORM_INPUT", "TRANSFORM_OUTPUT", "ROUTE", "AGGREGATE", "SEND_FEEDBACK")
BUILTIN_IMPLEMENTATIONS = (
    "UNKNOWN_IMPLEMENTATION",
    "SIMPLE_MODEL",
    "SIMPLE_ROUTER",
    "RANDOM_ABTEST",
    "AVERAGE_COMBINER",
)
LOGGER_MODES = ("all", "request", "response")
# Built-ins the orchestrator serves itself, as upstream's Java engine did: such a node calls no
# server whatever its type or methods say (upstream's own examples write ``type: MODEL,
# implementation: SIMPLE_MODEL`` with ``containers: []``). RANDOM_ABTEST is not one of them: upstream's
# Go executor still calls ``/route`` on a RANDOM_ABTEST node typed ROUTER.
ORCHESTRATOR_BUILTINS = ("SIMPLE_MODEL", "SIMPLE_ROUTER", "AVERAGE_COMBINER")


class GraphError(ValueError):
    """A predictor spec that cannot be run; the message names the field."""


@dataclass(frozen=True)
class Endpoint:
    host: str = "localhost"
    http_port: int = 9000
    grpc_port: int = 9500
    transport: str = "REST"  # REST | GRPC


@dataclass(frozen=True)
class Logger:
    url: str | None
    mode: str


@dataclass(frozen=True)
class Unit:
    name: str
    type: str
    implementation: str
    methods: tuple[str, ...]
    endpoint: Endpoint
    parameters: tuple[dict[str, Any], ...] = ()
    children: tuple[Unit, ...] = ()
    logger: Logger | None = None
    path: str = "graph"
    model_uri: str | None = None  # ``modelUri``: where a prepackaged server's model is

    @property
    def builtin(self) -> bool:
        """Served inside the orchestrator (SIMPLE_MODEL, SIMPLE_ROUTER, AVERAGE_COMBINER): no server."""
        return self.implementation in ORCHESTRATOR_BUILTINS

    # Which calls this node's server answers in upstream's walk: a type or an explicit method list.
    @property
    def transforms_input(self) -> bool:
        return not self.builtin and (self.type in ("MODEL", "TRANSFORMER") or "TRANSFORM_INPUT" in self.methods)

    @property
    def input_call(self) -> str:
        return "predict" if self.type == "MODEL" else "transform-input"

    @property
    def routes(self) -> bool:
        return not self.builtin and (self.type == "ROUTER" or "ROUTE" in self.methods)

    @property
    def aggregates(self) -> bool:
        return not self.builtin and (self.type == "COMBINER" or "AGGREGATE" in self.methods)

    @property
    def transforms_output(self) -> bool:
        return not self.builtin and (self.type == "OUTPUT_TRANSFORMER" or "TRANSFORM_OUTPUT" in self.methods)

    @property
    def takes_feedback(self) -> bool:
        return not self.builtin and (self.type in ("MODEL", "ROUTER") or "SEND_FEEDBACK" in self.methods)

    @property
    def has_server(self) -> bool:
        return self.transforms_input or self.routes or self.aggregates or self.transforms_output or self.takes_feedback

    def walk(self) -> Iterator[Unit]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class Predictor:
    name: str
    graph: Unit
    annotations: dict[str, str] = field(default_factory=dict)
    deployment: str = "NOT_IMPLEMENTED"
    namespace: str = "default"
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> container spec

    def units(self) -> list[Unit]:
        return list(self.graph.walk())


def _unit(raw: Any, where: str, ports: dict[str, tuple[int, int]], transport: str) -> Unit:
    if not isinstance(raw, dict):
        raise GraphError(f"{where}: expected a mapping (a PredictiveUnit)")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise GraphError(f"{where}.name: required, a non-empty string")
    methods = raw.get("methods") or []
    if not isinstance(methods, list) or any(m not in METHODS for m in methods):
        raise GraphError(f"{where}.methods: each must be one of {', '.join(METHODS)}, got {methods!r}")
    implementation = raw.get("implementation") or "UNKNOWN_IMPLEMENTATION"
    node_type = raw.get("type")
    if node_type is None:
        # Defaulting as the operator does: a bare node, or a prepackaged server, is a MODEL.
        if implementation not in BUILTIN_IMPLEMENTATIONS or (
            not methods and implementation == "UNKNOWN_IMPLEMENTATION"
        ):
            node_type = "MODEL"
        else:
            node_type = "UNKNOWN_TYPE"
    if node_type not in NODE_TYPES:
        raise GraphError(f"{where}.type: {node_type!r} is not one of {', '.join(NODE_TYPES)}")
    if node_type == "UNKNOWN_TYPE" and not methods and implementation == "UNKNOWN_IMPLEMENTATION":
        raise GraphError(f"{where}: type UNKNOWN_TYPE needs a non-empty methods list")
    raw_endpoint = raw.get("endpoint") or {}
    if not isinstance(raw_endpoint, dict):
        raise GraphError(f"{where}.endpoint: expected a mapping")
    default_http, default_grpc = ports.setdefault(name, (9000 + len(ports), 9500 + len(ports)))
    endpoint_type = str(raw_endpoint.get("type") or transport).upper()
    if endpoint_type not in ("REST", "GRPC"):
        raise GraphError(f"{where}.endpoint.type: {endpoint_type!r} is not REST or GRPC")
    try:
        http_port = int(
            raw_endpoint.get("httpPort")
            or (raw_endpoint.get("service_port") if endpoint_type == "REST" else 0)
            or default_http
        )
        grpc_port = int(
            raw_endpoint.get("grpcPort")
            or (raw_endpoint.get("service_port") if endpoint_type == "GRPC" else 0)
            or default_grpc
        )
    except (TypeError, ValueError):
        raise GraphError(f"{where}.endpoint: ports must be integers, got {raw_endpoint!r}") from None
    endpoint = Endpoint(str(raw_endpoint.get("service_host") or "localhost"), http_port, grpc_port, endpoint_type)
    logger = None
    if raw.get("logger") is not None:
        raw_logger = raw["logger"]
        if not isinstance(raw_logger, dict) or raw_logger.get("mode") not in LOGGER_MODES:
            raise GraphError(f"{where}.logger.mode: required, one of {', '.join(LOGGER_MODES)}")
        logger = Logger(raw_logger.get("url"), raw_logger["mode"])
    children = raw.get("children") or []
    if not isinstance(children, list):
        raise GraphError(f"{where}.children: expected a list")
    parsed_children = tuple(_unit(c, f"{where}.children[{i}]", ports, transport) for i, c in enumerate(children))
    model_uri = raw.get("modelUri")
    if model_uri is not None and not isinstance(model_uri, str):
        raise GraphError(f"{where}.modelUri: expected a string, got {model_uri!r}")
    return Unit(
        name,
        node_type,
        implementation,
        tuple(methods),
        endpoint,
        tuple(raw.get("parameters") or ()),
        parsed_children,
        logger,
        where,
        model_uri or None,
    )


def parse_predictor(
    raw: Any,
    *,
    transport: str = "REST",
    deployment: str = "NOT_IMPLEMENTED",
    namespace: str = "default",
    where: str = "predictor",
) -> Predictor:
    """A ``PredictorSpec`` mapping -> Predictor, with nodes typed and ports defaulted."""
    if not isinstance(raw, dict):
        raise GraphError(f"{where}: expected a mapping (a PredictorSpec)")
    if "graph" not in raw:
        raise GraphError(f"{where}.graph: required")
    containers: dict[str, dict[str, Any]] = {}
    for spec in raw.get("componentSpecs") or []:
        for container in ((spec or {}).get("spec") or {}).get("containers") or []:
            if isinstance(container, dict) and container.get("name"):
                containers[container["name"]] = container
    graph = _unit(raw["graph"], f"{where}.graph", {}, transport)
    names = [u.name for u in graph.walk()]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise GraphError(f"{where}.graph: node names must be unique, repeated: {', '.join(duplicates)}")
    return Predictor(
        str(raw.get("name") or "default"), graph, dict(raw.get("annotations") or {}), deployment, namespace, containers
    )


def from_engine_env(value: str) -> Predictor:
    """``ENGINE_PREDICTOR``: base64 of the JSON PredictorSpec, as the operator sets it."""
    try:
        raw = json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise GraphError(f"ENGINE_PREDICTOR: not base64-encoded JSON ({exc})") from None
    return parse_predictor(raw, where="ENGINE_PREDICTOR")


def load_predictor(file: str | None, predictor: str | None, environ: Mapping[str, str]) -> Predictor:
    """The graph an orchestrator process serves: one predictor of ``file``, else ``ENGINE_PREDICTOR``."""
    if file:
        return from_file(file, predictor)
    if environ.get("ENGINE_PREDICTOR"):
        return from_engine_env(environ["ENGINE_PREDICTOR"])
    raise GraphError("no graph: give --file or set ENGINE_PREDICTOR")


PROTOCOLS = ("seldon", "tensorflow", "v2", "kfserving")


def file_protocol(path: str | Path | None) -> str:
    """``spec.protocol`` of the SeldonDeployment in ``path``, else ``seldon`` (also for a bare PredictorSpec)."""
    if not path:
        return "seldon"
    try:
        docs = list(yaml.safe_load_all(Path(path).read_text()))
    except (OSError, yaml.YAMLError):
        return "seldon"  # from_file names the problem with the file
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "SeldonDeployment":
            protocol = (doc.get("spec") or {}).get("protocol") or "seldon"
            if protocol not in PROTOCOLS:
                raise GraphError(f"{path}: spec.protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
            return protocol
    return "seldon"


def from_file(path: str | Path, predictor: str | None = None) -> Predictor:
    """A SeldonDeployment YAML/JSON file (or a bare PredictorSpec); one predictor of it."""
    path = Path(path)
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise GraphError(f"{path}: {exc}") from None
    for doc in docs:
        if doc.get("kind") == "SeldonDeployment":
            doc = kube.without_nulls(doc)
            # the same check, and message, as `wharf render` and the operator's status give (the
            # webhook's rules are left out: here a node may run from a local folder, with no container)
            bad = structural_problems(doc)
            if bad:
                raise GraphError("\n".join(problem_lines(str(path), doc, bad)))
            spec = doc.get("spec") or {}
            predictors = spec.get("predictors") or []
            if not predictors:
                raise GraphError(f"{path}: spec.predictors is empty")
            index = 0
            if predictor is not None:
                names = [p.get("name") for p in predictors]
                if predictor not in names:
                    raise GraphError(f"{path}: no predictor {predictor!r} (have: {', '.join(map(str, names))})")
                index = names.index(predictor)
            meta = doc.get("metadata") or {}
            annotations = {**(spec.get("annotations") or {}), **(meta.get("annotations") or {})}
            result = parse_predictor(
                predictors[index],
                transport=str(spec.get("transport") or "rest").upper(),
                deployment=meta.get("name", "NOT_IMPLEMENTED"),
                namespace=meta.get("namespace", "default"),
                where=f"{path}: spec.predictors[{index}]",
            )
            return Predictor(
                result.name,
                result.graph,
                {**annotations, **result.annotations},
                result.deployment,
                result.namespace,
                result.containers,
            )
        if "graph" in doc:
            return parse_predictor(doc, where=str(path))
    raise GraphError(f"{path}: no SeldonDeployment or PredictorSpec found")
