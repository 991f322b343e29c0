"""The orchestrator's external API: REST (ASGI) and gRPC ``seldon.protos.Seldon``, plus metrics.

REST: /api/v{1.0,0.1}/predictions and /feedback, /ready, /live, /api/v1.0/metadata(/<node>),
/api/v1.0/status(/<node>), and Prometheus text on ``prometheus_path``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

from wharf.deployment.graph import Predictor, Unit
from wharf.grpc_h2.server import GrpcError, Metadata
from wharf.http_server.error_log import ErrorLog
from wharf.orchestrator.asgi_io import read_body, send_answer
from wharf.orchestrator.dialects import HEALTH_PATHS, DialectGrpcTransport, DialectWalker, dialects, error_body
from wharf.orchestrator.payload_log import PayloadLogger
from wharf.orchestrator.transport import EXECUTOR_MAX_MESSAGE, GrpcTransport, RestTransport
from wharf.orchestrator.walker import CallTimer, GraphCallError, Walk, Walker, failure
from wharf.orchestrator.wires import JSON_WIRE, PROTO_WIRE, Refused
from wharf.protocol.errors import GRPC_CODES, grpc_code, upstream_text
from wharf.protocol.image_ref import split_image
from wharf.protocol.pb import prediction_pb2 as pb

log = logging.getLogger(__name__)
errors = ErrorLog(log)

_JSON = [(b"content-type", b"application/json")]


class Metrics:
    """Executor-compatible request histograms in a registry of its own."""

    def __init__(self, predictor: Predictor) -> None:
        self.registry = CollectorRegistry()
        self._base = {
            "deployment_name": predictor.deployment,
            "predictor_name": predictor.name,
            "predictor_version": predictor.annotations.get("version", predictor.name),
        }
        self.server = Histogram(
            "seldon_api_executor_server_requests_seconds",
            "External requests",
            [*self._base, "service", "method", "code"],
            registry=self.registry,
        )
        self.client = Histogram(
            "seldon_api_executor_client_requests_seconds",
            "Calls to graph nodes",
            [*self._base, "service", "method", "code", "model_name", "model_image", "model_version"],
            registry=self.registry,
        )
        self._images = {name: split_image(c.get("image", "")) for name, c in predictor.containers.items()}

    def observe_server(self, service: str, method: str, code: int, seconds: float) -> None:
        self.server.labels(**self._base, service=service, method=method, code=str(code)).observe(seconds)

    def observe_client(self, unit: Unit, path: str, code: int, seconds: float) -> None:
        image, version = self._images.get(unit.name, ("", ""))
        self.client.labels(
            **self._base,
            service=path.strip("/"),
            method="POST",
            code=str(code),
            model_name=unit.name,
            model_image=image,
            model_version=version,
        ).observe(seconds)


def calls_nodes_over_grpc(predictor: Predictor, transport: str | None = None) -> bool:
    """Nodes are called the way the graph's endpoints say (spec: they must all agree), unless overridden."""
    return (transport or predictor.graph.endpoint.transport).lower() == "grpc"


