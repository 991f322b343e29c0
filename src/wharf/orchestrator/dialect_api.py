"""The orchestrator's external API in protocols ``tensorflow`` and ``v2``/``kfserving``.

REST, as upstream's executor routes it (first matching route wins; a path it knows with another
method is 405, any other path 404):

- tensorflow: POST ``/v1/models/<m>:predict`` and ``/v1/models/<m>/:predict``, the non-standard
  ``/v1/models:predict`` and ``/v1/models/:predict``; GET ``/v1/models/<m>`` (the node's status) and
  ``/v1/models/<m>/metadata``; POST ``/api/v1.0/feedback`` (walked and logged, sent to no node).
- v2/kfserving: POST ``/v2/models/<m>/infer`` and the non-standard ``/v2/models/infer``; GET
  ``/v2/models/<m>/ready``, ``/v2/models/<m>`` (the node's metadata), ``/v2/health/ready``; Wharf
  adds ``/v2/health/live`` and ``/v2`` (server metadata), which upstream does not route.

gRPC: ``tensorflow.serving.PredictionService`` (Predict, GetModelMetadata) and ``ModelService``
(GetModelStatus); ``inference.GRPCInferenceService`` (ModelInfer, ModelReady, ModelMetadata, and
ServerLive, ServerReady, ServerMetadata, which upstream leaves unimplemented).

REST requests walk the graph over REST and gRPC requests over gRPC, whatever the graph's transport
(upstream's executor serves each API with the client of its own kind); payloads pass as bytes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wharf import __version__
from wharf.deployment.graph import Unit
from wharf.grpc_h2.frames import GrpcError
from wharf.grpc_h2.server import Metadata
from wharf.orchestrator.asgi_io import read_body, send_answer
from wharf.orchestrator.dialects import TENSORFLOW, error_body, model_spec_name
from wharf.orchestrator.walker import GraphCallError
from wharf.protocol.errors import GRPC_CODES, grpc_code, upstream_text
from wharf.protocol.pb import inference_pb2 as v2pb

_JSON = [(b"content-type", b"application/json")]

_M = r"(?P<m>[^/]+)"
# (pattern, method, handler name, metrics service), in upstream's registration order.
_ROUTES = {
    TENSORFLOW: (
        (rf"/v1/models/{_M}/:predict", "POST", "predict", "predictions"),
        (rf"/v1/models/{_M}:predict", "POST", "predict", "predictions"),
        (r"/v1/models/:predict", "POST", "predict", "predictions"),
        (r"/v1/models:predict", "POST", "predict", "predictions"),
        (rf"/v1/models/{_M}", "GET", "status", "status"),
        (rf"/v1/models/{_M}/metadata", "GET", "metadata", "metadata"),
        (r"/api/v1.0/feedback", "POST", "feedback", "feedback"),
    ),
    "v2": (
        (rf"/v2/models/{_M}/infer", "POST", "predict", "predictions"),
        (r"/v2/models/infer", "POST", "predict", "predictions"),
        (rf"/v2/models/{_M}/ready", "GET", "status", "status"),
        (rf"/v2/models/{_M}", "GET", "metadata", "metadata"),
        (r"/v2/health/ready", "GET", "ready", "status"),
        (r"/v2/health/live", "GET", "live", "status"),
        (r"/v2", "GET", "server_metadata", "metadata"),
    ),
}


def _compile(protocol: str) -> list[tuple[re.Pattern[str], str, str, str]]:
    routes = _ROUTES[TENSORFLOW if protocol == TENSORFLOW else "v2"]
    return [(re.compile(f"^{pattern}$"), method, handler, service) for pattern, method, handler, service in routes]


def server_metadata() -> dict[str, Any]:
    return {"name": "wharf-orchestrator", "version": __version__, "extensions": []}


class DialectRestApi:
    def __init__(self, orch: Any) -> None:
        self.orch = orch
        self.routes = _compile(orch.protocol)

    def _match(self, path: str, method: str) -> tuple[str, str, str] | tuple[int, str]:
        known = False
        for pattern, allowed, handler, service in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            if allowed == method:
                return handler, service, match.groupdict().get("m") or ""
            known = True
        if known:
            return 405, f"Method Not Allowed: {path} does not take {method}\n"
        return 404, f"404 page not found: no endpoint {method} {path}\n"

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        orch = self.orch
        if method == "OPTIONS":
            await send_answer(send, 200, b"", [])
            return
        if path == "/live":
            await send_answer(send, 200, b"alive", [(b"content-type", b"text/plain")])
            return
        if path == orch.prometheus_path:
            await send_answer(
                send, 200, generate_latest(orch.metrics.registry), [(b"content-type", CONTENT_TYPE_LATEST.encode())]
            )
            return
        if path == "/ready":
            ok, why = await orch.ready()
            await send_answer(send, 200 if ok else 503, b"ready" if ok else error_body(f"not ready: {why}"), _JSON)
            return
        found = self._match(path, method)
        if isinstance(found[0], int):
            await send_answer(send, found[0], str(found[1]).encode(), [(b"content-type", b"text/plain; charset=utf-8")])
            return
        handler, service, model = found  # type: ignore[misc]
        started = time.perf_counter()
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        walk = orch.new_walk(headers.get("seldon-puid"), headers.get("seldon-skip-logging"))
        try:
            if handler == "predict":
                if "inference-header-content-length" in headers:
                    raise GraphCallError(
                        400,
                        error_body(
                            "the binary tensor data extension (header Inference-Header-Content-Length) is not supported "
                            "through the orchestrator, as upstream's: send tensors as JSON data (tritonclient: "
                            "binary_data=False on inputs and outputs)"
                        ),
                        "",
                    )
                walk.model = model
                status, body = 200, await orch.rest_walker.predict(await read_body(receive), walk)
            elif handler == "feedback":
                status, body = 200, await orch.rest_walker.feedback(await read_body(receive), walk)
            elif handler in ("status", "metadata"):
                status, body = await self._node_get(handler, model)
            elif handler == "ready":
                ok, why = await orch.ready()
                status, body = (200, b"") if ok else (503, error_body(f"not ready: {why}"))
            elif handler == "live":
                status, body = 200, b""
            else:
                status, body = 200, orjson.dumps(server_metadata())
        except GraphCallError as exc:
            status, body = exc.status, exc.body
        await send_answer(send, status, body, [*_JSON, (b"seldon-puid", walk.puid.encode())])
        orch.metrics.observe_server(service, method, status, time.perf_counter() - started)

    async def _node_get(self, what: str, model: str) -> tuple[int, bytes]:
        """A node's status or metadata, proxied: its status and body as they are."""
        unit = find_unit(self.orch, model)
        if unit.builtin:
            return 404, error_body(
                f"graph node {unit.name!r} is the built-in {unit.implementation}, answered "
                f"inside the orchestrator: it has no {what} of its own"
            )
        return await self.orch.transport.get(unit, self.orch.rest_dialect.path(what, model))


