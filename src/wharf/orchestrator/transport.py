"""Outgoing REST calls to graph nodes: one pooled keep-alive session, per-call timeout."""

from __future__ import annotations

import asyncio

import aiohttp

from wharf.deployment.graph import Unit
from wharf.orchestrator.walker import failure

_JSON = "application/json"


class RestTransport:
    def __init__(self, timeout_s: float | None = None, retries: int = 0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retries = retries
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=100, keepalive_timeout=60, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, auto_decompress=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, unit: Unit, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        assert self._session is not None, "transport not started"
        url = f"http://{unit.endpoint.host}:{unit.endpoint.http_port}{path}"
        attempt = 0
        while True:
            try:
                async with self._session.post(url, data=body, headers={**headers, "Content-Type": _JSON}) as resp:
                    return resp.status, await resp.read()
            except asyncio.TimeoutError:
                return 504, failure(504, f"node {unit.name!r} ({url}) did not answer within {self._timeout.total} s")
            except aiohttp.ClientError as exc:
                # Only connection failures are retried: the request never reached the node.
                if attempt < self._retries and isinstance(exc, aiohttp.ClientConnectionError):
                    attempt += 1
                    await asyncio.sleep(0.05 * attempt)
                    continue
                return 503, failure(503, f"node {unit.name!r} ({url}) is unreachable: {exc}")

    async def get(self, unit: Unit, path: str) -> tuple[int, bytes]:
        assert self._session is not None, "transport not started"
        url = f"http://{unit.endpoint.host}:{unit.endpoint.http_port}{path}"
        try:
            async with self._session.get(url) as resp:
                return resp.status, await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return 503, failure(503, f"node {unit.name!r} ({url}) is unreachable: {exc}")