class Orchestrator:
    """Everything one orchestrator process serves, transport-free where it can be."""

    def __init__(
        self,
        predictor: Predictor,
        timeout_s: float | None = None,
        retries: int = 0,
        prometheus_path: str = "/prometheus",
        transport: str | None = None,
        log_source: str = "http://localhost:8000/",
        trace: Callable[[str, dict[str, str]], Any] | None = None,
        max_message_bytes: int = EXECUTOR_MAX_MESSAGE,
        protocol: str = "seldon",
        full_health_checks: bool = False,
    ) -> None:
        self.predictor = predictor
        self.protocol = protocol
        self.full_health_checks = full_health_checks
        self.metrics = Metrics(predictor)
        self.grpc = calls_nodes_over_grpc(predictor, transport)
        self.payload_log = None
        if any(u.logger is not None for u in predictor.graph.walk()):
            self.payload_log = PayloadLogger(
                predictor,
                os.environ.get("REQUEST_LOGGER_DEFAULT_ENDPOINT", "http://default-broker"),
                log_source,
                content_type="application/protobuf" if self.grpc and protocol == "seldon" else "application/json",
                protocol=protocol,
            )
        timer = CallTimer(self.metrics.observe_client)
        if protocol == "seldon":
            self.transport = (
                GrpcTransport(timeout_s, retries, trace=trace, max_message_bytes=max_message_bytes)
                if self.grpc
                else RestTransport(timeout_s, retries, trace=trace)
            )
            self.wire = PROTO_WIRE if self.grpc else JSON_WIRE
            self.walker = Walker(predictor, self.transport, timer, self.wire, self.payload_log)
        else:
            # tensorflow, v2: REST requests walk over REST, gRPC ones over gRPC (dialects.py)
            self.rest_dialect, self.grpc_dialect = dialects(protocol)
            self.transport = RestTransport(
                timeout_s, retries, trace=trace, failure=lambda status, info: error_body(info)
            )
            self.grpc_transport = DialectGrpcTransport(timeout_s, max_message_bytes)
            self.wire = JSON_WIRE
            self.rest_walker = DialectWalker(predictor, self.transport, self.rest_dialect, timer, self.payload_log)
            self.grpc_walker = DialectWalker(predictor, self.grpc_transport, self.grpc_dialect, timer, self.payload_log)
            self.walker = self.rest_walker
        self.prometheus_path = prometheus_path
        self.units = {u.name: u for u in predictor.graph.walk()}

    def replace_transport(self, transport: Any) -> None:
        """Call nodes through ``transport`` from now on (``--kafka_full_graph``: their Kafka topics)."""
        self.transport = transport
        self.walker.transport = transport

    async def start(self) -> None:
        await self.transport.start()
        if self.protocol != "seldon":
            await self.grpc_transport.start()
        if self.payload_log is not None:
            await self.payload_log.start()

    async def close(self) -> None:
        if self.payload_log is not None:
            await self.payload_log.close()
        await self.transport.close()
        if self.protocol != "seldon":
            await self.grpc_transport.close()

    async def ready(self) -> tuple[bool, str]:
        """Every node with a server accepts TCP connections (the executor's default check), and
        none that serves ``/ready`` says it is not ready.

        A Wharf component answers ``/ready`` 503 once its model can no longer answer (repeated
        internal failures, MemoryError); asking it here takes the pod out of its Service, since
        the orchestrator's readiness probe is the one the pod is judged by. A node without such an
        endpoint (404 from upstream's wrapper or another server) is judged by TCP alone.

        With ``--full_health_checks``, as upstream: each node's protocol health path
        (``/api/v1.0/health/status``, or ``/v2/health/ready`` for v2) must answer 200 instead;
        protocol tensorflow keeps the TCP check.
        """
        health = HEALTH_PATHS.get(self.protocol) if self.full_health_checks else None

        async def problem(unit: Unit) -> str | None:
            port = unit.endpoint.grpc_port if self.grpc else unit.endpoint.http_port
            where = f"{unit.name} ({unit.endpoint.host}:{port})"
            if health is not None:
                try:
                    status, body = await asyncio.wait_for(self.transport.get(unit, health), 2)
                except TimeoutError:
                    return f"{where}: {health} did not answer within 2 s"
                if status != 200:  # upstream: "Bad status from <host>:<port>"
                    return f"Bad status from {unit.endpoint.host}:{unit.endpoint.http_port}: {health} answered {status}"
                return None
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(unit.endpoint.host, port), 2)
            except (TimeoutError, OSError) as exc:
                return f"{where}: {exc or 'timeout'}"
            writer.close()
            try:
                status, body = await asyncio.wait_for(self.transport.get(unit, "/ready"), 2)
            except TimeoutError:
                return f"{where}: /ready did not answer within 2 s"
            if status == 503:
                return f"{where}: {_info(body) or 'not ready'}"
            return None

        problems = [p for p in await asyncio.gather(*(problem(u) for u in self.units.values() if u.has_server)) if p]
        return (not problems), "; ".join(problems)

    async def graph_metadata(self) -> dict[str, Any]:
        """Every node's metadata; a node that fails fails the whole answer, as upstream's
        ModelMetadataMap does (the node's status, and Go's httpStatusError text)."""

        async def one(unit: Unit) -> tuple[str, Any]:
            status, body = await self.transport.get(unit, "/metadata")
            if status != 200:
                # executor/api/rest/errors.go: httpStatusError.Error()
                url = f"http://{unit.endpoint.host}:{unit.endpoint.http_port}/metadata"
                raise GraphCallError(
                    status,
                    failure(
                        500,
                        upstream_text(
                            f"Internal service call from executor failed calling {url} status code {status}",
                            f"node {unit.name!r}: {_info(body)}",
                        ),
                    ),
                    unit.name,
                )
            return unit.name, orjson.loads(body)

        models = dict(await asyncio.gather(*(one(u) for u in self.units.values() if u.has_server)))
        return {
            "name": self.predictor.name,
            "models": models,
            "graphinputs": _io(self.predictor.graph, models, "inputs"),
            "graphoutputs": _io(self.predictor.graph, models, "outputs"),
        }

    def find_unit(self, name: str) -> Unit:
        """The node named ``name``, or upstream's "Failed to find model" error (500)."""
        unit = self.units.get(name)
        if unit is None:
            # executor/predictor/predictor_process.go (Status, Metadata): fmt.Errorf("Failed to find model %s")
            raise GraphCallError(
                500,
                failure(
                    500,
                    upstream_text(
                        f"Failed to find model {name}",
                        f"no node {name!r} in predictor {self.predictor.name!r} (nodes: {', '.join(self.units)})",
                    ),
                ),
                name,
            )
        return unit

    def new_walk(self, puid: str | None, skip_logging: str | None = None) -> Walk:
        puid = puid or str(uuid.uuid4())
        skip = (skip_logging or "").strip().lower() in ("true", "on", "1")
        return Walk(puid=puid, headers={"Seldon-Puid": puid}, skip_logging=skip)


