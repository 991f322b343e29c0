"""What both ends of an HTTP/2 connection do alike: read frames, keep SETTINGS, answer PING,
and send each stream's frames as far as the peer's flow-control windows allow.

The server (``server.py``) and the client (``client.py``) subclass ``H2Endpoint`` and decide
what a header block, a piece of DATA, a reset and a GOAWAY mean for their streams. Frames
produced while handling one read leave in one write.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import hpack

from wharf.grpc_h2 import frames as f

log = logging.getLogger(__name__)

_WINDOW_TOPUP = 1 << 30  # give the peer its connection window back after this many bytes
_DECODED_CACHE = 256  # header blocks remembered per connection


class H2Stream:
    """The sending side of one stream; subclasses add what they receive."""

    __slots__ = ("id", "send_window", "pending", "done")

    def __init__(self, stream_id: int, send_window: int) -> None:
        self.id = stream_id
        self.send_window = send_window
        self.pending: list[tuple[int, int, bytes]] = []  # frames waiting for flow-control window
        self.done = False  # our side sent END_STREAM, or the stream was reset


class H2Endpoint(asyncio.Protocol):
    client_side = False

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.decoder = hpack.Decoder()
        self.decoded: dict[bytes, list[tuple[str, str]]] = {}
        self.streams: dict[int, Any] = {}
        self.preface_seen = self.client_side  # only a server waits for the client's preface
        self.buf = b""
        self.out: list[bytes] | None = None  # frames collected during one data_received: one write
        self.header_block: tuple[int, int, list[bytes]] | None = None  # (stream, flags, fragments)
        self.peer_initial_window = f.DEFAULT_WINDOW
        self.peer_max_frame = f.DEFAULT_MAX_FRAME
        self.send_window = f.DEFAULT_WINDOW
        self.received_unacked = 0
        self.blocked: dict[int, H2Stream] = {}
        self.close_after_flush = False

    # --- connection -------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        # Large receive windows: the peer never waits for us to grant credit. Message size
        # limits, not flow control, bound what one call may send.
        transport.write((f.PREFACE if self.client_side else b"")
                        + f.settings_frame({f.INITIAL_WINDOW_SIZE: f.MAX_WINDOW, f.ENABLE_PUSH: 0})
                        + f.window_update(0, f.MAX_WINDOW - f.DEFAULT_WINDOW))

    def data_received(self, data: bytes) -> None:
        self.out = []
        try:
            self._receive(data)
        except f.ProtocolError as exc:
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
        self.out = (self.out or []) + [f.goaway(self.last_peer_stream(), code, message)]
        self._flush_out()
        self.transport.close()

    def last_peer_stream(self) -> int:
        return 0

    def _flush_out(self) -> None:
        out, self.out = self.out, None
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def emit(self, data: bytes) -> None:
        if self.out is not None:
            self.out.append(data)
        elif self.transport is not None and not self.transport.is_closing():
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
            buf = buf[len(f.PREFACE):]
            self.preface_seen = True
        pos, n = 0, len(buf)
        while n - pos >= 9:
            length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
            if length > f.DEFAULT_MAX_FRAME:
                raise f.ProtocolError(f"frame of {length} bytes is over our SETTINGS_MAX_FRAME_SIZE", f.FRAME_SIZE_ERROR)
            end = pos + 9 + length
            if end > n:
                break
            kind, flags = buf[pos + 3], buf[pos + 4]
            stream_id = int.from_bytes(buf[pos + 5:pos + 9], "big") & 0x7FFFFFFF
            payload = buf[pos + 9:end]
            pos = end
            if self.header_block is not None and kind != f.CONTINUATION:
                raise f.ProtocolError("header block interrupted by another frame")
            if kind == f.DATA:
                self._on_data(stream_id, flags, payload, length)
            elif kind == f.HEADERS:
                self._on_headers(stream_id, flags, payload)
            elif kind == f.CONTINUATION:
                self._on_continuation(stream_id, flags, payload)
            elif kind == f.SETTINGS:
                self._on_settings(stream_id, flags, payload)
            elif kind == f.WINDOW_UPDATE:
                self._on_window_update(stream_id, payload)
            elif kind == f.PING:
                if len(payload) != 8:
                    raise f.ProtocolError("PING payload must be 8 bytes", f.FRAME_SIZE_ERROR)
                if not flags & f.ACK:
                    self.emit(f.frame(f.PING, f.ACK, 0, payload))
            elif kind == f.RST_STREAM:
                self.blocked.pop(stream_id, None)
                self.on_reset(stream_id, int.from_bytes(payload[:4], "big"))
            elif kind == f.GOAWAY:
                self.on_goaway(int.from_bytes(payload[:4], "big") & 0x7FFFFFFF, int.from_bytes(payload[4:8], "big"))
            elif kind == f.PUSH_PROMISE:
                raise f.ProtocolError("PUSH_PROMISE is disabled on this connection")
            # PRIORITY and unknown frame types are ignored, as RFC 9113 asks
        self.buf = buf[pos:]

    def _on_headers(self, stream_id: int, flags: int, payload: bytes) -> None:
        if stream_id == 0:
            raise f.ProtocolError("HEADERS on stream 0")
        payload = f.strip_padding(flags, payload)
        if flags & f.PRIORITY_FLAG:
            payload = payload[5:]
        if flags & f.END_HEADERS:
            self._on_header_block(stream_id, flags, payload)
        else:
            self.header_block = (stream_id, flags, [payload])

    def _on_continuation(self, stream_id: int, flags: int, payload: bytes) -> None:
        if self.header_block is None or self.header_block[0] != stream_id:
            raise f.ProtocolError("CONTINUATION without a header block to continue")
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
        before = (table.dynamic_entries[0] if table.dynamic_entries else None, len(table.dynamic_entries), table.maxsize)
        try:  # always decoded, even for a stream we drop: the HPACK table must stay in step
            headers = self.decoder.decode(block)
        except hpack.HPACKError as exc:
            raise f.ProtocolError(f"bad header block: {exc}", f.COMPRESSION_ERROR) from exc
        after = (table.dynamic_entries[0] if table.dynamic_entries else None, len(table.dynamic_entries), table.maxsize)
        if after[0] is not before[0] or after[1:] != before[1:]:
            self.decoded.clear()
        elif len(self.decoded) < _DECODED_CACHE:
            self.decoded[block] = headers
        return headers

    def _on_data(self, stream_id: int, flags: int, payload: bytes, length: int) -> None:
        self.received_unacked += length
        if self.received_unacked >= _WINDOW_TOPUP:
            self.emit(f.window_update(0, self.received_unacked))
            self.received_unacked = 0
        if stream_id == 0:
            raise f.ProtocolError("DATA on stream 0")
        self.on_data(stream_id, flags, f.strip_padding(flags, payload))

    def _on_settings(self, stream_id: int, flags: int, payload: bytes) -> None:
        if stream_id != 0:
            raise f.ProtocolError("SETTINGS on a stream")
        if flags & f.ACK:
            return
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
            stream = self.streams.get(stream_id)
            if stream is None:
                return
            stream.send_window += increment
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
        chunks = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
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
