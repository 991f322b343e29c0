"""uvicorn's httptools protocol, with each response leaving in one ``write`` call.

uvicorn writes a response's head as soon as the app sends ``http.response.start`` and its body
on ``http.response.body``: two ``write`` system calls and, on loopback, often two TCP segments
for a response of a few hundred bytes. Under load those sends were the largest single cost of a
worker. Here the connection's transport is wrapped so that everything written during one turn of
the event loop goes out together at the end of that turn. Parsing, keep-alive, pipelining,
chunked requests, ``100-continue``, HEAD and error answers stay uvicorn's own code.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


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
    """``HttpToolsProtocol`` whose responses go out in one ``write`` per loop turn."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Flow control keeps the real transport (it pauses reading); only writes are buffered.
        self.transport = _TurnBufferedTransport(transport, self.loop)  # type: ignore[assignment]