def _io(unit: Unit, models: dict[str, Any], key: str) -> Any:
    """The graph's inputs come from the first node that reads the request, outputs from the last."""
    if key == "inputs":
        if unit.transforms_input or not unit.children:
            return (models.get(unit.name) or {}).get("inputs", [])
        return _io(unit.children[0], models, key)
    if unit.transforms_output or unit.aggregates or not unit.children:
        return (models.get(unit.name) or {}).get("outputs", [])
    return _io(unit.children[0], models, key)


class RestApi:
    def __init__(self, orch: Orchestrator) -> None:
        self.orch = orch

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "OPTIONS":
            await send_answer(send, 200, b"", [])
            return
        unserved = _unserved(path, method, self.orch.prometheus_path)
        if unserved is not None:
            status, text = unserved
            await send_answer(send, status, text.encode(), [(b"content-type", b"text/plain; charset=utf-8")])
            return
        started = time.perf_counter()
        service = "other"
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        walk = self.orch.new_walk(headers.get("seldon-puid"), headers.get("seldon-skip-logging"))
        extra = [(b"seldon-puid", walk.puid.encode())]
        try:
            if path in ("/api/v1.0/predictions", "/api/v0.1/predictions") and method == "POST":
                service = "predictions"
                wire = self.orch.wire
                status, body = (
                    200,
                    wire.to_json(await self.orch.walker.predict(wire.from_json(await read_body(receive)), walk)),
                )
            elif path in ("/api/v1.0/feedback", "/api/v0.1/feedback") and method == "POST":
                service = "feedback"
                wire = self.orch.wire
                answer = await self.orch.walker.feedback(wire.feedback_from_json(await read_body(receive)), walk)
                status, body = 200, wire.to_json(answer)
            elif path == "/live":
                await send_answer(send, 200, b"alive", [(b"content-type", b"text/plain")])
                return
            elif path in ("/ready", "/api/v1.0/status", "/api/v1.0/health/status"):
                service = "status"
                ok, why = await self.orch.ready()
                status, body = (200, b"ready") if ok else (503, failure(503, f"not ready: {why}"))
            elif path == self.orch.prometheus_path:
                await send_answer(
                    send,
                    200,
                    generate_latest(self.orch.metrics.registry),
                    [(b"content-type", CONTENT_TYPE_LATEST.encode())],
                )
                return
            elif path == "/api/v1.0/metadata":
                service = "metadata"
                status, body = 200, orjson.dumps(await self.orch.graph_metadata())
            elif path.startswith(
                ("/api/v1.0/metadata/", "/api/v0.1/metadata/", "/api/v1.0/status/", "/api/v0.1/status/")
            ):
                service = "metadata" if "/metadata/" in path else "status"
                unit = self.orch.find_unit(path.rsplit("/", 1)[1])
                if unit.builtin:
                    status, body = 404, failure(404, _builtin_has_none(unit, service))
                else:
                    status, body = await self.orch.transport.get(
                        unit, "/metadata" if service == "metadata" else "/health/status"
                    )
            else:  # pragma: no cover - _unserved answered every other path
                raise AssertionError(path)
        except GraphCallError as exc:
            status, body = exc.status, exc.body
        except Refused as exc:  # refused as the component upstream would send it to refuses it
            status, body = exc.status, exc.body
        except ValueError as exc:  # a request the wire cannot carry (bad JSON, not a SeldonMessage)
            status, body = 400, failure(400, str(exc))
        except Exception as exc:  # noqa: BLE001 - the orchestrator answers, it does not crash
            errors.failed(f"request {path}", exc)
            status, body = 500, failure(500, str(exc))
        await send_answer(send, status, body, [*_JSON, *extra])
        self.orch.metrics.observe_server(service, method, status, time.perf_counter() - started)


