"""The component's REST API as a plain ASGI app (no framework: routing is one dict lookup).

Upstream's REST endpoints (the microservice's predict, transform, route, aggregate, feedback,
metadata and health paths) plus ``/ready`` and ``/live``. User code runs on the worker's model
thread (see ``model_thread``), never on the event loop: probes and other connections do not wait
for a slow call. Answers that need no user code (metadata, built once; a health status when the
model defines none; the probes) are made on the loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import numpy as np
import orjson

from wharf.component.model import Component
from wharf.component.wire import JSON
from wharf.http_server.error_log import SERVER_ERRORS as errors
from wharf.protocol.errors import (
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED_TEXT,
    NOT_FOUND_TEXT,
    NOT_READY,
    MicroserviceError,
    as_microservice_error,
    error_body,
    upstream_text,
)
from wharf.server.body import extract_message
from wharf.server.model_thread import ModelThread
from wharf.server.state import WorkerState, is_internal_failure

log = logging.getLogger(__name__)

Scope = dict[str, Any]
_JSON_HEADERS = [(b"content-type", b"application/json")]
_CLOSE = (b"connection", b"close")
_JSON_CLOSE_HEADERS = [*_JSON_HEADERS, _CLOSE]
_TEXT_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]
_CORS_PREFLIGHT = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"*"),
]


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (bytes, bytearray)):
        return obj.decode("utf-8", "replace")
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


_DUMP_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_default, option=_DUMP_OPTS)


class Observer:
    """Where request timings go; the worker passes the Prometheus sink."""

    def observe_request(self, method: str, code: int, seconds: float) -> None:  # pragma: no cover
        pass


class RestApp:
    def __init__(
        self,
        component: Component,
        state: WorkerState,
        observer: Observer | None = None,
        model_thread: ModelThread | None = None,
        payload_passthrough: bool = False,
    ) -> None:
        self.component = component
        self.state = state
        self.observer = observer or Observer()
        self.model_thread = model_thread or ModelThread()
        self._passthrough = payload_passthrough
        c = component
        predict = self._predict_passthrough if payload_passthrough else self._json(c.predict)
        feedback = self._json(c.send_feedback)
        # path -> (metrics label, allowed methods, handler(message) -> (status, body object), needs the
        # model (waits for load(), runs on the model thread)); health runs there only with user code
        post_get = (b"GET", b"POST")
        user_health = c.health_calls_user_code()
        self.routes: dict[str, tuple[str, tuple[bytes, ...], Callable[..., Any], bool]] = {
            "/predict": ("predict", post_get, predict, True),
            "/api/v1.0/predictions": ("predict", (b"POST",), predict, True),
            "/api/v0.1/predictions": ("predict", (b"POST",), predict, True),
            "/send-feedback": ("feedback", post_get, feedback, True),
            "/api/v1.0/feedback": ("feedback", (b"POST",), feedback, True),
            "/api/v0.1/feedback": ("feedback", (b"POST",), feedback, True),
            "/transform-input": ("inputtransform", post_get, self._json(c.transform_input), True),
            "/transform-output": ("outputtransform", post_get, self._json(c.transform_output), True),
            "/route": ("router", post_get, self._json(c.route), True),
            "/aggregate": ("aggregate", post_get, self._json(c.aggregate), True),
            "/health/status": ("health", (b"GET",), self._health, user_health),
            "/api/v1.0/health/status": ("health", (b"GET",), self._health, user_health),
            "/metadata": ("metadata", (b"GET",), self._metadata, False),
            "/api/v1.0/metadata": ("metadata", (b"GET",), self._metadata, False),
        }
        self._openapi = resources.files("wharf.protocol").joinpath("openapi/seldon.json").read_bytes()

    # --- handlers: message in, (status, body) out; run where user code may run -------------

    @staticmethod
    def _json(method: Callable[[Any, Any], Any]) -> Callable[[bytes, bytes, bytes], tuple[int, Any]]:
        def handle(content_type: bytes, query: bytes, body: bytes) -> tuple[int, Any]:
            return 200, method(extract_message(content_type, query, body), JSON)

        return handle

    def _predict_passthrough(self, content_type: bytes, query: bytes, body: bytes) -> tuple[int, Any]:
        user = self.component.user
        fn = getattr(user, "predict_rest", None) or getattr(user, "predict_raw", None)
        if fn is None:
            return self._json(self.component.predict)(content_type, query, body)
        return 200, fn(body)

    def _health(self, content_type: bytes, query: bytes, body: bytes) -> tuple[int, Any]:
        if not self.state.ready:
            raise MicroserviceError(self.state.not_ready_reason(), 503, reason=NOT_READY)
        return 200, self.component.health_status(JSON)

    def _metadata(self, content_type: bytes, query: bytes, body: bytes) -> tuple[int, Any]:
        return 200, self.component.require_metadata()

    # --- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        if self.state.retiring:  # draining: every answer tells a keep-alive client to leave after it
            send = _closing(send)
        path = scope["path"]
        method = scope["method"].encode()
        route = self.routes.get(path)
        if route is None:
            await self._plain_route(path, method, send)
            return
        label, allowed, handler, needs_model = route
        if method == b"OPTIONS":
            await _send(send, 200, b"", _CORS_PREFLIGHT)
            return
        if method not in allowed and not (method == b"HEAD" and b"GET" in allowed):  # Flask adds HEAD to GET
            await _send_unserved(send, method, path, allowed)
            return
        started = time.perf_counter()
        body = await _read_body(receive)
        content_type = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
                break
        try:
            if not needs_model:
                status, result = handler(content_type, scope["query_string"], body)
            else:
                if not self.state.loaded.is_set():
                    await self.state.loaded.wait()
                if self.state.load_error is not None:
                    raise MicroserviceError(self.state.not_ready_reason(), 503, reason=NOT_READY)
                status, result = await self.model_thread.run(handler, content_type, scope["query_string"], body)
            if isinstance(result, (bytes, str)):  # passthrough: the user's bytes, as they are
                payload = result.encode() if isinstance(result, str) else result
            else:
                payload = dumps(result)
                if label == "predict" and isinstance(result, dict):
                    status = _status_from_body(result, status)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an answer, never a crash
            err = as_microservice_error(exc)
            if err.status_code >= 500:
                errors.failed(f"{scope['method']} {path}", exc, traceback=not isinstance(exc, MicroserviceError))
                if needs_model and label != "health" and is_internal_failure(exc):
                    self.state.failed_internally(exc)
            status, payload = err.status_code, dumps(err.to_dict())
        else:
            if needs_model and label != "health":  # readiness follows the model's calls, not its probe
                self.state.succeeded()
        # decided now, not when the request came: one that waited for the model through the start of a drain says it too
        await _send(send, status, payload, _JSON_CLOSE_HEADERS if self.state.retiring else _JSON_HEADERS)
        self.state.served += 1
        self.observer.observe_request(label, status, time.perf_counter() - started)

    async def _plain_route(self, path: str, method: bytes, send: Callable) -> None:
        if path in _PLAIN_PATHS and method not in _GET:
            if method == b"OPTIONS":
                await _send(send, 200, b"", _CORS_PREFLIGHT)
            else:
                await _send_unserved(send, method, path, _GET)
            return
        if path == "/health/ping":
            await _send(send, 200, b"pong", _TEXT_HEADERS)
        elif path == "/live":
            await _send(send, 200, b"alive", _TEXT_HEADERS)
        elif path == "/ready":
            ok = self.state.ready
            await _send(
                send, 200 if ok else 503, b"ready" if ok else self.state.not_ready_reason().encode(), _TEXT_HEADERS
            )
        elif path == "/seldon.json":
            await _send(send, 200, self._openapi, _JSON_HEADERS)
        elif method == b"OPTIONS":
            await _send(send, 200, b"", _CORS_PREFLIGHT)
        else:
            await _send_unserved(send, method, path, None)


_GET = (b"GET", b"HEAD")
_PLAIN_PATHS = frozenset(("/health/ping", "/live", "/ready", "/seldon.json"))


async def _send_unserved(send: Callable, method: bytes, path: str, allowed: tuple[bytes, ...] | None) -> None:
    """A path or method we do not serve, answered as upstream's Flask app does: its catch-all
    handler turns Werkzeug's 404/405 into 500 MICROSERVICE_INTERNAL_ERROR with Werkzeug's text.
    A GET is a 404 even on a POST-only path (upstream's static-file route takes every GET)."""
    verb = method.decode("latin-1")
    if method in _GET:
        text = upstream_text(
            NOT_FOUND_TEXT,
            f"no endpoint {verb} {path}"
            if allowed is None
            else f"{path} takes {', '.join(m.decode() for m in allowed)}",
        )
    else:
        text = upstream_text(
            METHOD_NOT_ALLOWED_TEXT,
            f"no endpoint {path}"
            if allowed is None
            else f"{verb} not allowed on {path}, which takes {', '.join(m.decode() for m in allowed)}",
        )
    await _send(send, 500, dumps(error_body(text, INTERNAL_ERROR)), _JSON_HEADERS)


def _status_from_body(result: dict[str, Any], default: int) -> int:
    """A ``predict_raw`` answer may set the HTTP status through ``status.code``."""
    status = result.get("status")
    if isinstance(status, dict):
        code = status.get("code")
        if isinstance(code, int) and 100 <= code <= 599:
            return code
    return default


async def _read_body(receive: Callable[[], Awaitable[dict]]) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body"):
        return body
    chunks = [body]
    while message.get("more_body"):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


def _closing(send: Callable) -> Callable:
    async def send_and_close(message: dict) -> None:
        if message["type"] == "http.response.start" and _CLOSE not in message["headers"]:
            message = {**message, "headers": [*message["headers"], _CLOSE]}
        await send(message)

    return send_and_close


async def _send(send: Callable, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"access-control-allow-origin", b"*"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Callable, send: Callable) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
