"""A gRPC server on the worker's own event loop: HTTP/2 spoken by an ``asyncio.Protocol``.

Why not grpcio's server: on this project's 2-core benchmark machine its per-call cost (thread
hand-off, completion queue, GIL round trips) was about 190 us of CPU for an identity call, three
times the rest of the request. Serving a unary call needs only a small part of HTTP/2: read
HEADERS and DATA, answer with three frames in one write. That part is here; HPACK decoding is
the ``hpack`` library's.

What it serves:
- unary methods: ``handler(message, metadata)`` returns the answer's bytes, or an awaitable of
  them (for handlers that must wait, e.g. for ``load()`` or a thread pool);
- "one answer per message" streaming methods (server reflection is one).

Errors a handler raises as ``GrpcError`` become that gRPC status; any other exception becomes
UNKNOWN. Flow control is honoured both ways: large answers wait for the peer's WINDOW_UPDATE.
Shutdown sends GOAWAY, lets in-flight calls finish, then closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any

from wharf.grpc_h2 import frames as f
from wharf.grpc_h2.connection import H2Endpoint, H2Stream, Limits

log = logging.getLogger(__name__)

Metadata = dict[str, str]
UnaryHandler = Callable[[bytes, Metadata], bytes | Awaitable[bytes]]
StreamHandler = Callable[[bytes], bytes]
SpanFactory = Callable[[str, Metadata], AbstractContextManager[Any]]

# gRPC status codes used here (the full table is grpc.StatusCode)
CANCELLED, UNKNOWN, INTERNAL, UNIMPLEMENTED, RESOURCE_EXHAUSTED = 1, 2, 13, 12, 8

DEFAULT_MAX_RECEIVE = 4 * 1024 * 1024  # grpcio's default
_MAX_STATUS_MESSAGE = 4096
_CLOSED_REMEMBERED = 256  # recently closed streams, to tell "closed" from "never opened"


GrpcError = f.GrpcError


class _Stream(H2Stream):
    __slots__ = (
        "path",
        "metadata",
        "encoding",
        "buffer",
        "chunks",
        "received",
        "remote_closed",
        "handler",
        "streaming",
        "headers_sent",
        "content_length",
        "data_length",
    )

    def __init__(self, stream_id: int, send_window: int) -> None:
        super().__init__(stream_id, send_window)
        self.path = ""
        self.metadata: Metadata = {}
        self.encoding = "identity"
        self.buffer = b""  # streaming calls: bytes of a message not complete yet
        self.chunks: list[bytes] = []  # unary calls: the request as it arrived
        self.received = 0
        self.remote_closed = False
        self.handler: Any = None
        self.streaming = False
        self.headers_sent = False
        self.content_length: int | None = None  # as the request declared it, checked at its end
        self.data_length = 0

    def held(self) -> int:
        """Request bytes this stream keeps until its message is complete."""
        return self.received if not self.streaming else len(self.buffer)


class GrpcConnection(H2Endpoint):
    def __init__(self, server: GrpcServer) -> None:
        super().__init__(server.limits)
        self.server = server
        # closed streams by id, newest last: True when we reset it (its late frames are ignored),
        # False when it ended or the client reset it (a frame on it is a STREAM_CLOSED error)
        self.closed: dict[int, bool] = {}
        self.last_stream_id = 0
        self.going_away = False
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        for stream in self.streams.values():
            stream.done = True
        self.streams.clear()
        self.blocked.clear()
        self.idle.set()

    def last_peer_stream(self) -> int:
        return self.last_stream_id

    def go_away(self) -> None:
        """Refuse new calls, let the ones in flight finish; the connection closes when idle."""
        if self.going_away or self.transport is None:
            return
        self.going_away = True
        self.emit(f.goaway(self.last_stream_id, f.NO_ERROR))
        self._maybe_idle()

    # --- frames in ------------------------------------------------------------------------

    def stream_state(self, stream_id: int) -> str:
        if stream_id in self.streams:
            return "open"
        return "idle" if stream_id % 2 == 0 or stream_id > self.last_stream_id else "closed"

    def _closed(self, stream_id: int, by_us: bool) -> None:
        self.closed[stream_id] = by_us
        if len(self.closed) > _CLOSED_REMEMBERED:
            del self.closed[next(iter(self.closed))]

    def stream_error(self, exc: f.StreamError) -> None:
        stream = self.streams.get(exc.stream_id)
        if stream is not None:
            self.consumed(stream.held())
        super().stream_error(exc)
        self._closed(exc.stream_id, True)
        self._maybe_idle()

    def on_goaway(self, last_stream_id: int, code: int) -> None:
        # The client will open no more streams; ours finish, and the client closes the connection
        # (closing it here with its frames unread would reset it under the client's feet).
        if not self.going_away:
            self.going_away = True
            self.emit(f.goaway(self.last_stream_id, f.NO_ERROR))

    def on_reset(self, stream_id: int, code: int) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is not None:
            stream.done = True
            self.consumed(stream.held())
            self._closed(stream_id, False)
            self._maybe_idle()

    def on_header_block(self, stream_id: int, flags: int, headers: list[tuple[str, str]]) -> None:
        existing = self.streams.get(stream_id)
        if existing is not None:  # trailers from the client: only END_STREAM matters
            if existing.remote_closed:
                raise f.StreamError(stream_id, "HEADERS after END_STREAM", f.STREAM_CLOSED)
            if not flags & f.END_STREAM:
                raise f.StreamError(stream_id, "a second HEADERS without END_STREAM")
            problem = f.request_header_problem(headers, trailers=True)
            if problem:
                raise f.StreamError(stream_id, f"malformed trailers: {problem}")
            existing.remote_closed = True
            if existing.done:
                self._release(existing)
            else:
                self._end_of_request(existing)
            return
        if stream_id % 2 == 0:
            raise f.ProtocolError(f"stream id {stream_id} is not a client stream")
        if stream_id <= self.last_stream_id:
            by_us = self.closed.get(stream_id)
            if by_us:
                return  # a stream we reset: frames the client sent before it knew are ignored
            if by_us is None:
                raise f.ProtocolError(f"stream id {stream_id} is lower than {self.last_stream_id}, already used")
            raise f.ProtocolError(f"HEADERS on closed stream {stream_id}", f.STREAM_CLOSED)
        self.last_stream_id = stream_id
        if self.going_away or len(self.streams) >= self.limits.max_concurrent_streams:
            self.emit(f.rst_stream(stream_id, f.REFUSED_STREAM))
            self._closed(stream_id, True)
            return
        problem = f.request_header_problem(headers)
        if problem:
            raise f.StreamError(stream_id, f"malformed request: {problem}")
        stream = _Stream(stream_id, self.peer_initial_window)
        stream.remote_closed = bool(flags & f.END_STREAM)
        self.streams[stream_id] = stream
        self.idle.clear()
        method = content_type = ""
        for name, value in headers:
            if name[0] == ":":
                if name == ":path":
                    stream.path = value
                elif name == ":method":
                    method = value
            elif name == "content-type":
                content_type = value
            elif name == "grpc-encoding":
                stream.encoding = value
            elif name == "content-length":
                if not value.isdigit():
                    raise f.StreamError(stream_id, f"content-length {value!r} is not a number")
                stream.content_length = int(value)
            elif name not in ("te", "grpc-timeout", "grpc-accept-encoding", "user-agent"):
                stream.metadata[name] = value
        if not content_type.startswith("application/grpc"):
            self._http_error(stream, 415, f"invalid gRPC request content-type {content_type!r}")
            return
        if method != "POST":
            self._http_error(stream, 405, f"invalid gRPC request method {method!r}")
            return
        unary = self.server.unary.get(stream.path)
        if unary is not None:
            stream.handler = unary
        else:
            stream.handler = self.server.streaming.get(stream.path)
            stream.streaming = True
            if stream.handler is None:
                self._finish(stream, UNIMPLEMENTED, f"Method not found: {stream.path}")
                return
        if stream.remote_closed:
            self._check_length(stream)
            self._end_of_request(stream)

    def _check_length(self, stream: _Stream) -> None:
        if stream.content_length is not None and stream.content_length != stream.data_length:
            raise f.StreamError(
                stream.id, f"content-length {stream.content_length} but {stream.data_length} bytes of DATA"
            )

    def on_data(self, stream_id: int, flags: int, data: bytes) -> None:
        stream = self.streams.get(stream_id)
        if stream is None or stream.done:
            self.consumed(len(data))  # dropped: the client may have its credit back
            if stream is not None:  # answered before the request ended: the rest is not needed
                stream.data_length += len(data)
                if flags & f.END_STREAM:
                    stream.remote_closed = True
                    self._release(stream)
                    self._check_length(stream)
                return
            if stream_id % 2 == 0 or stream_id > self.last_stream_id:
                raise f.ProtocolError(f"DATA on idle stream {stream_id}")
            if not self.closed.get(stream_id, False):  # not one we reset: RFC 9113 5.1
                raise f.StreamError(stream_id, f"DATA on closed stream {stream_id}", f.STREAM_CLOSED)
            return
        if stream.remote_closed:
            self.consumed(len(data))
            raise f.StreamError(stream_id, f"DATA after END_STREAM on stream {stream_id}", f.STREAM_CLOSED)
        stream.data_length += len(data)
        if stream.streaming:
            stream.buffer += data
            if self._over_limit(stream, f.pending_message_size(stream.buffer) or 0):
                return
            before = len(stream.buffer)
            messages, stream.buffer = f.split_messages(stream.buffer)
            self.consumed(before - len(stream.buffer))
            for message in messages:
                self._answer_stream_message(stream, message)
                if stream.done:
                    return
        elif data:
            # unary: chunks are joined once at the end (a 4 MB message arrives as 256 frames)
            stream.chunks.append(data)
            stream.received += len(data)
            # the declared size as soon as the 5-byte prefix is in; the total bounds the rest
            declared = f.pending_message_size(b"".join(stream.chunks[:5])) if stream.received - len(data) < 5 else None
            if self._over_limit(stream, max(declared or 0, stream.received - 5)):
                return
        if flags & f.END_STREAM:
            stream.remote_closed = True
            self._check_length(stream)
            self._end_of_request(stream)
        elif self.recv_window <= 0:
            self._connection_buffer_full()

    def _connection_buffer_full(self) -> None:
        """Unfinished messages hold the whole connection window: the client can send nothing more,
        so none of them could ever complete. The one holding the most is refused to free room."""
        biggest = max((s for s in self.streams.values() if not s.done), key=_Stream.held, default=None)
        if biggest is None or not biggest.held():
            return
        held = biggest.held()
        self._drop_request(biggest)
        self._finish(
            biggest,
            RESOURCE_EXHAUSTED,
            f"unfinished requests on this connection hold its whole receive "
            f"window ({self.limits.connection_window} bytes); this one held {held}",
        )

    def _drop_request(self, stream: _Stream) -> None:
        self.consumed(stream.held())
        stream.chunks, stream.buffer, stream.received = [], b"", 0

    def _over_limit(self, stream: _Stream, size: int) -> bool:
        limit = self.server.max_receive_bytes
        if size > limit:
            self._drop_request(stream)
            self._finish(stream, RESOURCE_EXHAUSTED, f"Received message larger than max ({size} vs. {limit})")
            return True
        return False

    # --- calls ----------------------------------------------------------------------------

    def _end_of_request(self, stream: _Stream) -> None:
        if stream.done:
            return
        if stream.streaming:
            if stream.buffer:
                self._finish(stream, INTERNAL, "the stream ended inside a message")
            else:
                self._finish(stream, 0)
            return
        try:
            message = f.only_message(b"".join(stream.chunks), "the request of a unary call")
        except GrpcError as exc:
            self._failed(stream, exc)
            return
        finally:
            self._drop_request(stream)
        if self.server.span is not None:  # traced: the whole call in one task, inside its span
            self.in_flight += 1
            asyncio.ensure_future(self._await_answer(stream, self._traced_call(stream, message)))
            return
        try:
            result = stream.handler(
                f.message_payload(message, stream.encoding, self.server.max_receive_bytes), stream.metadata
            )
        except Exception as exc:  # noqa: BLE001 - the caller gets a status, we carry on
            self._failed(stream, exc)
            return
        if type(result) is bytes:
            self._answer(stream, result)
        elif isinstance(result, asyncio.Future):
            # a future (the component's model thread hands one back): answered from its callback,
            # without a task per call, which cost ~6 us of a ~50 us call
            self.in_flight += 1
            result.add_done_callback(lambda done, stream=stream: self._future_answered(stream, done))
        else:
            self.in_flight += 1
            asyncio.ensure_future(self._await_answer(stream, result))

    def _failed(self, stream: _Stream, exc: Exception) -> None:
        """A handler's GrpcError is its status; anything else is a bug: UNKNOWN, and logged."""
        if isinstance(exc, GrpcError):
            self._finish(stream, exc.code, exc.message)
        else:
            log.error("gRPC %s failed", stream.path, exc_info=exc)
            self._finish(stream, UNKNOWN, f"{type(exc).__name__}: {exc}")

    async def _traced_call(self, stream: _Stream, message: f.Message) -> bytes:
        with self.server.span(stream.path, stream.metadata):
            result = stream.handler(
                f.message_payload(message, stream.encoding, self.server.max_receive_bytes), stream.metadata
            )
            return result if type(result) is bytes else await result

    async def _await_answer(self, stream: _Stream, pending: Awaitable[bytes]) -> None:
        try:
            result = await pending
        except Exception as exc:  # noqa: BLE001
            self._failed(stream, exc)
        else:
            self._answer(stream, result)
        finally:
            self.in_flight -= 1
            self._maybe_idle()

    def _future_answered(self, stream: _Stream, done: asyncio.Future[bytes]) -> None:
        try:
            if done.cancelled():
                self._failed(stream, GrpcError(CANCELLED, "the call was cancelled"))
            elif (exc := done.exception()) is not None:
                self._failed(stream, exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
            else:
                self._answer(stream, done.result())
        finally:
            self.in_flight -= 1
            self._maybe_idle()

    def _answer_stream_message(self, stream: _Stream, message: f.Message) -> None:
        try:
            answer = stream.handler(f.message_payload(message, stream.encoding, self.server.max_receive_bytes))
        except Exception as exc:  # noqa: BLE001
            self._failed(stream, exc)
            return
        if not stream.headers_sent:
            stream.headers_sent = True
            self.queue_headers(stream, f.RESPONSE_HEADERS)
        self.queue_data(stream, f.grpc_message(answer))

    # --- frames out -----------------------------------------------------------------------

    def _answer(self, stream: _Stream, payload: bytes) -> None:
        if stream.done:
            return
        message = f.grpc_message(payload)
        if self.send_all_now(stream, len(message)):
            # the common case, one write: HEADERS, DATA, trailers
            self.emit(
                f.frame(f.HEADERS, f.END_HEADERS, stream.id, f.RESPONSE_HEADERS)
                + f.frame(f.DATA, 0, stream.id, message)
                + f.frame(f.HEADERS, f.END_HEADERS | f.END_STREAM, stream.id, f.TRAILERS_OK)
            )
            stream.done = True
            self.on_stream_done(stream)
            return
        stream.headers_sent = True
        self.queue_headers(stream, f.RESPONSE_HEADERS)
        self.queue_data(stream, message)
        self._finish(stream, 0)

    def _finish(self, stream: _Stream, code: int, message: str = "") -> None:
        """Trailers (after any data still waiting for window), then the stream is done."""
        if stream.done:
            return
        block = f.TRAILERS_OK if code == 0 else f.trailers(code, message[:_MAX_STATUS_MESSAGE])
        if not stream.headers_sent:  # trailers-only answer
            stream.headers_sent = True
            block = f.RESPONSE_HEADERS + block
        self.queue_headers(stream, block, end_stream=True)

    def _http_error(self, stream: _Stream, status: int, text: str) -> None:
        """A plain-text answer with a body, as grpc-go gives a request that is not gRPC."""
        stream.headers_sent = True
        self.queue_headers(stream, f.http_error_headers(status))
        self.queue_data(stream, text.encode(), end_stream=True)

    def on_stream_done(self, stream: H2Stream) -> None:
        if stream.remote_closed:
            self._release(stream)
        else:
            # Answered before the request ended (an error, or not gRPC at all): the stream stays
            # half-closed until the client ends or resets it, as RFC 9113 has it, so that what the
            # client still sends on it is checked; its data is dropped and it gets no more window.
            # It still counts against SETTINGS_MAX_CONCURRENT_STREAMS.
            self._drop_request(stream)

    def _release(self, stream: _Stream) -> None:
        if self.streams.pop(stream.id, None) is not None:
            self._closed(stream.id, False)
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        if not self.streams and not self.in_flight:
            self.idle.set()
            if self.going_away:
                self.close_soon()


class GrpcServer:
    def __init__(
        self,
        unary: dict[str, UnaryHandler],
        streaming: dict[str, StreamHandler] | None = None,
        max_receive_bytes: int | None = None,
        span: SpanFactory | None = None,
        limits: Limits | None = None,
    ) -> None:
        """``span(path, metadata)``, when given, is a context manager around every unary call
        (tracing); an exception leaving it carries the call's status as ``.code``. ``limits``
        bounds what one client may make the server hold (see ``Limits``); by default the
        connection window holds four messages of ``max_receive_bytes`` (at least 16 MiB)."""
        self.unary = unary
        self.span = span
        self.streaming = streaming or {}
        self.max_receive_bytes = max_receive_bytes or DEFAULT_MAX_RECEIVE
        self.limits = limits or Limits(connection_window=max(16 << 20, 4 * (self.max_receive_bytes + 5)))
        self.connections: set[GrpcConnection] = set()
        self._server: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int, reuse_port: bool = True) -> None:
        """Listen on ``host:port``; several worker processes may share it (SO_REUSEPORT)."""
        try:
            self._server = await asyncio.get_running_loop().create_server(
                lambda: GrpcConnection(self), host, port, reuse_port=reuse_port, backlog=1024
            )
        except OSError as exc:
            target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            raise OSError(f"cannot listen on {target} for gRPC ({exc.strerror or exc})") from exc

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def stop(self, grace: float) -> None:
        """Stop accepting, GOAWAY every connection, wait up to ``grace`` s for calls in flight."""
        if self._server is None:
            return
        self._server.close()
        connections = list(self.connections)
        for conn in connections:
            conn.go_away()
        if connections:
            waits = [asyncio.ensure_future(c.idle.wait()) for c in connections]
            _, not_done = await asyncio.wait(waits, timeout=grace)
            for w in not_done:
                w.cancel()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        await self._server.wait_closed()
