"""CPU the orchestrator spends per call to a node: its HTTP/1.1 client vs aiohttp, side by side.

Client-process CPU time (``time.process_time``) per sequential POST to a real identity component,
so the figure depends little on what else the machine runs. Medians of ``--runs`` rounds.

    .venv/bin/python benchmarks/bench_node_client.py [--calls 3000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import aiohttp

from wharf.local.process import start_server
from wharf.orchestrator.http1 import Http1Pool

MODELS = Path(__file__).parent / "models"
BODY = b'{"data":{"ndarray":[[1.0,2.0,3.0]]}}'
HEADERS = {"Content-Type": "application/json"}
WARMUP = 200


async def with_aiohttp(port: int, calls: int) -> float:
    url = f"http://127.0.0.1:{port}/predict"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False) as session:
        for i in range(WARMUP + calls):
            if i == WARMUP:
                started = time.process_time()
            async with session.post(url, data=BODY, headers=HEADERS) as resp:
                await resp.read()
    return (time.process_time() - started) / calls


async def with_http1(port: int, calls: int) -> float:
    pool = Http1Pool()
    for i in range(WARMUP + calls):
        if i == WARMUP:
            started = time.process_time()
        status, _ = await pool.request("POST", "127.0.0.1", port, "/predict", HEADERS, BODY, timeout=10)
        assert status == 200
    await pool.close()
    return (time.process_time() - started) / calls


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    server = start_server(MODELS, "IdentityModel", workers=1)
    try:
        aio, h1 = [], []
        for _ in range(args.runs):
            aio.append(run(with_aiohttp(server.http_port, args.calls)))
            h1.append(run(with_http1(server.http_port, args.calls)))
    finally:
        server.stop()
    a, h = statistics.median(aio) * 1e6, statistics.median(h1) * 1e6
    print(f"aiohttp     {a:7.1f} us CPU per call")
    print(f"wharf http1 {h:7.1f} us CPU per call")
    print(f"ratio       {a / h:7.2f}x less client CPU per call")


if __name__ == "__main__":
    main()
