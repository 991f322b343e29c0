"""The SeldonDeployment as one typed model: frozen dataclasses, parsed once, each object knowing its path.

``parse(raw)`` reads a SeldonDeployment mapping (from a file, the cluster or ``apply_defaults``) into
:class:`SeldonDeployment` -> ``spec.predictors[]`` -> :class:`Predictor` -> ``graph`` (:class:`Node`,
children nested to any depth), ``componentSpecs[]``, ``svcOrchSpec``, ``explainer``. Every parsed
object keeps its field path (``spec.predictors[0].graph.children[1]``), so a rule checked on it
later names the field, and every problem parse finds is raised at once in one :class:`ModelError`.

Parse checks what the CRD's structural schema says about the fields it reads: types, enums,
bounds, required fields. The webhook's rules over several fields (unique names, traffic sums,
containers for nodes) are ``validate``'s. What the model does not interpret -- pod specs,
HPA/KEDA/PDB specs, resources, env entries: Kubernetes' own types -- stays a mapping inside it
(``kube`` checks those against Kubernetes' schemas), and every object keeps its ``raw`` mapping for
what ``render`` passes through unchanged. ``null`` is "not set", as the API server prunes it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from wharf.deployment.schema import (
    BUILTIN_IMPLEMENTATIONS,
    ENDPOINT_TYPES,
    EXPLAINER_TYPES,
    LOGGER_MODES,
    METHODS,
    NODE_TYPES,
    PARAMETER_TYPES,
    PROTOCOLS,
    SERVER_TYPES,
    TRANSPORTS,
)

SEPARATE_ENGINE = "seldon.io/engine-separate-pod"
NO_ENGINE = "seldon.io/no-engine"
UNKNOWN_IMPLEMENTATION = "UNKNOWN_IMPLEMENTATION"

Raw = Mapping[str, Any]
_EMPTY: Raw = {}
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", dict: "a mapping", list: "a list"}


_SHOWN_CHARS = 200


def _shown(value: Any) -> str:
    """A wrong value as an error shows it: its repr, cut short (a field may hold megabytes)."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]}... ({len(text)} characters)"


class ModelError(ValueError):
    """A SeldonDeployment that does not parse; ``problems`` each start with the field's path."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class _Reader:
    """One mapping at one field path: typed reads of its keys, each wrong one noted in ``problems``."""

    def __init__(self, raw: Any, path: str, problems: list[str], index: int = 0):
        self.path, self.problems, self.index = path, problems, index  # index: its place in a list
        self.raw: Raw = raw if isinstance(raw, Mapping) else _EMPTY

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.at(key)}: {message}")

    def _typed(self, key: str, kind: type) -> Any:
        value = self.raw.get(key)
        if value is None:
            return None
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)  # what JSON Schema counts as an integer
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problem(key, f"expected {_TYPE_NAMES[kind]}, got {_shown(value)}")
            return None
        return value

    def text(self, key: str, enum: tuple[str, ...] = ()) -> str | None:
        value: str | None = self._typed(key, str)
        if value is not None and enum and value not in enum:
            self.problem(key, f"{_shown(value)} is not one of {', '.join(enum)}")
            return None
        return value

    def integer(self, key: str, minimum: int | None = None, maximum: int | None = None) -> int | None:
        value: int | None = self._typed(key, int)
        if value is not None and minimum is not None and value < minimum:
            self.problem(key, f"{value} is less than the minimum of {minimum}")
        elif value is not None and maximum is not None and value > maximum:
            self.problem(key, f"{value} is greater than the maximum of {maximum}")
        return value

    def flag(self, key: str) -> bool:
        return bool(self._typed(key, bool))

    def mapping(self, key: str) -> Raw | None:
        value: Raw | None = self._typed(key, dict)
        return value

    def child(self, key: str) -> _Reader | None:
        """The mapping under ``key`` as a reader, None when absent (or not a mapping: noted)."""
        value = self.mapping(key)
        return None if value is None else _Reader(value, self.at(key), self.problems)

    def array(self, key: str) -> list[Any]:
        value: list[Any] | None = self._typed(key, list)
        return value or []

    def items(self, key: str) -> Iterator[_Reader]:
        """A reader for each mapping of the list under ``key``; an item that is no mapping is noted."""
        for i, item in enumerate(self.array(key)):
            path = f"{self.at(key)}[{i}]"
            if isinstance(item, Mapping):
                yield _Reader(item, path, self.problems, i)
            else:
                self.problems.append(f"{path}: expected a mapping, got {_shown(item)}")

    def str_map(self, key: str) -> Mapping[str, str]:
        value = self.mapping(key) or _EMPTY
        for name, item in value.items():
            if not isinstance(item, str):
                self.problems.append(f"{self.at(key)}.{name}: expected a string, got {_shown(item)}")
        return {name: item for name, item in value.items() if isinstance(item, str)}

    def strings(self, key: str, enum: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for i, item in enumerate(self.array(key)):
            where = f"{self.at(key)}[{i}]"
            if not isinstance(item, str):
                self.problems.append(f"{where}: expected a string, got {_shown(item)}")
            elif item not in enum:
                self.problems.append(f"{where}: {_shown(item)} is not one of {', '.join(enum)}")
            else:
                out.append(item)
        return tuple(out)


# --- the graph -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A node's ``endpoint``: where the orchestrator reaches its server (set by ``apply_defaults``)."""

    path: str
    type: str | None = None  # REST | GRPC
    service_host: str | None = None
    service_port: int | None = None
    http_port: int | None = None
    grpc_port: int | None = None