def _builtin_has_none(unit: Unit, what: str) -> str:
    return (
        f"node {unit.name!r} is the built-in {unit.implementation}, answered inside the orchestrator: "
        f"it has no server, so no {what} of its own"
    )


# What upstream's executor serves (executor/api/rest/server.go, Initialise), and how gorilla/mux
# answers the rest: an unknown path with 404 "404 page not found", a known path with a method it
# does not take with 405 and no body. Wharf adds which path or method after upstream's text.
_POST_PATHS = frozenset(("/api/v1.0/predictions", "/api/v0.1/predictions", "/api/v1.0/feedback", "/api/v0.1/feedback"))
_GET_PATHS = frozenset(("/api/v1.0/metadata", "/api/v1.0/status", "/api/v1.0/health/status"))
_NODE_PREFIXES = ("/api/v1.0/metadata/", "/api/v0.1/metadata/", "/api/v1.0/status/", "/api/v0.1/status/")


def _unserved(path: str, method: str, prometheus_path: str) -> tuple[int, str] | None:
    """(status, text) for a path or method upstream's executor does not serve, else None."""
    if path in _POST_PATHS:
        allowed = "POST"
    elif path in _GET_PATHS or (path.startswith(_NODE_PREFIXES) and path.count("/") == 4):
        allowed = "GET"
    elif path in ("/ready", "/live", prometheus_path):
        return None
    else:
        return 404, f"404 page not found: no endpoint {method} {path}\n"
    if method != allowed:
        return 405, f"Method Not Allowed: {path} takes {allowed}, not {method}\n"
    return None


def _info(body: bytes) -> str:
    """A node's error ``info``, or its body as text."""
    try:
        info = (orjson.loads(body).get("status") or {}).get("info")
    except (orjson.JSONDecodeError, AttributeError):
        info = None
    return info or body.decode(errors="replace")