def find_unit(orch: Any, name: str) -> Unit:
    """The node named ``name``, or upstream's "Failed to find model" (500) in the protocol's error shape."""
    unit = orch.units.get(name)
    if unit is None:
        # upstream's predictor Status and Metadata: fmt.Errorf("Failed to find model %s")
        raise GraphCallError(
            500,
            error_body(
                upstream_text(
                    f"Failed to find model {name}",
                    f"no graph node {name!r} in predictor {orch.predictor.name!r} (nodes: {', '.join(orch.units)})",
                )
            ),
            name,
        )
    return unit


class _DialectGrpcApi:
    def __init__(self, orch: Any) -> None:
        self.orch = orch

    async def _walk(self, data: bytes, model: str, metadata: Metadata) -> bytes:
        walk = self.orch.new_walk(metadata.get("seldon-puid"), metadata.get("seldon-skip-logging"))
        walk.model = model
        try:
            return await self.orch.grpc_walker.predict(data, walk)
        except GraphCallError as exc:  # the orchestrator's own failures (built-ins, chaining)
            raise GrpcError(grpc_code(exc.status), _error_text(exc.body)) from None

    async def _node(self, what: str, name: str, data: bytes, metadata: Metadata) -> bytes:
        """The node's own answer to the client's status or metadata request."""
        unit = self.orch.units.get(name)
        if unit is None:  # upstream returns the Go error as it is: status UNKNOWN, its text
            raise GrpcError(
                GRPC_CODES["UNKNOWN"], upstream_text(f"Failed to find model {name}", f"no graph node {name!r}")
            )
        if unit.builtin:
            raise GrpcError(
                GRPC_CODES["NOT_FOUND"],
                f"graph node {name!r} is the built-in {unit.implementation}: it has no {what} of its own",
            )
        dialect = self.orch.grpc_dialect
        _, answer = await self.orch.grpc_transport.post(
            unit, dialect.path(what, name), data, {k: v for k, v in metadata.items() if k == "seldon-puid"}
        )
        return answer