@dataclass(frozen=True)
class Logger:
    path: str
    mode: str
    url: str | None = None


@dataclass(frozen=True)
class Parameter:
    path: str
    name: str
    value: str
    type: str
    raw: Raw  # as written (its keys in the user's order), what ENGINE_PREDICTOR and the env pass on


@dataclass(frozen=True)
class Node:
    """A PredictiveUnit (``graph`` and its ``children``)."""

    path: str
    name: str
    type: str | None
    implementation: str | None
    methods: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    children: tuple[Node, ...]
    endpoint: Endpoint | None
    logger: Logger | None
    model_uri: str | None
    service_account_name: str | None
    env_secret_ref_name: str | None
    storage_initializer_image: str | None
    raw: Raw

    @property
    def implementation_or_default(self) -> str:
        return self.implementation or UNKNOWN_IMPLEMENTATION

    @property
    def prepackaged(self) -> bool:
        """A prepackaged server (SKLEARN_SERVER, a cluster's own key...), not a built-in nor the user's image."""
        return bool(self.implementation) and self.implementation not in BUILTIN_IMPLEMENTATIONS

    @property
    def own_image(self) -> bool:
        """Served by the container of the node's name (no implementation)."""
        return self.implementation_or_default == UNKNOWN_IMPLEMENTATION

    @property
    def ports(self) -> tuple[int, int] | None:
        """(httpPort, grpcPort) of its endpoint, as ``apply_defaults`` sets them for a node that runs in
        a container; None for one that runs in none."""
        endpoint = self.endpoint
        if endpoint is None or endpoint.http_port is None or endpoint.grpc_port is None:
            return None
        return endpoint.http_port, endpoint.grpc_port

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, name: str) -> Node | None:
        return next((n for n in self.walk() if n.name == name), None)


def _endpoint(r: _Reader) -> Endpoint:
    return Endpoint(
        r.path,
        r.text("type", ENDPOINT_TYPES),
        r.text("service_host"),
        r.integer("service_port"),
        r.integer("httpPort"),
        r.integer("grpcPort"),
    )


def _logger(r: _Reader) -> Logger | None:
    mode = r.raw.get("mode")
    if mode not in LOGGER_MODES:
        r.problem("mode", f"required when logger is set, one of {', '.join(LOGGER_MODES)}")
        return None
    return Logger(r.path, str(mode), r.text("url"))


