"""A replica waiting for the Lease still answers its liveness probe.

kopf serves ``/healthz`` only while it runs, and a standby replica does not run kopf until it
leads. Without an answer the chart's liveness probe would restart every standby, forever. While
waiting, this tiny server answers any request on the liveness address with ``200 standby``; it is
closed before kopf starts and binds the same port.

Each connection costs at most one bounded read (8 KiB, 5 s): it answers and closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

READ_LIMIT = 8192
READ_TIMEOUT_S = 5.0
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\nConnection: close\r\n\r\nstandby\n"


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        with contextlib.suppress(
            asyncio.TimeoutError, asyncio.LimitOverrunError, asyncio.IncompleteReadError, ConnectionError, ValueError
        ):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            writer.write(ANSWER)
            await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def standby_health(liveness_url: str | None) -> AsyncIterator[None]:
    """Serve ``200 standby`` on ``liveness_url``'s host and port for the duration of the block."""
    if not liveness_url:
        yield
        return
    parts = urlsplit(liveness_url)
    server = await asyncio.start_server(
        _answer, parts.hostname or "0.0.0.0", parts.port or 80, limit=READ_LIMIT, reuse_address=True
    )
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
