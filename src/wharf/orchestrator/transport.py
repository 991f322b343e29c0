"""Outgoing calls to graph nodes: REST over pooled keep-alive HTTP/1.1 connections, or gRPC over
one channel per node; both take bytes (JSON or serialized protos) and give bytes back."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Callable, ContextManager, Sequence

import grpc
import orjson
from google.protobuf import empty_pb2, json_format

from wharf.deployment.graph import Unit
from wharf.orchestrator.http1 import Http1Pool, NodeTimeout, NodeUnreachable
from wharf.orchestrator.walker import failure
from wharf.protocol.errors import http_status_for_grpc
from wharf.protocol.pb import prediction_pb2 as pb

_JSON = "application/json"


class RestTransport:
    """POSTs to nodes over pooled keep-alive connections (:mod:`wharf.orchestrator.http1`)."""

    def __init__(self, timeout_s: float | None = None, retries: int = 0,
                 trace: Callable[[str, dict[str, str]], ContextManager[Any]] | None = None) -> None:
        self.timeout_s = timeout_s
        self._retries = retries
        self._trace = trace  # opens a client span and writes its context into the headers
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

    async def _call(self, unit: Unit, method: str, path: str, body: bytes, headers: dict[str, str],
                    retries: int | None = None) -> tuple[int, bytes]:
        assert self._pool is not None, "transport not started"
        host, port = unit.endpoint.host, unit.endpoint.http_port
        url = f"http://{host}:{port}{path}"
        retries = self._retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                return await self._pool.request(method, host, port, path, headers, body, self.timeout_s)
            except NodeTimeout:
                return 504, failure(504, f"node {unit.name!r} ({url}) did not answer within {self.timeout_s} s")
            except NodeUnreachable as exc:
                # Only failures before any answer arrive here: the node did not process the request.
                if attempt < retries:
                    await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                return 503, failure(503, f"node {unit.name!r} ({url}) is unreachable: {exc}")
        raise AssertionError("unreachable")  # pragma: no cover


# The component services the executor calls for each step of the walk (spec 4.2).
GRPC_METHODS = {
    "/predict": "/seldon.protos.Model/Predict",
    "/transform-input": "/seldon.protos.Transformer/TransformInput",
    "/transform-output": "/seldon.protos.OutputTransformer/TransformOutput",
    "/route": "/seldon.protos.Router/Route",
    "/aggregate": "/seldon.protos.Combiner/Aggregate",
    "/send-feedback": "/seldon.protos.Model/SendFeedback",
}


class GrpcTransport:
    """Calls nodes' gRPC ports with serialized protos; no (de)serialization on the way through."""

    def __init__(self, timeout_s: float | None = None, retries: int = 0, interceptors: Sequence[Any] = ()) -> None:
        self.timeout_s = timeout_s
        self._retries = retries
        self._interceptors = list(interceptors)  # e.g. tracing context on every outgoing call
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._rest = RestTransport(timeout_s, retries)  # health and metadata proxies use REST

    async def start(self) -> None:
        await self._rest.start()

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        await self._rest.close()

    def _channel(self, target: str) -> grpc.aio.Channel:
        channel = self._channels.get(target)
        if channel is None:
            channel = grpc.aio.insecure_channel(target, options=[("grpc.max_send_message_length", 2**31 - 1),
                                                                 ("grpc.max_receive_message_length", 2**31 - 1)],
                                                interceptors=self._interceptors or None)
            self._channels[target] = channel
        return channel

    async def post(self, unit: Unit, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        target = f"{unit.endpoint.host}:{unit.endpoint.grpc_port}"
        call = self._channel(target).unary_unary(GRPC_METHODS[path])  # bytes in, bytes out
        metadata = tuple((k.lower(), v) for k, v in headers.items())
        attempt = 0
        while True:
            try:
                return 200, await call(body, timeout=self.timeout_s, metadata=metadata)
            except grpc.aio.AioRpcError as err:
                code = err.code()
                if code == grpc.StatusCode.UNAVAILABLE and attempt < self._retries:
                    attempt += 1
                    await asyncio.sleep(0.05 * attempt)
                    continue
                status = http_status_for_grpc(code.name)
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    info = f"node {unit.name!r} ({target}) did not answer within {self.timeout_s} s"
                elif code == grpc.StatusCode.UNAVAILABLE:
                    info = f"node {unit.name!r} ({target}) is unreachable: {err.details()}"
                else:
                    info = err.details() or code.name
                return status, failure(status, info)

    async def get(self, unit: Unit, path: str) -> tuple[int, bytes]:
        if path != "/metadata":
            return await self._rest.get(unit, path)
        target = f"{unit.endpoint.host}:{unit.endpoint.grpc_port}"
        call = self._channel(target).unary_unary("/seldon.protos.Model/Metadata",
                                                 request_serializer=empty_pb2.Empty.SerializeToString,
                                                 response_deserializer=pb.SeldonModelMetadata.FromString)
        try:
            reply = await call(empty_pb2.Empty(), timeout=self.timeout_s or 10)
        except grpc.aio.AioRpcError as err:
            status = http_status_for_grpc(err.code().name)
            return status, failure(status, f"node {unit.name!r} ({target}): {err.details()}")
        return 200, orjson.dumps(json_format.MessageToDict(reply))