def _parameter(r: _Reader) -> Parameter | None:
    name, value, kind = r.text("name"), r.text("value"), r.text("type", PARAMETER_TYPES)
    for key in ("name", "value", "type"):
        if key not in r.raw:
            r.problems.append(f"{r.path}: required field '{key}' is missing")
    return None if name is None or value is None or kind is None else Parameter(r.path, name, value, kind, r.raw)


def _node(r: _Reader) -> Node:
    name = r.raw.get("name")
    if not isinstance(name, str) or not name:
        r.problem("name", "required, a non-empty string")
        name = ""
    endpoint, logger = r.child("endpoint"), r.child("logger")
    return Node(
        path=r.path,
        name=name,
        type=r.text("type", NODE_TYPES),
        implementation=r.text("implementation"),
        methods=r.strings("methods", METHODS),
        parameters=tuple(p for p in map(_parameter, r.items("parameters")) if p is not None),
        children=tuple(_node(c) for c in r.items("children")),
        endpoint=None if endpoint is None else _endpoint(endpoint),
        logger=None if logger is None else _logger(logger),
        model_uri=r.text("modelUri"),
        service_account_name=r.text("serviceAccountName"),
        env_secret_ref_name=r.text("envSecretRefName"),
        storage_initializer_image=r.text("storageInitializerImage"),
        raw=r.raw,
    )


# --- componentSpecs, the orchestrator, the explainer -----------------------------------------------


@dataclass(frozen=True)
class Container:
    """A container of a componentSpec's pod: the name and image the model reads; the rest in ``raw``."""

    path: str
    name: str
    image: str | None
    raw: Raw


@dataclass(frozen=True)
class ComponentSpec:
    """One ``componentSpecs[]`` entry: a Deployment's pod and how it scales (Kubernetes' own types, raw)."""

    path: str
    index: int
    name: str  # metadata.name, "" when not set
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    containers: tuple[Container, ...]
    replicas: int | None
    hpa_spec: Raw | None
    keda_spec: Raw | None
    pdb_spec: Raw | None
    raw: Raw

    @property
    def pod(self) -> Raw:
        """The pod spec as written (``spec``), or empty."""
        spec = self.raw.get("spec")
        return spec if isinstance(spec, Mapping) else _EMPTY


def _container(r: _Reader) -> Container:
    name = r.text("name")
    if name is None and "name" not in r.raw:
        r.problems.append(f"{r.path}: required field 'name' is missing")
    return Container(r.path, name or "", r.text("image"), r.raw)


def _component(r: _Reader) -> ComponentSpec:
    meta = r.child("metadata") or _Reader(None, r.at("metadata"), r.problems)
    pod = r.child("spec") or _Reader(None, r.at("spec"), r.problems)
    return ComponentSpec(
        path=r.path,
        index=r.index,
        name=meta.text("name") or "",
        labels=meta.str_map("labels"),
        annotations=meta.str_map("annotations"),
        containers=tuple(_container(c) for c in pod.items("containers")),
        replicas=r.integer("replicas", minimum=0),
        hpa_spec=r.mapping("hpaSpec"),
        keda_spec=r.mapping("kedaSpec"),
        pdb_spec=r.mapping("pdbSpec"),
        raw=r.raw,
    )


@dataclass(frozen=True)
class SvcOrchSpec:
    """``svcOrchSpec``: the orchestrator's env, resources and replicas (env entries and resources raw)."""

    path: str
    env: tuple[Raw, ...] = ()
    resources: Raw | None = None
    replicas: int | None = None

    def env_names(self) -> set[str]:
        return {str(e.get("name")) for e in self.env}


def _svc_orch(r: _Reader | None, path: str) -> SvcOrchSpec:
    if r is None:
        return SvcOrchSpec(path)
    return SvcOrchSpec(r.path, tuple(e.raw for e in r.items("env")), r.mapping("resources"), r.integer("replicas", 0))


