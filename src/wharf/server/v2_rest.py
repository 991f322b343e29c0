"""The Open Inference Protocol (V2) over REST, on the component's HTTP port next to the Seldon API.

``V2RestApp`` takes ``/v2`` and ``/v2/...`` and hands every other path to the Seldon app (or, when
the component serves V2 only, just the probes ``/live``, ``/ready`` and ``/health/ping``):

- ``GET /v2/health/live``, ``/v2/health/ready``: 200, or 400 when not ready; empty body, as the
  protocol says a health answer is its status code;
- ``GET /v2``: server metadata; ``GET /v2/models/{m}[/versions/{v}]``: model metadata;
- ``GET /v2/models/{m}[/versions/{v}]/ready``: 200 or 400;
- ``POST /v2/models/{m}[/versions/{v}]/infer``: inference, with the binary data extension.

Errors are V2's ``{"error": "..."}``: 404 for a model or path not served, 400 for a bad request.
Inference runs on the model thread like a Seldon predict, and is counted as ``predict`` in the
same metrics.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

import wharf
from wharf.component.v2 import V2Model
from wharf.http_server.error_log import SERVER_ERRORS as errors
from wharf.protocol.errors import as_microservice_error
from wharf.protocol.v2 import json_codec
from wharf.protocol.v2.tensor import DEFAULT_LIMITS, Limits, V2Error
from wharf.server.model_thread import ModelThread
from wharf.server.rest import _closing, _read_body, _send
from wharf.server.state import WorkerState, is_internal_failure

Scope = dict[str, Any]
_JSON = [(b"content-type", b"application/json")]
_OCTETS = b"application/octet-stream"
_HEADER_LENGTH = json_codec.HEADER_LENGTH.encode()
_PROBES = frozenset(("/live", "/ready", "/health/ping"))
SERVER_NAME = "wharf"
EXTENSIONS = ["binary_tensor_data"]


def server_metadata() -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": wharf.__version__, "extensions": EXTENSIONS}


class V2RestApp:
    def __init__(
        self,
        seldon: Any,
        model: V2Model,
        state: WorkerState,
        observer: Any,
        model_thread: ModelThread | None = None,
        seldon_enabled: bool = True,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.seldon = seldon
        self.model = model
        self.state = state
        self.observer = observer
        self.model_thread = model_thread or ModelThread()
        self.seldon_enabled = seldon_enabled
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/v2" or path.startswith("/v2/")):
            if self.seldon_enabled or scope["type"] != "http" or path in _PROBES:
                await self.seldon(scope, receive, send)  # also the lifespan messages
            else:
                await _error(
                    send, V2Error(f"no endpoint {path}: this component serves the V2 protocol only (--protocols)", 404)
                )
            return
        if self.state.retiring:
            send = _closing(send)
        method = scope["method"]
        parts = path.rstrip("/").split("/")[2:]  # after "", "v2"
        if method == "POST" and parts[-1:] == ["infer"] and _model_path(parts[:-1]):
            await self._infer(scope, receive, send, *_model_path(parts[:-1]))
            return
        if method not in ("GET", "HEAD"):
            await _error(send, V2Error(f"{method} is not served on {path}", 405 if _known(parts) else 404))
            return
        try:
            if parts == []:
                await _send(send, 200, orjson.dumps(server_metadata()), _JSON)
            elif parts == ["health", "live"]:
                await _send(send, 200, b"", _JSON)
            elif parts == ["health", "ready"]:
                await _send(send, 200 if self.state.ready else 400, b"", _JSON)
            elif parts[-1:] == ["ready"] and _model_path(parts[:-1]):
                self.model.check(*_model_path(parts[:-1]))
                await _send(send, 200 if self.state.ready else 400, b"", _JSON)
            elif _model_path(parts):
                self.model.check(*_model_path(parts))
                await _send(send, 200, orjson.dumps(self.model.metadata()), _JSON)
            else:
                raise V2Error(f"no endpoint GET {path}", 405 if _known(parts) else 404)
        except V2Error as exc:
            await _error(send, exc)

    async def _infer(self, scope: Scope, receive: Callable, send: Callable, name: str, version: str | None) -> None:
        started = time.perf_counter()
        body = await _read_body(receive)
        header_length = None
        for key, value in scope["headers"]:
            if key == _HEADER_LENGTH:
                header_length = value.decode("latin-1")
                break
        try:
            self.model.check(name, version)
            if not self.state.loaded.is_set():
                await self.state.loaded.wait()
            if self.state.load_error is not None:
                raise V2Error(self.state.not_ready_reason(), 503)
            status, payload, headers = await self.model_thread.run(self._answer, body, header_length, name, version)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an answer
            status, payload, headers = self._failure(scope, exc)
        else:
            self.state.succeeded()
        await _send(send, status, payload, headers)
        self.state.served += 1
        self.observer.observe_request("predict", status, time.perf_counter() - started)

    def _answer(
        self, body: bytes, header_length: str | None, name: str, version: str | None
    ) -> tuple[int, bytes, list]:
        request = json_codec.parse_request(body, header_length, self.limits)
        request.model_name, request.model_version = name, version or ""
        response = self.model.infer(request)
        obj, binary = json_codec.response_to_json(response, json_codec.binary_outputs(request))
        header = orjson.dumps(obj)
        if not binary and not any("binary_data_size" in o.get("parameters", ()) for o in obj["outputs"]):
            return 200, header, _JSON
        return 200, header + binary, [(b"content-type", _OCTETS), (_HEADER_LENGTH, str(len(header)).encode())]

    def _failure(self, scope: Scope, exc: Exception) -> tuple[int, bytes, list]:
        if isinstance(exc, V2Error):
            status, message = exc.status_code, exc.message
        else:
            err = as_microservice_error(exc)
            status, message = err.status_code, err.message
        if status >= 500:
            errors.failed(f"{scope['method']} {scope['path']}", exc, traceback=not isinstance(exc, V2Error))
            if is_internal_failure(exc):
                self.state.failed_internally(exc)
        return status, orjson.dumps({"error": message}), _JSON


def _model_path(parts: list[str]) -> tuple[str, str | None] | None:
    """(model, version) of ``models/{m}`` or ``models/{m}/versions/{v}``, else None."""
    if len(parts) == 2 and parts[0] == "models" and parts[1]:
        return parts[1], None
    if len(parts) == 4 and parts[0] == "models" and parts[2] == "versions" and parts[1] and parts[3]:
        return parts[1], parts[3]
    return None


def _known(parts: list[str]) -> bool:
    """Whether the path is one V2 serves (with another method)."""
    if parts in ([], ["health", "live"], ["health", "ready"]):
        return True
    return bool(_model_path(parts) or (parts[-1:] in (["ready"], ["infer"]) and _model_path(parts[:-1])))


async def _error(send: Callable, exc: V2Error) -> None:
    await _send(send, exc.status_code, orjson.dumps(exc.to_dict()), _JSON)
