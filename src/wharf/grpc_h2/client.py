"""Unary gRPC calls over one multiplexed HTTP/2 connection per target (the orchestrator's calls
to its nodes). Bytes in, bytes out: no (de)serialization on the way through.

A call that fails before the node could have seen it raises ``NotSent`` (safe to retry); any
other failure raises ``GrpcError`` with the status the node (or the deadline) gave.
"""

from __future__ import annotations

import asyncio

from wharf.grpc_h2 import frames as f
from wharf.grpc_h2.connection import H2Endpoint, H2Stream

GrpcError = f.GrpcError
DEADLINE_EXCEEDED, UNAVAILABLE, CANCELLED, INTERNAL, RESOURCE_EXHAUSTED = 4, 14, 1, 13, 8
DEFAULT_MAX_ANSWER = 4 * 1024 * 1024  # grpcio's default receive limit
_MAX_STREAM_ID = 2**31 - 1


class NotSent(f.GrpcError):
    """UNAVAILABLE, and the request never reached the node: retrying cannot run it twice."""

    def __init__(self, message: str) -> None:
        super().__init__(UNAVAILABLE, message)


class _Call(H2Stream):
    __slots__ = ("future", "headers_seen", "chunks", "received", "code", "message", "encoding")

    def __init__(self, stream_id: int, send_window: int) -> None:
        super().__init__(stream_id, send_window)
        self.future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.headers_seen = False
        self.chunks: list[bytes] = []
        self.received = 0
        self.code: int | None = None
        self.message = ""
        self.encoding = "identity"


class _ClientConnection(H2Endpoint):
    client_side = True

    def __init__(self, target: str, max_answer_bytes: int = DEFAULT_MAX_ANSWER) -> None:
        super().__init__()
        self.target = target
        self.max_answer_bytes = max_answer_bytes
        self.next_id = 1
        self.usable = True  # false after GOAWAY or loss: new calls go to a new connection

    # --- calls ------------------------------------------------------------------------------

    def start(self, path: str, payload: bytes, metadata: tuple[tuple[str, str], ...], timeout_s: float | None) -> _Call:
        sid = self.next_id
        self.next_id += 2
        if self.next_id > _MAX_STREAM_ID:
            self.usable = False
        call = _Call(sid, self.peer_initial_window)
        self.streams[sid] = call
        block = f.request_headers(path, self.target, timeout_s, metadata)
        message = f.grpc_message(payload)
        if self.send_all_now(call, len(message)):  # the common case: one write
            self.emit(f.frame(f.HEADERS, f.END_HEADERS, sid, block) + f.frame(f.DATA, f.END_STREAM, sid, message))
            call.done = True
        else:
            self.queue_headers(call, block)
            self.queue_data(call, message, end_stream=True)
        return call

    def cancel(self, call: _Call) -> None:
        if self.streams.pop(call.id, None) is not None:
            self.blocked.pop(call.id, None)
            self.emit(f.rst_stream(call.id, f.CANCEL))

    def _fail(self, call: _Call, error: Exception) -> None:
        self.streams.pop(call.id, None)
        self.blocked.pop(call.id, None)
        if not call.future.done():
            call.future.set_exception(error)

    def _complete(self, call: _Call) -> None:
        self.streams.pop(call.id, None)
        if call.future.done():
            return
        if call.code is None:
            call.future.set_exception(GrpcError(INTERNAL, f"{self.target}: the answer ended without grpc-status"))
        elif call.code != 0:
            call.future.set_exception(GrpcError(call.code, call.message))
        else:
            try:
                message = f.only_message(b"".join(call.chunks), f"the answer from {self.target}")
                call.future.set_result(f.message_payload(message, call.encoding, self.max_answer_bytes))
            except GrpcError as exc:
                call.future.set_exception(exc)
            except Exception as exc:  # noqa: BLE001 - a corrupt compressed answer (zlib.error, BadGzipFile)
                call.future.set_exception(GrpcError(INTERNAL, f"{self.target}: cannot decompress the answer: {exc}"))

    # --- frames in --------------------------------------------------------------------------

    def on_header_block(self, stream_id: int, flags: int, headers: list[tuple[str, str]]) -> None:
        call = self.streams.get(stream_id)
        if call is None:
            return
        values = dict(headers)
        if not call.headers_seen:
            call.headers_seen = True
            status = values.get(":status", "")
            if status != "200":
                call.code = f.grpc_code_for_http(int(status) if status.isdigit() else 0)
                call.message = f"{self.target} answered HTTP {status or '(no status)'}, not gRPC"
                if flags & f.END_STREAM:
                    self._complete(call)
                else:
                    self.cancel(call)
                    self._fail(call, GrpcError(call.code, call.message))
                return
            call.encoding = values.get("grpc-encoding", "identity")
        if "grpc-status" in values:
            code = values["grpc-status"]
            call.code = int(code) if code.isdigit() else 2
            call.message = f.percent_decode(values.get("grpc-message", ""))
        if flags & f.END_STREAM:
            self._complete(call)

    def on_data(self, stream_id: int, flags: int, data: bytes) -> None:
        # the connection's credit goes back on receipt: each answer is bounded below, and the
        # calls in flight by the orchestrator itself
        self.consumed(len(data))
        call = self.streams.get(stream_id)
        if call is None:
            return
        call.chunks.append(data)
        call.received += len(data)
        if call.received > self.max_answer_bytes + 5:  # the message and its 5-byte prefix
            call.chunks = []
            self.cancel(call)
            self._fail(
                call,
                GrpcError(
                    RESOURCE_EXHAUSTED, f"{self.target}: answer larger than max (over {self.max_answer_bytes} bytes)"
                ),
            )
            return
        if flags & f.END_STREAM:
            self._complete(call)

    def on_reset(self, stream_id: int, code: int) -> None:
        call = self.streams.get(stream_id)
        if call is None:
            return
        if code == f.REFUSED_STREAM:
            self._fail(call, NotSent(f"{self.target} refused the call (REFUSED_STREAM)"))
        else:
            self._fail(
                call,
                GrpcError(
                    CANCELLED if code == f.CANCEL else INTERNAL, f"{self.target} reset the call (HTTP/2 error {code})"
                ),
            )

    def on_goaway(self, last_stream_id: int, code: int) -> None:
        self.usable = False
        for call in [c for sid, c in self.streams.items() if sid > last_stream_id]:
            self._fail(call, NotSent(f"{self.target} is shutting down (GOAWAY before this call)"))
        if not self.streams:
            self.close_soon()

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        for call in list(self.streams.values()):
            self._fail(
                call,
                GrpcError(
                    UNAVAILABLE, f"connection to {self.target} lost during the call" + (f": {exc}" if exc else "")
                ),
            )