@dataclass(frozen=True)
class Explainer:
    path: str
    type: str | None
    model_uri: str | None
    service_account_name: str | None
    container_spec: Raw | None
    config: Mapping[str, str]
    endpoint: Endpoint | None
    env_secret_ref_name: str | None
    storage_initializer_image: str | None
    replicas: int | None
    init_parameters: str | None
    raw: Raw


def _explainer(r: _Reader) -> Explainer:
    endpoint = r.child("endpoint")
    return Explainer(
        path=r.path,
        type=r.text("type", EXPLAINER_TYPES),
        model_uri=r.text("modelUri"),
        service_account_name=r.text("serviceAccountName"),
        container_spec=r.mapping("containerSpec"),
        config=r.str_map("config"),
        endpoint=None if endpoint is None else _endpoint(endpoint),
        env_secret_ref_name=r.text("envSecretRefName"),
        storage_initializer_image=r.text("storageInitializerImage"),
        replicas=r.integer("replicas", minimum=0),
        init_parameters=r.text("initParameters"),
        raw=r.raw,
    )


# --- predictors and the resource -------------------------------------------------------------------


@dataclass(frozen=True)
class Predictor:
    """One ``spec.predictors[]`` entry (or a bare PredictorSpec, as ENGINE_PREDICTOR carries it).

    ``has_graph`` is False only in :func:`read`'s partial model of a predictor with no graph mapping
    (``graph`` is then an empty node); :func:`parse` refuses such a predictor.
    """

    path: str
    index: int
    name: str  # "" when not set
    graph: Node
    has_graph: bool
    component_specs: tuple[ComponentSpec, ...]
    replicas: int | None
    annotations: Mapping[str, str]
    labels: Mapping[str, str]
    traffic: int | None
    shadow: bool
    svc_orch_spec: SvcOrchSpec
    engine_resources: Raw | None
    explainer: Explainer | None
    ssl_cert_secret_name: str | None
    progress_deadline_seconds: int | None
    raw: Raw

    @property
    def no_engine(self) -> bool:
        """``seldon.io/no-engine: "true"``: no orchestrator; the predictor's Service reaches the node."""
        return self.annotations.get(NO_ENGINE, "").lower() == "true"

    def nodes(self) -> Iterator[Node]:
        return self.graph.walk() if self.has_graph else iter(())

    def containers(self) -> Iterator[tuple[ComponentSpec, Container]]:
        """(componentSpec, container) for every container of every componentSpec, in order."""
        for component in self.component_specs:
            for container in component.containers:
                yield component, container

    def container_names(self) -> set[str]:
        return {c.name for _, c in self.containers()}


def _graph(r: _Reader) -> tuple[Node, bool]:
    graph = r.raw.get("graph")
    if not isinstance(graph, Mapping):
        r.problem("graph", "required, a mapping")
        return _node(_Reader({"name": "-"}, r.at("graph"), [])), False
    return _node(_Reader(graph, r.at("graph"), r.problems)), True


def _predictor(r: _Reader, name_required: bool = True) -> Predictor:
    name = r.text("name")
    if name_required and r.raw.get("name") in (None, ""):
        r.problem("name", "required")
    graph, has_graph = _graph(r)
    ssl, explainer = r.child("ssl"), r.child("explainer")
    return Predictor(
        path=r.path,
        index=r.index,
        name=name or "",
        graph=graph,
        has_graph=has_graph,
        component_specs=tuple(_component(c) for c in r.items("componentSpecs")),
        replicas=r.integer("replicas", minimum=0),
        annotations=r.str_map("annotations"),
        labels=r.str_map("labels"),
        traffic=r.integer("traffic", minimum=0, maximum=100),
        shadow=r.flag("shadow"),
        svc_orch_spec=_svc_orch(r.child("svcOrchSpec"), r.at("svcOrchSpec")),
        engine_resources=r.mapping("engineResources"),
        explainer=None if explainer is None else _explainer(explainer),
        ssl_cert_secret_name=None if ssl is None else ssl.text("certSecretName"),
        progress_deadline_seconds=r.integer("progressDeadlineSeconds", minimum=1),
        raw=r.raw,
    )