class GrpcApi:
    """``seldon.protos.Seldon`` on the orchestrator (served by :mod:`wharf.grpc_h2`): requests
    enter the walk in the nodes' encoding (passed through as is for gRPC nodes, converted once to
    JSON for REST nodes)."""

    SERVICE = "seldon.protos.Seldon"

    def __init__(self, orch: Orchestrator) -> None:
        self.orch = orch

    async def _run(self, metadata: Metadata, work: Callable[[Walk], Awaitable[bytes]]) -> bytes:
        walk = self.orch.new_walk(metadata.get("seldon-puid"), metadata.get("seldon-skip-logging"))
        try:
            answer = await work(walk)
        except GraphCallError as exc:
            info = exc.body.decode(errors="replace")
            try:
                status = orjson.loads(exc.body).get("status") or {}
                info = status.get("info") or info
            except (orjson.JSONDecodeError, AttributeError):
                pass
            raise GrpcError(grpc_code(exc.status), info) from None  # the node is named in info (walker)
        return self.orch.wire.to_proto(answer, pb.SeldonMessage()).SerializeToString()

    async def predict(self, data: bytes, metadata: Metadata) -> bytes:
        body = self.orch.wire.from_proto(_parse(pb.SeldonMessage, data))
        return await self._run(metadata, lambda w: self.orch.walker.predict(body, w))

    async def feedback(self, data: bytes, metadata: Metadata) -> bytes:
        body = self.orch.wire.from_proto(_parse(pb.Feedback, data))
        return await self._run(metadata, lambda w: self.orch.walker.feedback(body, w))

    async def graph_metadata(self, data: bytes, metadata: Metadata) -> bytes:
        try:
            meta = await self.orch.graph_metadata()
        except GraphCallError as exc:  # upstream returns the Go error: status UNKNOWN, its text
            raise GrpcError(GRPC_CODES["UNKNOWN"], _info(exc.body)) from None
        out = pb.SeldonGraphMetadata(name=meta["name"])
        for name, model in meta["models"].items():
            json_format.ParseDict(model, out.models[name], ignore_unknown_fields=True)
        for key, field in (("graphinputs", out.inputs), ("graphoutputs", out.outputs)):
            for item in meta[key]:
                json_format.ParseDict(item, field.add(), ignore_unknown_fields=True)
        return out.SerializeToString()

    async def model_metadata(self, data: bytes, metadata: Metadata) -> bytes:
        name = _parse(pb.SeldonModelMetadataRequest, data).name
        unit = self.orch.units.get(name)
        if unit is None:
            # Upstream's gRPC server returns the Go error as it is: status UNKNOWN, its text.
            raise GrpcError(GRPC_CODES["UNKNOWN"], upstream_text(f"Failed to find model {name}", f"no node {name!r}"))
        if unit.builtin:
            raise GrpcError(GRPC_CODES["NOT_FOUND"], _builtin_has_none(unit, "metadata"))
        status, body = await self.orch.transport.get(unit, "/metadata")
        if status != 200:
            raise GrpcError(GRPC_CODES["UNAVAILABLE"], body.decode(errors="replace"))
        return json_format.Parse(body, pb.SeldonModelMetadata(), ignore_unknown_fields=True).SerializeToString()

    def methods(self) -> dict[str, Callable[[bytes, Metadata], Awaitable[bytes]]]:
        return {
            f"/{self.SERVICE}/{name}": fn
            for name, fn in (
                ("Predict", self.predict),
                ("SendFeedback", self.feedback),
                ("ModelMetadata", self.model_metadata),
                ("GraphMetadata", self.graph_metadata),
            )
        }


def _parse(message_type: Any, data: bytes) -> Any:
    try:
        return message_type.FromString(data)
    except DecodeError as exc:
        raise GrpcError(
            GRPC_CODES["INVALID_ARGUMENT"], f"request is not a valid {message_type.DESCRIPTOR.full_name}: {exc}"
        ) from None
