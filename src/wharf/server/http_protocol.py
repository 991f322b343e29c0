"""uvicorn's httptools protocol, with each response leaving in one ``write`` call, and a bounded head.

uvicorn writes a response's head as soon as the app sends ``http.response.start`` and its body
on ``http.response.body``: two ``write`` system calls and, on loopback, often two TCP segments
for a response of a few hundred bytes. Under load those sends were the largest single cost of a
worker. Here the connection's transport is wrapped so that everything written during one turn of
the event loop goes out together at the end of that turn. Parsing, keep-alive, pipelining,
chunked requests, ``100-continue``, HEAD and error answers stay uvicorn's own code.

A request's head (request line and header fields) is bounded, as gunicorn bounds it for
seldon-core: at most ``MAX_HEADER_FIELDS`` fields and ``MAX_HEAD_BYTES`` bytes, else ``431`` and the
connection closes. httptools has no limit of its own: it keeps a header line that never ends.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_FIELDS = 100  # gunicorn's --limit-request-fields default, which seldon-core 1.19 runs with
MAX_HEAD_BYTES = 64 * 1024  # request line and header fields together (gunicorn: 4094 + 100 x 8190)


class _HeadRefused(Exception):
    """Raised from a parser callback to stop parsing a request whose head was refused."""


class _TurnBufferedTransport:
    """Collects writes made in one event-loop turn and sends them with a single ``write``.

    The flush runs as the next ready callback, so nothing waits on a timer: a response the app
    completes in one step (head and body) leaves as one buffer. ``close`` and ``write_eof``
    flush first, so a ``Connection: close`` answer is never lost.
    """

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if self._transport.is_closing():
            return
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, set_protocol, ...
        return getattr(self._transport, name)


class OneWriteHttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` whose responses go out in one ``write`` per loop turn, heads bounded."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Flow control keeps the real transport (it pauses reading); only writes are buffered.
        self.transport = _TurnBufferedTransport(transport, self.loop)  # type: ignore[assignment]
        self._in_head, self._head_bytes, self._fields, self._refused = True, 0, 0, False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes, self._fields = True, 0, 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        if self._fields > MAX_HEADER_FIELDS:
            self._refuse(f"more than {MAX_HEADER_FIELDS} header fields")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        """uvicorn's own, plus the head's byte count and the quiet end of a refused request."""
        if self._refused:
            return
        if self._in_head:
            # whole chunks count, so a head that ends inside a chunk may be counted long: the
            # limit is far above what real clients send
            self._head_bytes += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refused:  # our own stop: the 431 has gone out
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES and not self._refused:
            self._send_431(f"the request line and header fields exceed {MAX_HEAD_BYTES} bytes")

    def _refuse(self, why: str) -> None:
        self._send_431(why)
        raise _HeadRefused(why)  # httptools stops parsing this data

    def _send_431(self, why: str) -> None:
        self._refused = True
        body = f"Request Header Fields Too Large: {why}".encode()
        self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
                             b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
        self.transport.close()
