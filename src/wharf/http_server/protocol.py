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
The body, the time a client may take to send a request and the connections per worker are
bounded too (``wharf.http_server.limits``): ``413``, ``408`` and ``503``.

The application starts once a request's whole body has arrived (uvicorn starts it after the head),
so a body refused half-way never reaches user code, and ``100 Continue`` is sent here. An answer
this module gives itself (400, 408, 413, 431, 503) waits for the answers to the requests pipelined
before it, so a valid request followed by junk still gets its own answer first.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from wharf.http_server.limits import ErrorBody, HttpLimits, seldon_error

MAX_HEADER_FIELDS = 100  # gunicorn's --limit-request-fields default, which seldon-core 1.19 runs with
MAX_HEAD_BYTES = 64 * 1024  # request line and header fields together (gunicorn: 4094 + 100 x 8190)


LINGER_S = 2.0  # after a refusal, how long what the client still sends is read and dropped

# Where a connection is in reading a request; the read deadline applies in the first three.
_IDLE, _HEAD, _BODY, _READ = 0, 1, 2, 3


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that was refused."""


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
    """``HttpToolsProtocol`` whose responses go out in one ``write`` per loop turn, with every
    client-controlled cost bounded by ``limits``. ``with_limits`` makes a subclass with others."""

    limits: ClassVar[HttpLimits] = HttpLimits()
    error_json: ClassVar[ErrorBody] = staticmethod(seldon_error)

    @classmethod
    def with_limits(cls, limits: HttpLimits, error_json: ErrorBody | None = None) -> type[OneWriteHttpProtocol]:
        """This protocol with other limits (and the server's own error body), for ``uvicorn.Config(http=...)``."""
        attrs: dict[str, Any] = {"limits": limits}
        if error_json is not None:
            attrs["error_json"] = staticmethod(error_json)
        return type(cls.__name__, (cls,), attrs)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Flow control keeps the real transport (it pauses reading); only writes are buffered.
        self.transport = _TurnBufferedTransport(transport, self.loop)  # type: ignore[assignment]
        self._phase, self._head_bytes, self._fields = _IDLE, 0, 0
        self._requests = self._received = 0  # progress, as the read watchdog sees it
        self._refused = False  # an answer of our own is out or waiting: whatever else comes is dropped
        self._refusal: bytes | None = None  # that answer, while earlier requests are still being answered
        self._waiting: tuple[RequestResponseCycle, Any] | None = None  # head read, body still coming
        self._started: RequestResponseCycle | None = None  # the last request handed to the app
        self._body: list[bytes] = []  # the body so far
        self._body_size = 0
        # gunicorn's worker_connections: the connection itself counts, so the limit's own is served
        self._over_capacity = len(self.connections) > self.limits.max_connections
        self._watchdog: asyncio.TimerHandle | None = None
        self._watch()  # a client that connects and sends nothing

    def connection_lost(self, exc: Exception | None) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._waiting = None
        super().connection_lost(exc)

    # --- parser callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase, self._head_bytes, self._fields = _HEAD, 0, 0
        self._requests += 1

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        if self._fields > MAX_HEADER_FIELDS:
            self._refuse(431, f"more than {MAX_HEADER_FIELDS} header fields")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._phase, self._body, self._body_size = _BODY, [], 0
        if self._over_capacity:
            self.logger.warning(
                "refused a connection: this worker has %d open (limit %d)",
                len(self.connections),
                self.limits.max_connections,
            )
            self._refuse(
                503, f"this server has more than {self.limits.max_connections} connections open; try again later"
            )
        for name, value in self.headers:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.limits.max_body_bytes:
                    self._refuse(413, self._too_large(f"Content-Length {int(value)}"))
                break
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if cycle.more_body:  # the body is still to come: the app starts once it is all here
            if cycle.waiting_for_100_continue:
                cycle.waiting_for_100_continue = False
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._waiting = (cycle, app)
            return
        self._started = cycle
        super()._start_asgi_task(cycle, app)

    def on_body(self, body: bytes) -> None:
        # Unlike uvicorn, no pause at 64 KiB (nothing reads this body before it is complete; the
        # limit bounds it instead) and no growing bytearray: its reallocations left the process a
        # body's size bigger after the body was freed (glibc keeps such memory). The pieces are
        # joined once, at the end; a body that came in one piece is not copied at all.
        if self.cycle.response_complete:
            return
        self._body.append(body)
        self._body_size += len(body)
        if self._body_size > self.limits.max_body_bytes:
            self._body = []
            self._refuse(413, self._too_large("the body"))

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if self._body:
            cycle.body = b"".join(self._body)  # type: ignore[assignment] # receive() sends bytes(body): no copy
            self._body, self._body_size = [], 0
        super().on_message_complete()
        self._phase = _READ
        waiting = self._waiting
        if waiting is not None and waiting[0] is cycle:
            self._waiting = None
            self._started = cycle
            HttpToolsProtocol._start_asgi_task(self, cycle, waiting[1])

    # --- reading ---------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """uvicorn's own, plus the head's byte count, the read watchdog and refusals in order."""
        if self._refused:
            return
        if self._phase <= _HEAD:
            # whole chunks count, so a head that ends inside a chunk may be counted long: the
            # limit is far above what real clients send
            self._head_bytes += len(data)
        self._received += 1
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refused:  # our own stop: the refusal is out or waiting its turn
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self._refuse(400, msg, raise_=False)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self._watch_stop()
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._phase == _HEAD and self._head_bytes > MAX_HEAD_BYTES and not self._refused:
            self._refuse(431, f"the request line and header fields exceed {MAX_HEAD_BYTES} bytes", raise_=False)
        elif self._phase != _READ and self._watchdog is None:  # a request is part-way in
            self._watch()

    # The read timeout costs nothing per request: one timer per connection, armed only while a
    # request is part-way in, compares progress at each firing. A head still unfinished at two
    # firings in a row took at least the timeout; so did a body that received nothing in between.

    def _watch(self) -> None:
        self._seen = (self._requests, self._phase, self._received)
        self._watchdog = self.loop.call_later(self.limits.read_timeout, self._check_progress)

    def _watch_stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _check_progress(self) -> None:
        self._watchdog = None
        if self._refused or self.transport.is_closing() or self._phase == _READ:
            return  # between requests the keep-alive timeout (uvicorn's) applies
        requests, phase, received = self._seen
        stalled = requests == self._requests and phase == self._phase and (phase != _BODY or received == self._received)
        if not stalled or self.flow.read_paused:  # progress, or we are the ones not reading
            self._watch()
            return
        if phase == _IDLE:  # nothing of a request came: nothing to answer
            self.transport.close()
            return
        part = "request line and headers" if phase == _HEAD else "body"
        self._refuse(408, f"the request's {part} did not arrive within {self.limits.read_timeout:g} s", raise_=False)

    # --- answers of our own ----------------------------------------------------------------------

    def _too_large(self, what: str) -> str:
        return f"{what} exceeds the limit of {self.limits.max_body_bytes} bytes"

    def _refuse(self, status: int, why: str, raise_: bool = True) -> None:
        """Answer ``status`` and close, after the answers to earlier pipelined requests."""
        self._refused = True
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_complete:
            # the refused request's own cycle, if it got one: it never runs
            self._waiting = None
            if self.pipeline and self.pipeline[0][0] is cycle:
                self.pipeline.popleft()
        if status == 400:  # uvicorn's text, as before
            body, content_type = why.encode(), b"text/plain; charset=utf-8"
        elif status == 431:
            body, content_type = f"Request Header Fields Too Large: {why}".encode(), b"text/plain; charset=utf-8"
        else:
            body, content_type = self.error_json(status, why), b"application/json"
        response = b"".join(
            [
                STATUS_LINE[status],
                b"content-type: ",
                content_type,
                b"\r\ncontent-length: ",
                str(len(body)).encode(),
                b"\r\nconnection: close\r\n\r\n",
                body,
            ]
        )
        earlier = [c for c, _ in self.pipeline]
        if self._started is not None and not self._started.response_complete:
            earlier.append(self._started)
        if earlier:  # answered after them: the last of them to finish sends it
            self._refusal = response
            for c in earlier:
                c.on_response = self._on_earlier_response
        else:
            self._send_refusal(response)
        if raise_:
            raise _Refused(why)  # httptools stops parsing this data

    def _on_earlier_response(self) -> None:
        self.on_response_complete()  # starts the next pipelined request, if any
        started = self._started
        if self._refusal is not None and not self.pipeline and (started is None or started.response_complete):
            refusal, self._refusal = self._refusal, None
            self._send_refusal(refusal)

    def _send_refusal(self, response: bytes) -> None:
        """Write the answer, then close gently: a client still sending its body reads the answer
        instead of a reset. Our side ends at once; what still arrives is dropped for ``LINGER_S``."""
        self._unset_keepalive_if_required()
        transport = self.transport
        transport.write(response)
        if transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(LINGER_S, transport.close)
        else:  # pragma: no cover - TLS transports cannot half-close
            transport.close()