@dataclass(frozen=True)
class SeldonDeployment:
    """The resource: ``metadata`` (name, namespace, uid, annotations) and ``spec``."""

    name: str  # "" when not set
    namespace: str | None
    uid: str | None
    api_version: str | None
    annotations: Mapping[str, str]  # metadata.annotations
    spec_annotations: Mapping[str, str]  # spec.annotations
    protocol: str  # spec.protocol, defaulted to seldon
    transport: str  # spec.transport, defaulted to rest
    server_type: str  # spec.serverType, defaulted to rpc
    replicas: int | None
    predictors: tuple[Predictor, ...]
    raw: Raw

    def annotation(self, key: str, default: str = "") -> str:
        """A SeldonDeployment-wide setting: ``spec.annotations`` first, then ``metadata.annotations``."""
        return self.spec_annotations.get(key, self.annotations.get(key, default))

    @property
    def engine_separate(self) -> bool:
        """``seldon.io/engine-separate-pod: "true"`` in spec.annotations: the orchestrator in its own pod."""
        return self.spec_annotations.get(SEPARATE_ENGINE, "").lower() == "true"

    def predictor(self, name: str) -> Predictor | None:
        return next((p for p in self.predictors if p.name == name), None)


def writable(raw: Raw) -> dict[str, Any]:
    """The dict behind a parsed object's ``raw``, for a caller that parsed its own copy to complete
    it (``apply_defaults``, ``wharf run``'s local spec): the model reads, the copy is written."""
    assert isinstance(raw, dict), "parse a dict to write through its model"
    return raw


def read(raw: Any) -> tuple[SeldonDeployment | None, list[str]]:
    """The model of ``raw`` as far as it reads, and every problem found on the way (each naming its
    field). For ``validate``, which adds the webhook's rules; everything else calls :func:`parse`."""
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        return None, ["expected a SeldonDeployment mapping"]
    root = _Reader(raw, "", problems)
    meta = root.child("metadata") or _Reader(None, "metadata", problems)
    spec = root.child("spec")
    if spec is None:
        if "spec" not in raw or raw["spec"] is None:
            problems.append("spec: required, a mapping")
        spec = _Reader(None, "spec", problems)
    predictors = tuple(_predictor(p) for p in spec.items("predictors"))
    if not spec.raw.get("predictors") and "spec: required, a mapping" not in problems:
        problems.append("spec.predictors: at least one predictor is required")
    model = SeldonDeployment(
        name=meta.text("name") or "",
        namespace=meta.text("namespace"),
        uid=meta.text("uid"),
        api_version=root.text("apiVersion"),
        annotations=meta.str_map("annotations"),
        spec_annotations=spec.str_map("annotations"),
        protocol=spec.text("protocol", PROTOCOLS) or "seldon",
        transport=spec.text("transport", TRANSPORTS) or "rest",
        server_type=spec.text("serverType", SERVER_TYPES) or "rpc",
        replicas=spec.integer("replicas", minimum=0),
        predictors=predictors,
        raw=raw,
    )
    return model, list(dict.fromkeys(problems))


def parse(raw: Any) -> SeldonDeployment:
    """``raw`` (a SeldonDeployment mapping) as the typed model; raises ModelError naming every field at fault."""
    model, problems = read(raw)
    if problems or model is None:
        raise ModelError(problems)
    return model


def parse_predictor(raw: Any, path: str = "predictor") -> Predictor:
    """A bare PredictorSpec (``ENGINE_PREDICTOR``, a file holding only a predictor); its name may be unset."""
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise ModelError([f"{path}: expected a mapping (a PredictorSpec)"])
    predictor = _predictor(_Reader(raw, path, problems), name_required=False)
    if problems:
        raise ModelError(list(dict.fromkeys(problems)))
    return predictor