def _error_text(body: bytes) -> str:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode(errors="replace")
    if isinstance(parsed, dict):
        if isinstance(parsed.get("error"), str):
            return parsed["error"]
        status = parsed.get("status")
        if isinstance(status, dict) and status.get("info"):
            return str(status["info"])
    return body.decode(errors="replace")


def _parse(message_type: Any, data: bytes) -> Any:
    try:
        return message_type.FromString(data)
    except DecodeError as exc:
        raise GrpcError(
            GRPC_CODES["INVALID_ARGUMENT"], f"request is not a valid {message_type.DESCRIPTOR.full_name}: {exc}"
        ) from None


class V2GrpcApi(_DialectGrpcApi):
    SERVICE = "inference.GRPCInferenceService"

    async def model_infer(self, data: bytes, metadata: Metadata) -> bytes:
        return await self._walk(data, _parse(v2pb.ModelInferRequest, data).model_name, metadata)

    async def model_ready(self, data: bytes, metadata: Metadata) -> bytes:
        return await self._node("status", _parse(v2pb.ModelReadyRequest, data).name, data, metadata)

    async def model_metadata(self, data: bytes, metadata: Metadata) -> bytes:
        return await self._node("metadata", _parse(v2pb.ModelMetadataRequest, data).name, data, metadata)

    async def server_live(self, data: bytes, metadata: Metadata) -> bytes:
        return v2pb.ServerLiveResponse(live=True).SerializeToString()

    async def server_ready(self, data: bytes, metadata: Metadata) -> bytes:
        ok, _ = await self.orch.ready()
        return v2pb.ServerReadyResponse(ready=ok).SerializeToString()

    async def server_metadata(self, data: bytes, metadata: Metadata) -> bytes:
        meta = server_metadata()
        return v2pb.ServerMetadataResponse(name=meta["name"], version=meta["version"]).SerializeToString()

    def methods(self) -> dict[str, Callable[[bytes, Metadata], Awaitable[bytes]]]:
        return {
            f"/{self.SERVICE}/{name}": fn
            for name, fn in (
                ("ModelInfer", self.model_infer),
                ("ModelReady", self.model_ready),
                ("ModelMetadata", self.model_metadata),
                ("ServerLive", self.server_live),
                ("ServerReady", self.server_ready),
                ("ServerMetadata", self.server_metadata),
            )
        }


class TensorflowGrpcApi(_DialectGrpcApi):
    async def predict(self, data: bytes, metadata: Metadata) -> bytes:
        return await self._walk(data, model_spec_name(data), metadata)

    async def get_model_status(self, data: bytes, metadata: Metadata) -> bytes:
        return await self._node("status", model_spec_name(data), data, metadata)

    async def get_model_metadata(self, data: bytes, metadata: Metadata) -> bytes:
        return await self._node("metadata", model_spec_name(data), data, metadata)

    def methods(self) -> dict[str, Callable[[bytes, Metadata], Awaitable[bytes]]]:
        return {
            "/tensorflow.serving.PredictionService/Predict": self.predict,
            "/tensorflow.serving.PredictionService/GetModelMetadata": self.get_model_metadata,
            "/tensorflow.serving.ModelService/GetModelStatus": self.get_model_status,
        }


def grpc_api(orch: Any) -> _DialectGrpcApi:
    return TensorflowGrpcApi(orch) if orch.protocol == TENSORFLOW else V2GrpcApi(orch)
