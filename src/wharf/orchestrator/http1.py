"""A small HTTP/1.1 keep-alive client for calls to graph nodes.

Why not aiohttp here: the orchestrator's work per hop is one POST of a few hundred bytes to a
known loopback/cluster address, and a general-purpose client (redirects, cookies, multidict
headers, decompression, tracing hooks) spends most of its time on features this path never uses.
This client writes the request in one buffer and parses the answer with httptools (the parser
uvicorn uses on the server side), keeping an idle-connection pool per node.

Errors: ``NodeUnreachable`` when no connection could be made or it broke before any answer (safe
to retry: the node never answered), ``NodeTimeout`` when the deadline passed, ``NodeAnswerTooLarge``
when the answer's body passed ``max_answer_bytes`` (the connection is dropped there: a broken or
hostile node cannot make the orchestrator hold an answer of any size).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import httptools


class NodeUnreachable(ConnectionError):
    """``cause`` is the socket error when the connection could not be made, else None."""

    def __init__(self, message: str, cause: OSError | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class NodeTimeout(TimeoutError):
    pass


class NodeAnswerTooLarge(ValueError):
    pass


DEFAULT_MAX_ANSWER_BYTES = 512 * 2**20


class _Connection(asyncio.Protocol):
    """One TCP connection; at most one request in flight (no pipelining)."""

    def __init__(self, max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.body: list[bytes] = []
        self.body_bytes = 0
        self.max_answer_bytes = max_answer_bytes
        self.closed = False
        self.answered = False  # any response byte seen for the request in flight

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(NodeUnreachable(f"malformed HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(
            NodeUnreachable(
                f"connection closed{' before any answer' if not self.answered else ''}{f': {exc}' if exc else ''}"
            )
        )

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes > self.max_answer_bytes:
            self.body = []
            self._fail(NodeAnswerTooLarge(f"the answer is larger than {self.max_answer_bytes} bytes"))
            self.close()
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), b"".join(self.body), self.parser.should_keep_alive()))

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def send(self, request: bytes) -> asyncio.Future:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.body = []
        self.body_bytes = 0
        self.answered = False
        self.transport.write(request)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future, conn: _Connection) -> None:
    if not waiter.done():
        waiter.set_exception(NodeTimeout())
        conn.close()  # the node may still answer later: this connection cannot be reused


class Http1Pool:
    """Keep-alive connections per (host, port); a request takes an idle one or opens a new one."""

    def __init__(self, idle_per_node: int = 64, max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES) -> None:
        self._idle: dict[tuple[str, int], deque[_Connection]] = {}
        self._idle_max = idle_per_node
        self._max_answer_bytes = max_answer_bytes

    async def _connect(self, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: _Connection(self._max_answer_bytes), host, port)
        except OSError as exc:
            raise NodeUnreachable(str(exc) or type(exc).__name__, exc) from None
        return conn

    async def request(
        self,
        method: str,
        host: str,
        port: int,
        path: str,
        headers: dict[str, str],
        body: bytes = b"",
        timeout: float | None = None,
    ) -> tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value:  # would end the header early: request smuggling
                raise ValueError(f"header {name!r}: line breaks are not allowed in a value")
            head.append(f"{name}: {value}\r\n")
        request = "".join(head).encode("latin-1") + b"\r\n" + body
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        key = (host, port)
        conn = self._take_idle(key)
        fresh = conn is None
        if conn is None:
            conn = await self._connect(host, port)
        try:
            status, data, keep = await self._wait(conn.send(request), deadline, conn)
        except NodeUnreachable:
            conn.close()
            if fresh or conn.answered:
                raise
            # The pooled connection had gone stale (the node closed it while idle) and the node never
            # saw this request: send it once more on a new connection.
            conn = await self._connect(host, port)
            try:
                status, data, keep = await self._wait(conn.send(request), deadline, conn)
            except NodeUnreachable:
                conn.close()
                raise
        idle = self._idle.setdefault(key, deque())
        if keep and not conn.closed and len(idle) < self._idle_max:
            idle.append(conn)
        else:
            conn.close()
        return status, data

    def _take_idle(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    @staticmethod
    async def _wait(waiter: asyncio.Future, deadline: float | None, conn: _Connection) -> Any:
        if deadline is None:
            return await waiter
        # A timer on the loop rather than asyncio.wait_for, which wraps every call in a new Task.
        timer = asyncio.get_running_loop().call_at(deadline, _expire, waiter, conn)
        try:
            return await waiter
        finally:
            timer.cancel()

    async def close(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()
