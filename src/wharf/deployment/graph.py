"""The inference graph of one predictor (``spec.predictors[].graph``), typed and defaulted.

Read by the orchestrator (which node to call, how) and the local runtime (which servers to start).
Built from the typed SeldonDeployment (:mod:`wharf.deployment.model`), which is parsed once; errors
name the path of the offending field, e.g. ``spec.predictors[0].graph.children[1].type``.
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

from wharf.deployment import kube, model
from wharf.deployment.validate import problem_lines, structural_problems

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
    containers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name -> container spec
    protocol: str = "seldon"  # spec.protocol of the SeldonDeployment it came from
    source: model.Predictor | None = None  # the typed predictor it was built from
    resource: model.SeldonDeployment | None = None  # the typed SeldonDeployment, when it came from one

    def units(self) -> list[Unit]:
        return list(self.graph.walk())


def _default_type(node: model.Node) -> str:
    """Defaulting as the operator does: a bare node, or a prepackaged server, is a MODEL."""
    if node.type is not None:
        return node.type
    return "MODEL" if node.prepackaged or (node.own_image and not node.methods) else "UNKNOWN_TYPE"


def _endpoint(node: model.Node, ports: dict[str, tuple[int, int]], transport: str) -> Endpoint:
    """Where the node's server is: its ``endpoint`` as the operator defaulted it, else the
    operator's numbering (9000 + n, 9500 + n in graph order) on localhost."""
    given = node.endpoint or model.Endpoint(f"{node.path}.endpoint")
    default_http, default_grpc = ports.setdefault(node.name, (9000 + len(ports), 9500 + len(ports)))
    kind = (given.type or transport).upper()
    http = given.http_port or (given.service_port if kind == "REST" else 0) or default_http
    grpc = given.grpc_port or (given.service_port if kind == "GRPC" else 0) or default_grpc
    return Endpoint(given.service_host or "localhost", http, grpc, kind)


def _unit(node: model.Node, ports: dict[str, tuple[int, int]], transport: str, prefix: str) -> Unit:
    node_type = _default_type(node)
    if node_type == "UNKNOWN_TYPE" and not node.methods and node.own_image:
        raise GraphError(f"{prefix}{node.path}: type UNKNOWN_TYPE needs a non-empty methods list")
    endpoint = _endpoint(node, ports, transport)
    return Unit(
        node.name,
        node_type,
        node.implementation_or_default,
        node.methods,
        endpoint,
        tuple(dict(p.raw) for p in node.parameters),
        tuple(_unit(child, ports, transport, prefix) for child in node.children),
        None if node.logger is None else Logger(node.logger.url, node.logger.mode),
        f"{prefix}{node.path}",
        node.model_uri or None,
    )


def _predictor(
    parsed: model.Predictor,
    *,
    transport: str = "REST",
    deployment: str = "NOT_IMPLEMENTED",
    namespace: str = "default",
    prefix: str = "",
    resource: model.SeldonDeployment | None = None,
) -> Predictor:
    """The orchestrator's view of a parsed predictor: nodes typed, ports defaulted."""
    graph = _unit(parsed.graph, {}, transport, prefix)
    names = [u.name for u in graph.walk()]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise GraphError(f"{prefix}{parsed.path}.graph: node names must be unique, repeated: {', '.join(duplicates)}")
    annotations = {**resource.spec_annotations, **resource.annotations} if resource else {}
    return Predictor(
        parsed.name or "default",
        graph,
        {**annotations, **parsed.annotations},
        deployment,
        namespace,
        {c.name: c.raw for _, c in parsed.containers() if c.name},
        resource.protocol if resource else "seldon",
        parsed,
        resource,
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
    try:
        parsed = model.parse_predictor(raw, where)
    except model.ModelError as exc:
        raise GraphError(str(exc)) from None
    return _predictor(parsed, transport=transport, deployment=deployment, namespace=namespace)


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


PROTOCOLS = ("seldon", "tensorflow", "v2", "kfserving")  # the orchestrator's --protocol choices


def from_file(path: str | Path, predictor: str | None = None) -> Predictor:
    """A SeldonDeployment YAML/JSON file (or a bare PredictorSpec); one predictor of it."""
    path = Path(path)
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise GraphError(f"{path}: {exc}") from None
    for doc in docs:
        if doc.get("kind") == "SeldonDeployment":
            return _from_sdep(path, kube.without_nulls(doc), predictor)
        if "graph" in doc:
            return parse_predictor(doc, where=str(path))
    raise GraphError(f"{path}: no SeldonDeployment or PredictorSpec found")


def _from_sdep(path: Path, doc: dict[str, Any], name: str | None) -> Predictor:
    # the same check, and message, as `wharf render` and the operator's status give (the webhook's
    # rules are left out: here a node may run from a local folder, with no container)
    bad = structural_problems(doc)
    try:
        sdep = model.parse(doc)
    except model.ModelError as exc:
        bad = list(dict.fromkeys(bad + exc.problems))
    if bad:
        raise GraphError("\n".join(problem_lines(str(path), doc, bad)))
    parsed = sdep.predictors[0]
    if name is not None:
        found = sdep.predictor(name)
        if found is None:
            have = ", ".join(p.name for p in sdep.predictors)
            raise GraphError(f"{path}: no predictor {name!r} (have: {have})")
        parsed = found
    return _predictor(
        parsed,
        transport=sdep.transport.upper(),
        deployment=sdep.name or "NOT_IMPLEMENTED",
        namespace=sdep.namespace or "default",
        prefix=f"{path}: ",
        resource=sdep,
    )