class Channel:
    """Calls to one ``host:port``; the connection is opened on first use and replaced when lost."""

    def __init__(
        self, host: str, port: int, connect_timeout_s: float = 5.0, max_answer_bytes: int = DEFAULT_MAX_ANSWER
    ) -> None:
        """``max_answer_bytes`` bounds one answer's message, compressed or not (RESOURCE_EXHAUSTED
        past it, as grpcio's channel answers)."""
        self.host, self.port = host, port
        self.max_answer_bytes = max_answer_bytes
        self.target = f"{host}:{port}"
        self.connect_timeout_s = connect_timeout_s
        self._conn: _ClientConnection | None = None
        self._connecting: asyncio.Future[_ClientConnection] | None = None

    async def _connection(self) -> _ClientConnection:
        conn = self._conn
        if conn is not None and conn.usable:
            return conn
        if self._connecting is None:  # one connect at a time; concurrent callers share it
            self._connecting = asyncio.ensure_future(self._connect())
        try:
            return await asyncio.shield(self._connecting)
        finally:
            if self._connecting is not None and self._connecting.done():
                self._connecting = None

    async def _connect(self) -> _ClientConnection:
        if self._conn is not None and not self._conn.streams:
            self._conn.close_soon()
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _ClientConnection(self.target, self.max_answer_bytes), self.host, self.port
                ),
                self.connect_timeout_s,
            )
        except (TimeoutError, OSError) as exc:
            raise NotSent(f"cannot connect to {self.target}: {exc or 'timed out'}") from None
        self._conn = conn
        return conn

    async def unary(
        self, path: str, payload: bytes, metadata: tuple[tuple[str, str], ...] = (), timeout_s: float | None = None
    ) -> bytes:
        conn = await self._connection()
        call = conn.start(path, payload, metadata, timeout_s)
        # a timer, not asyncio.wait_for: that wraps every call in a task of its own
        timer = (
            asyncio.get_running_loop().call_later(timeout_s, self._expire, conn, call, timeout_s) if timeout_s else None
        )
        try:
            return await call.future
        except asyncio.CancelledError:  # our caller gave up: tell the node to stop too
            conn.cancel(call)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _expire(self, conn: _ClientConnection, call: _Call, timeout_s: float) -> None:
        if not call.future.done():
            conn.cancel(call)
            call.future.set_exception(
                GrpcError(DEADLINE_EXCEEDED, f"no answer from {self.target} within {timeout_s} s")
            )

    async def close(self) -> None:
        if self._conn is not None and self._conn.transport is not None:
            self._conn.transport.close()
        self._conn = None
