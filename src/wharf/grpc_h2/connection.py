"""What both ends of an HTTP/2 connection do alike: read frames, keep SETTINGS, answer PING,
and send each stream's frames as far as the peer's flow-control windows allow.

The server (``server.py``) and the client (``client.py``) subclass ``H2Endpoint`` and decide
what a header block, a piece of DATA, a reset and a GOAWAY mean for their streams. Frames
produced while handling one read leave in one write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import hpack

from wharf.grpc_h2 import frames as f

log = logging.getLogger(__name__)

_DECODED_CACHE = 256  # header blocks remembered per connection


class Limits:
    """What one peer may make an endpoint hold or do; the defaults follow Go's x/net/http2 and nghttp2.

    - ``max_header_list``: decoded header list (name + value + 32 per field, as RFC 9113 counts),
      advertised as SETTINGS_MAX_HEADER_LIST_SIZE. A header block (HEADERS and its CONTINUATION
      frames, still compressed) over twice that closes the connection with PROTOCOL_ERROR before
      more of it is kept, as Go's server does against endless CONTINUATION frames.
    - ``max_concurrent_streams``: advertised; a stream beyond it is refused (REFUSED_STREAM, which
      a gRPC client retries on its own). 100 is the smallest value RFC 9113 recommends and
      nghttp2's default (Go's server uses 250).
    - ``stream_window``: SETTINGS_INITIAL_WINDOW_SIZE, 1 MiB as Go's server. A stream's window is
      topped up as its data arrives, so one large message does not wait on round trips.
    - ``connection_window``: request bytes received and not yet handed to a handler, across the
      connection's streams. A server gives this credit back only once a message is consumed, so
      unfinished messages cannot hold more than this; when they fill it, the stream holding the
      most is answered RESOURCE_EXHAUSTED instead of all of them waiting forever.
    - ``max_control_frames``: PING, SETTINGS, PRIORITY, RST_STREAM and empty DATA frames a peer may
      send per second; past it the connection ends with GOAWAY ENHANCE_YOUR_CALM (nghttp2 and
      grpc-core treat such floods the same way).
    A peer that does not read what we send is not read from either while our output waits
    (asyncio's pause_writing), so answers to a flood cannot pile up in memory.
    """

    __slots__ = (
        "max_header_list",
        "max_concurrent_streams",
        "stream_window",
        "connection_window",
        "max_control_frames",
    )

    def __init__(
        self,
        max_header_list: int = 64 * 1024,
        max_concurrent_streams: int = 100,
        stream_window: int = 1 << 20,
        connection_window: int = 16 << 20,
        max_control_frames: int = 1000,
    ) -> None:
        self.max_header_list = max_header_list
        self.max_concurrent_streams = max_concurrent_streams
        self.stream_window = min(stream_window, f.MAX_WINDOW)
        self.connection_window = max(f.DEFAULT_WINDOW, min(connection_window, f.MAX_WINDOW))
        self.max_control_frames = max_control_frames


class H2Stream:
    """The sending side of one stream; subclasses add what they receive."""

    __slots__ = ("id", "send_window", "pending", "done", "recv_unacked")

    def __init__(self, stream_id: int, send_window: int) -> None:
        self.id = stream_id
        self.send_window = send_window
        self.recv_unacked = 0  # DATA bytes received on this stream since its last WINDOW_UPDATE
        self.pending: list[tuple[int, int, bytes]] = []  # frames waiting for flow-control window
        self.done = False  # our side sent END_STREAM, or the stream was reset


class H2Endpoint(asyncio.Protocol):
    client_side = False

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits = limits or Limits()
        self.transport: asyncio.Transport | None = None
        self.decoder = hpack.Decoder(max_header_list_size=limits.max_header_list)
        self.decoded: dict[bytes, list[tuple[str, str]]] = {}
        self.streams: dict[int, Any] = {}
        self.preface_seen = self.client_side  # only a server waits for the client's preface
        self.buf = b""
        self.out: list[bytes] | None = None  # frames collected during one data_received: one write
        self.header_block: tuple[int, int, list[bytes]] | None = None  # (stream, flags, fragments)
        self.header_block_size = 0
        self.peer_initial_window = f.DEFAULT_WINDOW
        self.peer_max_frame = f.DEFAULT_MAX_FRAME
        self.send_window = f.DEFAULT_WINDOW
        self.received_unacked = 0  # connection credit consumed and not yet given back
        self.recv_window = limits.connection_window  # what the peer may still send us
        self.blocked: dict[int, H2Stream] = {}
        self.close_after_flush = False
        self.aborted = False  # a GOAWAY for an error went out: what arrives now is dropped
        self.control_frames = 0
        self.control_since = 0.0

    # --- connection -------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        limits = self.limits
        settings = {
            f.INITIAL_WINDOW_SIZE: limits.stream_window,
            f.ENABLE_PUSH: 0,
            f.MAX_HEADER_LIST_SIZE: limits.max_header_list,
        }
        if not self.client_side:
            settings[f.MAX_CONCURRENT_STREAMS] = limits.max_concurrent_streams
        transport.write(
            (f.PREFACE if self.client_side else b"")
            + f.settings_frame(settings)
            + (
                f.window_update(0, limits.connection_window - f.DEFAULT_WINDOW)
                if limits.connection_window > f.DEFAULT_WINDOW
                else b""
            )
        )

    def pause_writing(self) -> None:
        # The peer is not reading our answers: stop reading its frames until it does, so that
        # what it makes us answer (PING and SETTINGS ACKs, responses) cannot grow without bound.
        if self.transport is not None and not self.transport.is_closing() and not self.aborted:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.aborted:
            return
        self.out = []
        try:
            self._receive(data)
        except f.ProtocolError as exc:
            self.header_block = None  # a refused header block's fragments go with the connection
            log.warning("HTTP/2 connection closed: %s", exc)
            self._abort(exc.code, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug here must cost one connection, not the process
            log.exception("HTTP/2 connection closed after an internal error")
            self._abort(f.INTERNAL_ERROR, f"internal error: {type(exc).__name__}")
            return
        self._flush_out()
        if self.close_after_flush:
            self.transport.close()

    def _abort(self, code: int, message: str) -> None:
        """GOAWAY, then close. What the peer still sends is read and dropped for a second first:
        closing with its bytes unread would reset the connection, and a reset can destroy the
        GOAWAY before the peer reads it (Go's server waits a second too)."""
        self.out = (self.out or []) + [f.goaway(self.last_peer_stream(), code, message)]
        self._flush_out()
        self.aborted = True
        self.blocked.clear()
        self.buf = b""
        self.header_block = None
        transport = self.transport
        if transport.can_write_eof():
            transport.write_eof()
        transport.resume_reading()
        asyncio.get_running_loop().call_later(1.0, transport.close)

    def last_peer_stream(self) -> int:
        return 0

    def _flush_out(self) -> None:
        out, self.out = self.out, None
        if out and self.transport is not None and not self.transport.is_closing() and not self.aborted:
            self.transport.write(b"".join(out))

    def emit(self, data: bytes) -> None:
        if self.out is not None:
            self.out.append(data)
        elif self.transport is not None and not self.transport.is_closing() and not self.aborted:
            self.transport.write(data)

    def close_soon(self) -> None:
        """Close once what is written so far has gone out."""
        if self.transport is None:
            return
        if self.out is None:
            self.transport.close()  # asyncio sends buffered writes before closing
        else:
            self.close_after_flush = True

    # --- what subclasses decide -------------------------------------------------------------

    def on_header_block(self, stream_id: int, flags: int, headers: list[tuple[str, str]]) -> None:
        raise NotImplementedError

    def on_data(self, stream_id: int, flags: int, data: bytes) -> None:
        raise NotImplementedError

    def on_reset(self, stream_id: int, code: int) -> None:
        raise NotImplementedError

    def on_goaway(self, last_stream_id: int, code: int) -> None:
        raise NotImplementedError

    def on_stream_done(self, stream: H2Stream) -> None:
        """Our END_STREAM for ``stream`` has been written."""

    # --- frames in --------------------------------------------------------------------------

    def _receive(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        if not self.preface_seen:
            if not (f.PREFACE.startswith(buf) if len(buf) < len(f.PREFACE) else buf.startswith(f.PREFACE)):
                raise f.ProtocolError("not an HTTP/2 client (gRPC needs HTTP/2 with prior knowledge)")
            if len(buf) < len(f.PREFACE):
                self.buf = buf
                return
            buf = buf[len(f.PREFACE) :]
            self.preface_seen = True
        pos, n = 0, len(buf)
        while n - pos >= 9:
            length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
            if length > f.DEFAULT_MAX_FRAME:
                raise f.ProtocolError(
                    f"frame of {length} bytes is over our SETTINGS_MAX_FRAME_SIZE", f.FRAME_SIZE_ERROR
                )
            end = pos + 9 + length
            if end > n:
                break
            kind, flags = buf[pos + 3], buf[pos + 4]
            stream_id = int.from_bytes(buf[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
            payload = buf[pos + 9 : end]
            pos = end
            if self.header_block is not None and kind != f.CONTINUATION:
                raise f.ProtocolError("header block interrupted by another frame")
            try:
                if kind == f.DATA:  # the two frames every call has, without a further dispatch
                    self._on_data(stream_id, flags, payload, length)
                elif kind == f.HEADERS:
                    self._on_headers(stream_id, flags, payload)
                else:
                    self._frame(kind, flags, stream_id, payload, length)
            except f.StreamError as exc:
                self.stream_error(exc)
        self.buf = buf[pos:]

    def _frame(self, kind: int, flags: int, stream_id: int, payload: bytes, length: int) -> None:
        if kind == f.CONTINUATION:
            self._on_continuation(stream_id, flags, payload)
        elif kind == f.SETTINGS:
            self._on_settings(stream_id, flags, payload)
        elif kind == f.WINDOW_UPDATE:
            self._on_window_update(stream_id, payload)
        elif kind == f.PING:
            if stream_id != 0:
                raise f.ProtocolError("PING on a stream")
            if len(payload) != 8:
                raise f.ProtocolError("PING payload must be 8 bytes", f.FRAME_SIZE_ERROR)
            if not flags & f.ACK:
                self.count_control_frame("PING")
                self.emit(f.frame(f.PING, f.ACK, 0, payload))
        elif kind == f.RST_STREAM:
            if stream_id == 0:
                raise f.ProtocolError("RST_STREAM on stream 0")
            if len(payload) != 4:
                raise f.ProtocolError("RST_STREAM payload must be 4 bytes", f.FRAME_SIZE_ERROR)
            if self.stream_state(stream_id) == "idle":
                raise f.ProtocolError(f"RST_STREAM on idle stream {stream_id}")
            self.count_control_frame("RST_STREAM")
            self.blocked.pop(stream_id, None)
            self.on_reset(stream_id, int.from_bytes(payload, "big"))
        elif kind == f.PRIORITY:
            if stream_id == 0:
                raise f.ProtocolError("PRIORITY on stream 0")
            if len(payload) != 5:
                raise f.StreamError(stream_id, "PRIORITY payload must be 5 bytes", f.FRAME_SIZE_ERROR)
            self.count_control_frame("PRIORITY")
            if int.from_bytes(payload[:4], "big") & 0x7FFFFFFF == stream_id:
                raise f.StreamError(stream_id, "stream depends on itself")
        elif kind == f.GOAWAY:
            if stream_id != 0:
                raise f.ProtocolError("GOAWAY on a stream")
            if len(payload) < 8:
                raise f.ProtocolError("GOAWAY payload shorter than 8 bytes", f.FRAME_SIZE_ERROR)
            self.on_goaway(int.from_bytes(payload[:4], "big") & 0x7FFFFFFF, int.from_bytes(payload[4:8], "big"))
        elif kind == f.PUSH_PROMISE:
            raise f.ProtocolError("PUSH_PROMISE is disabled on this connection")
        # unknown frame types are ignored, as RFC 9113 asks

    def count_control_frame(self, what: str) -> None:
        """One more frame that costs us work and does no call any good; too many end the connection."""
        now = time.monotonic()
        if now - self.control_since >= 1.0:
            self.control_since, self.control_frames = now, 0
        self.control_frames += 1
        if self.control_frames > self.limits.max_control_frames:
            raise f.ProtocolError(
                f"flood: over {self.limits.max_control_frames} {what} and other control frames in one second",
                f.ENHANCE_YOUR_CALM,
            )

    def stream_state(self, stream_id: int) -> str:
        """ "idle" (never opened), "open" or "closed", as the subclass's bookkeeping knows it."""
        return "open" if stream_id in self.streams else "closed"

    def stream_error(self, exc: f.StreamError) -> None:
        """Reset one stream: forget it and tell the peer why."""
        self.blocked.pop(exc.stream_id, None)
        stream = self.streams.pop(exc.stream_id, None)
        if stream is not None:
            stream.done = True
        log.info("HTTP/2 stream %d reset: %s", exc.stream_id, exc)
        self.emit(f.rst_stream(exc.stream_id, exc.code))

    def _on_headers(self, stream_id: int, flags: int, payload: bytes) -> None:
        if stream_id == 0:
            raise f.ProtocolError("HEADERS on stream 0")
        payload = f.strip_padding(flags, payload)
        if flags & f.PRIORITY_FLAG:
            if len(payload) < 5:
                raise f.ProtocolError("HEADERS too short for its priority fields", f.FRAME_SIZE_ERROR)
            depends_on_itself = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF == stream_id
            payload = payload[5:]
        else:
            depends_on_itself = False
        self._check_block_size(len(payload))
        if flags & f.END_HEADERS:
            self._on_header_block(stream_id, flags, payload)
        else:
            self.header_block_size = len(payload)
            self.header_block = (stream_id, flags, [payload])
        if depends_on_itself:
            raise f.StreamError(stream_id, "stream depends on itself")

    def _check_block_size(self, size: int) -> None:
        limit = 2 * self.limits.max_header_list
        if size > limit:
            raise f.ProtocolError(
                f"header block over {limit} bytes (SETTINGS_MAX_HEADER_LIST_SIZE is {self.limits.max_header_list})"
            )

    def _on_continuation(self, stream_id: int, flags: int, payload: bytes) -> None:
        if self.header_block is None or self.header_block[0] != stream_id:
            raise f.ProtocolError("CONTINUATION without a header block to continue")
        self.header_block_size += len(payload)
        self._check_block_size(self.header_block_size)
        self.header_block[2].append(payload)
        if flags & f.END_HEADERS:
            sid, first_flags, parts = self.header_block
            self.header_block = None
            self._on_header_block(sid, first_flags, b"".join(parts))

    def _on_header_block(self, stream_id: int, flags: int, block: bytes) -> None:
        headers = self.decoded.get(block)
        if headers is None:
            headers = self._decode(block)
        self.on_header_block(stream_id, flags, headers)

    def _decode(self, block: bytes) -> list[tuple[str, str]]:
        """Decode with the ``hpack`` library, remembering blocks that leave the table unchanged.

        Peers send the same few blocks over and over (fully indexed once their table is warm; ours
        never index at all), and the same bytes against the same table mean the same headers. Any
        block that changes the table clears what was remembered.
        """
        table = self.decoder.header_table
        before = (
            table.dynamic_entries[0] if table.dynamic_entries else None,
            len(table.dynamic_entries),
            table.maxsize,
        )
        try:  # always decoded, even for a stream we drop: the HPACK table must stay in step
            headers = self.decoder.decode(block)
        except hpack.OversizedHeaderListError as exc:
            raise f.ProtocolError(
                f"header list over SETTINGS_MAX_HEADER_LIST_SIZE ({self.limits.max_header_list} bytes)"
            ) from exc
        except hpack.HPACKError as exc:
            raise f.ProtocolError(f"bad header block: {exc}", f.COMPRESSION_ERROR) from exc
        after = (table.dynamic_entries[0] if table.dynamic_entries else None, len(table.dynamic_entries), table.maxsize)
        if after[0] is not before[0] or after[1:] != before[1:]:
            self.decoded.clear()
        elif len(self.decoded) < _DECODED_CACHE:
            self.decoded[block] = headers
        return headers

    def _on_data(self, stream_id: int, flags: int, payload: bytes, length: int) -> None:
        if stream_id == 0:
            raise f.ProtocolError("DATA on stream 0")
        self.recv_window -= length
        if self.recv_window < 0:
            raise f.ProtocolError("DATA beyond the connection's flow-control window", f.FLOW_CONTROL_ERROR)
        data = f.strip_padding(flags, payload)
        self.consumed(length - len(data))  # padding is never kept
        if not data and not flags & f.END_STREAM:
            self.count_control_frame("empty DATA")
        stream = self.streams.get(stream_id)
        # a server's stream that is done has answered and drops what follows; a client's is done
        # once its request is sent, and the answer still comes
        if stream is not None and data and (self.client_side or not stream.done):
            stream.recv_unacked += length
            if stream.recv_unacked >= self.limits.stream_window // 2:
                self.emit(f.window_update(stream_id, stream.recv_unacked))
                stream.recv_unacked = 0
        self.on_data(stream_id, flags, data)

    def consumed(self, size: int) -> None:
        """``size`` bytes of DATA are no longer held: give the peer that much connection credit back
        (in batches of a quarter window, so small calls never cost a WINDOW_UPDATE)."""
        if size <= 0:
            return
        self.received_unacked += size
        if self.received_unacked >= self.limits.connection_window // 4:
            self.emit(f.window_update(0, self.received_unacked))
            self.recv_window += self.received_unacked
            self.received_unacked = 0

    def _on_settings(self, stream_id: int, flags: int, payload: bytes) -> None:
        if stream_id != 0:
            raise f.ProtocolError("SETTINGS on a stream")
        if flags & f.ACK:
            if payload:
                raise f.ProtocolError("SETTINGS ACK with a payload", f.FRAME_SIZE_ERROR)
            return
        self.count_control_frame("SETTINGS")
        for key, value in f.parse_settings(payload).items():
            if key == f.INITIAL_WINDOW_SIZE:
                if value > f.MAX_WINDOW:
                    raise f.ProtocolError("SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1", f.FLOW_CONTROL_ERROR)
                delta, self.peer_initial_window = value - self.peer_initial_window, value
                for stream in self.streams.values():
                    stream.send_window += delta
            elif key == f.MAX_FRAME_SIZE:
                if not f.DEFAULT_MAX_FRAME <= value <= 16_777_215:
                    raise f.ProtocolError(f"SETTINGS_MAX_FRAME_SIZE {value} out of range")
                self.peer_max_frame = value
            elif key == f.ENABLE_PUSH and value > 1:
                raise f.ProtocolError(f"SETTINGS_ENABLE_PUSH {value} is neither 0 nor 1")
            else:
                self.on_setting(key, value)
        self.emit(f.frame(f.SETTINGS, f.ACK, 0))
        self._send_blocked()

    def on_setting(self, key: int, value: int) -> None:
        """A setting the shared code does not act on (e.g. MAX_CONCURRENT_STREAMS for a client)."""

    def _on_window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise f.ProtocolError("WINDOW_UPDATE payload must be 4 bytes", f.FRAME_SIZE_ERROR)
        increment = int.from_bytes(payload, "big") & 0x7FFFFFFF
        if increment == 0:
            raise f.ProtocolError("WINDOW_UPDATE with an increment of 0")
        if stream_id == 0:
            self.send_window += increment
            if self.send_window > f.MAX_WINDOW:
                raise f.ProtocolError("connection window above 2^31-1", f.FLOW_CONTROL_ERROR)
        else:
            if self.stream_state(stream_id) == "idle":
                raise f.ProtocolError(f"WINDOW_UPDATE on idle stream {stream_id}")
            stream = self.streams.get(stream_id)
            if stream is None:
                return
            stream.send_window += increment
            if stream.send_window > f.MAX_WINDOW:
                raise f.StreamError(stream_id, "stream window above 2^31-1", f.FLOW_CONTROL_ERROR)
        self._send_blocked()

    # --- frames out -------------------------------------------------------------------------

    def send_all_now(self, stream: H2Stream, size: int) -> bool:
        """True when ``size`` bytes of DATA may go out at once (and takes them from the windows)."""
        if stream.pending or size > self.send_window or size > stream.send_window or size > self.peer_max_frame:
            return False
        self.send_window -= size
        stream.send_window -= size
        return True

    def queue_data(self, stream: H2Stream, data: bytes, end_stream: bool = False) -> None:
        step = self.peer_max_frame
        chunks = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
        stream.pending.extend((f.DATA, 0, chunk) for chunk in chunks)
        if end_stream:
            kind, _, last = stream.pending[-1]
            stream.pending[-1] = (kind, f.END_STREAM, last)
        self.drain(stream)

    def queue_headers(self, stream: H2Stream, block: bytes, end_stream: bool = False) -> None:
        stream.pending.append((f.HEADERS, f.END_HEADERS | (f.END_STREAM if end_stream else 0), block))
        self.drain(stream)

    def drain(self, stream: H2Stream) -> None:
        """Send this stream's queued frames as far as the flow-control windows allow."""
        pending = stream.pending
        while pending and not stream.done:
            kind, flags, payload = pending[0]
            if kind == f.DATA and payload:
                room = min(self.send_window, stream.send_window)
                if room <= 0:
                    self.blocked[stream.id] = stream
                    return
                if len(payload) > room:
                    pending[0] = (kind, 0, payload[room:])
                    payload, flags = payload[:room], 0  # END_STREAM stays with the last piece
                else:
                    pending.pop(0)
                self.send_window -= len(payload)
                stream.send_window -= len(payload)
            else:
                pending.pop(0)
            self.emit(f.frame(kind, flags, stream.id, payload))
            if flags & f.END_STREAM:
                stream.done = True
                self.blocked.pop(stream.id, None)
                self.on_stream_done(stream)
                return
        self.blocked.pop(stream.id, None)

    def _send_blocked(self) -> None:
        for stream in list(self.blocked.values()):
            if self.send_window <= 0:
                return
            self.drain(stream)
