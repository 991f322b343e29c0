"""The orchestrator's HTTP/1.1 client against a scripted loopback server: keep-alive, stale
connections, chunked bodies, Connection: close, timeouts and refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from wharf.local.process import free_port
from wharf.orchestrator.http1 import Http1Pool, NodeTimeout, NodeUnreachable

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

Handler = Callable[[int, bytes, asyncio.StreamWriter], Awaitable[bool]]  # (request no., request) -> keep open


async def serve(handler: Handler) -> tuple[asyncio.AbstractServer, int, list[int]]:
    """A server that reads whole requests and lets ``handler`` answer; returns requests per connection."""
    per_connection: list[int] = []

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        per_connection.append(0)
        index = len(per_connection) - 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(
                    next(
                        line.split(b":")[1]
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    )
                )
                body = await reader.readexactly(length)
                per_connection[index] += 1
                if not await handler(per_connection[index], head + body, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    port = free_port()
    server = await asyncio.start_server(on_connection, "127.0.0.1", port)
    return server, port, per_connection


def run(coro) -> object:
    return asyncio.run(coro)


def test_keep_alive_reuses_one_connection_and_sends_the_body() -> None:
    seen: list[bytes] = []

    async def handler(n: int, request: bytes, writer: asyncio.StreamWriter) -> bool:
        seen.append(request)
        writer.write(OK)
        return True

    async def main() -> list[int]:
        server, port, conns = await serve(handler)
        pool = Http1Pool()
        for _ in range(3):
            assert await pool.request("POST", "127.0.0.1", port, "/predict", {"Seldon-Puid": "p1"}, b'{"a":1}') == (
                200,
                b"ok",
            )
        await pool.close()
        server.close()
        return conns

    assert run(main()) == [3]
    assert seen[0].startswith(b"POST /predict HTTP/1.1\r\n") and seen[0].endswith(b'\r\n\r\n{"a":1}')
    assert b"Seldon-Puid: p1\r\n" in seen[0] and b"Content-Length: 7\r\n" in seen[0]


def test_chunked_answers_are_decoded() -> None:
    async def handler(n: int, request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        return True

    async def main() -> tuple[int, bytes]:
        server, port, _ = await serve(handler)
        pool = Http1Pool()
        answer = await pool.request("POST", "127.0.0.1", port, "/x", {}, b"")
        await pool.close()
        server.close()
        return answer

    assert run(main()) == (201, b"abcde")


def test_a_connection_the_node_closed_while_idle_is_replaced_transparently() -> None:
    async def handler(n: int, request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(OK)
        return False  # answers as keep-alive, then closes: the client's pooled connection goes stale

    async def main() -> list[int]:
        server, port, conns = await serve(handler)
        pool = Http1Pool()
        assert await pool.request("POST", "127.0.0.1", port, "/a", {}, b"1") == (200, b"ok")
        await asyncio.sleep(0.05)
        assert await pool.request("POST", "127.0.0.1", port, "/a", {}, b"2") == (200, b"ok")
        await pool.close()
        server.close()
        return conns

    assert run(main()) == [1, 1]  # the second request went out once, on a new connection


def test_connection_close_is_honoured() -> None:
    async def handler(n: int, request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        return True  # the server would even keep it open: the client must not reuse it

    async def main() -> list[int]:
        server, port, conns = await serve(handler)
        pool = Http1Pool()
        for _ in range(2):
            assert await pool.request("GET", "127.0.0.1", port, "/", {}, b"") == (200, b"ok")
        await pool.close()
        server.close()
        return conns

    assert run(main()) == [1, 1]


def test_timeout_drops_the_connection() -> None:
    async def handler(n: int, request: bytes, writer: asyncio.StreamWriter) -> bool:
        if request.startswith(b"POST /slow"):
            await asyncio.sleep(0.5)
        writer.write(OK)
        return True

    async def main() -> list[int]:
        server, port, conns = await serve(handler)
        pool = Http1Pool()
        with pytest.raises(NodeTimeout):
            await pool.request("POST", "127.0.0.1", port, "/slow", {}, b"", timeout=0.1)
        assert await pool.request("POST", "127.0.0.1", port, "/fast", {}, b"", timeout=5) == (200, b"ok")
        await pool.close()
        server.close()
        return conns

    assert run(main()) == [1, 1]  # the late answer could not be mistaken for the next request's


def test_refused_and_hung_up_nodes_are_unreachable() -> None:
    async def hang_up(n: int, request: bytes, writer: asyncio.StreamWriter) -> bool:
        return False  # reads the request, closes without answering

    async def main() -> None:
        pool = Http1Pool()
        with pytest.raises(NodeUnreachable):
            await pool.request("POST", "127.0.0.1", free_port(), "/", {}, b"")
        server, port, conns = await serve(hang_up)
        with pytest.raises(NodeUnreachable, match="closed before any answer"):
            await pool.request("POST", "127.0.0.1", port, "/", {}, b"x")
        assert conns == [1]  # a fresh connection is not retried: the node may have seen the request
        server.close()

    run(main())


def test_line_breaks_in_header_values_are_refused() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="line breaks"):
            await Http1Pool().request("POST", "127.0.0.1", 1, "/", {"Seldon-Puid": "a\r\nX-Evil: 1"}, b"")

    run(main())


def test_an_answer_over_the_size_limit_is_refused_as_it_arrives_and_the_connection_dropped() -> None:
    """A broken or hostile node streams a body without end: the client stops at the limit."""
    from wharf.orchestrator.http1 import NodeAnswerTooLarge

    sent = {"bytes": 0, "stopped_early": False}

    async def endless(n: int, request: bytes, writer: asyncio.StreamWriter) -> bool:
        if n == 1 and b"/endless" in request:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n%s\r\n" % (65536, b"z" * 65536)
            try:
                for _ in range(2000):  # 125 MiB if nobody stops reading
                    writer.write(chunk)
                    await writer.drain()
                    sent["bytes"] += 65536
            except ConnectionError:
                sent["stopped_early"] = True
            return False
        writer.write(OK)
        return True

    async def main() -> None:
        server, port, _ = await serve(endless)
        pool = Http1Pool(max_answer_bytes=1 << 20)
        with pytest.raises(NodeAnswerTooLarge, match=f"larger than {1 << 20} bytes"):
            await pool.request("POST", "127.0.0.1", port, "/endless", {}, b"{}", timeout=30)
        # a fresh connection serves the next call
        assert await pool.request("POST", "127.0.0.1", port, "/predict", {}, b"{}", timeout=10) == (200, b"ok")
        await asyncio.sleep(0.5)
        server.close()
        await pool.close()

    run(main())
    assert sent["stopped_early"] and sent["bytes"] < 64 << 20, sent
