"""Outgoing calls to graph nodes: REST over pooled keep-alive HTTP/1.1 connections, or gRPC over
one HTTP/2 connection per node; both take bytes (JSON or serialized protos) and give bytes back."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import orjson
from google.protobuf import json_format

from wharf.deployment.graph import Unit
from wharf.grpc_h2.client import DEADLINE_EXCEEDED, UNAVAILABLE, Channel, GrpcError, NotSent
from wharf.orchestrator.http1 import Http1Pool, NodeAnswerTooLarge, NodeTimeout, NodeUnreachable
from wharf.orchestrator.walker import failure
from wharf.protocol.errors import GRPC_CODE_NAMES, http_status_for_grpc, upstream_text
from wharf.protocol.pb import prediction_pb2 as pb

_JSON = "application/json"


# Seldon's executor sizes gRPC messages both ways by the seldon.io/grpc-max-message-size annotation
# and accepts up to MaxInt32 without it; a graph that passed large tensors through it must still work.
EXECUTOR_MAX_MESSAGE = 2**31 - 1
MAX_MESSAGE_ANNOTATION = "seldon.io/grpc-max-message-size"


class RestTransport:
    """POSTs to nodes over pooled keep-alive connections (:mod:`wharf.orchestrator.http1`)."""

    def __init__(
        self,
        timeout_s: float | None = None,
        retries: int = 0,
        trace: Callable[[str, dict[str, str]], AbstractContextManager[Any]] | None = None,
        failure: Callable[[int, str], bytes] = failure,
    ) -> None:
        """``failure`` writes the body of a call that got no answer (the protocol's error shape)."""
        self.timeout_s = timeout_s
        self._retries = retries
        self._trace = trace  # opens a client span and writes its context into the headers
        self._failure = failure
        self._pool: Http1Pool | None = None

    async def start(self) -> None:
        self._pool = Http1Pool()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def post(self, unit: Unit, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        headers = {**headers, "Content-Type": _JSON}
        with self._trace(f"POST {path}", headers) if self._trace else contextlib.nullcontext():
            return await self._call(unit, "POST", path, body, headers)

    async def get(self, unit: Unit, path: str) -> tuple[int, bytes]:
        return await self._call(unit, "GET", path, b"", {}, retries=0)

    async def _call(
        self, unit: Unit, method: str, path: str, body: bytes, headers: dict[str, str], retries: int | None = None
    ) -> tuple[int, bytes]:
        assert self._pool is not None, "transport not started"
        host, port = unit.endpoint.host, unit.endpoint.http_port
        url = f"http://{host}:{port}{path}"
        retries = self._retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                return await self._pool.request(method, host, port, path, headers, body, self.timeout_s)
            except NodeTimeout:
                return 500, self._failure(
                    500,
                    upstream_text(
                        go_client_error(method, url, GO_TIMEOUT),
                        f"node {unit.name!r} did not answer within {self.timeout_s} s",
                    ),
                )
            except NodeAnswerTooLarge as exc:
                return 500, self._failure(500, f"node {unit.name!r} ({url}): {exc}")
            except NodeUnreachable as exc:
                # Only failures before any answer arrive here: the node did not process the request.
                if attempt < retries:
                    await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                return 500, self._failure(
                    500,
                    upstream_text(
                        go_client_error(method, url, go_dial_error(host, port, exc)),
                        f"node {unit.name!r} is unreachable: {exc}",
                    ),
                )
        raise AssertionError("unreachable")  # pragma: no cover


# Upstream's executor answers a failed call to a node with 500 and Go's error text as ``info``:
# net/http's url.Error, "<Method> \"<url>\": <cause>" (executor/api/rest/client.go returns it
# through CreateErrorPayload). The causes Go writes for the failures we can tell apart:
GO_TIMEOUT = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"


def go_client_error(method: str, url: str, cause: str) -> str:
    return f'{method[:1].upper()}{method[1:].lower()} "{url}": {cause}'


def go_dial_error(host: str, port: int, exc: NodeUnreachable) -> str:
    cause = exc.cause
    if isinstance(cause, ConnectionRefusedError):
        return f"dial tcp {host}:{port}: connect: connection refused"
    if isinstance(cause, socket.gaierror):
        return f"dial tcp: lookup {host}: no such host"
    if cause is None:  # the node closed the connection before answering
        return "EOF"
    return f"dial tcp {host}:{port}: {cause.strerror or cause}"


# The component services upstream's executor calls for each step of the walk, by REST path.
GRPC_METHODS = {
    "/predict": "/seldon.protos.Model/Predict",
    "/transform-input": "/seldon.protos.Transformer/TransformInput",
    "/transform-output": "/seldon.protos.OutputTransformer/TransformOutput",
    "/route": "/seldon.protos.Router/Route",
    "/aggregate": "/seldon.protos.Combiner/Aggregate",
    "/send-feedback": "/seldon.protos.Model/SendFeedback",
}


class GrpcTransport:
    """Calls nodes' gRPC ports with serialized protos (:mod:`wharf.grpc_h2.client`, one multiplexed
    HTTP/2 connection per node); no (de)serialization on the way through."""

    def __init__(
        self,
        timeout_s: float | None = None,
        retries: int = 0,
        trace: Callable[[str, dict[str, str]], AbstractContextManager[Any]] | None = None,
        max_message_bytes: int = EXECUTOR_MAX_MESSAGE,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_message_bytes = max_message_bytes  # a node's answer, as the executor's MaxCallRecvMsgSize
        self._retries = retries
        self._trace = trace  # opens a client span and writes its context into the metadata
        self._channels: dict[tuple[str, int], Channel] = {}
        self._rest = RestTransport(timeout_s, retries)  # health and metadata proxies use REST

    async def start(self) -> None:
        await self._rest.start()

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        await self._rest.close()

    def _channel(self, unit: Unit) -> Channel:
        key = (unit.endpoint.host, unit.endpoint.grpc_port)
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = Channel(*key, max_answer_bytes=self.max_message_bytes)
        return channel

    async def post(self, unit: Unit, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        method = GRPC_METHODS[path]
        if self._trace is None:
            return await self._call(unit, method, body, headers)
        headers = dict(headers)
        with self._trace(method, headers):
            return await self._call(unit, method, body, headers)

    async def _call(self, unit: Unit, method: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        channel = self._channel(unit)
        metadata = tuple(headers.items())  # request_headers() lower-cases the names
        for attempt in range(self._retries + 1):
            try:
                return 200, await channel.unary(method, body, metadata, self.timeout_s)
            except NotSent as err:  # the node never saw the call: retrying cannot run it twice
                if attempt < self._retries:
                    await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                return 503, failure(503, f"node {unit.name!r} ({channel.target}) is unreachable: {err.message}")
            except GrpcError as err:
                return self._failure(unit, channel, err)
        raise AssertionError("unreachable")  # pragma: no cover

    def _failure(self, unit: Unit, channel: Channel, err: GrpcError) -> tuple[int, bytes]:
        status = http_status_for_grpc(err.code)
        if err.code == DEADLINE_EXCEEDED:
            info = f"node {unit.name!r} ({channel.target}) did not answer within {self.timeout_s} s"
        elif err.code == UNAVAILABLE:
            info = f"node {unit.name!r} ({channel.target}) is unreachable: {err.message}"
        else:
            info = err.message or GRPC_CODE_NAMES.get(err.code, f"gRPC status {err.code}")
        return status, failure(status, info)

    async def get(self, unit: Unit, path: str) -> tuple[int, bytes]:
        if path != "/metadata":
            return await self._rest.get(unit, path)
        channel = self._channel(unit)
        try:
            reply = await channel.unary("/seldon.protos.Model/Metadata", b"", (), self.timeout_s or 10)
        except GrpcError as err:
            status = http_status_for_grpc(err.code)
            return status, failure(status, f"node {unit.name!r} ({channel.target}): {err.message}")
        return 200, orjson.dumps(json_format.MessageToDict(pb.SeldonModelMetadata.FromString(reply)))
