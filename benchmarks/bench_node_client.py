"""CPU the orchestrator spends per call to a node, side by side: its HTTP/1.1 client vs aiohttp
(REST nodes) and its HTTP/2 client (wharf.grpc_h2) vs grpc.aio (gRPC nodes).

Client-process CPU time (``time.process_time``) per sequential call to a real identity component,
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
import grpc

from wharf.grpc_h2.client import Channel
from wharf.local.process import start_server
from wharf.orchestrator.http1 import Http1Pool
from wharf.protocol.pb import prediction_pb2 as pb

MODELS = Path(__file__).parent / "models"
BODY = b'{"data":{"ndarray":[[1.0,2.0,3.0]]}}'
HEADERS = {"Content-Type": "application/json"}
GRPC_BODY = pb.SeldonMessage(
    data=pb.DefaultData(tensor=pb.Tensor(shape=[1, 3], values=[1.0, 2.0, 3.0]))
).SerializeToString()
PREDICT = "/seldon.protos.Model/Predict"
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


async def with_grpc_aio(port: int, calls: int) -> float:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(PREDICT)
        for i in range(WARMUP + calls):
            if i == WARMUP:
                started = time.process_time()
            await call(GRPC_BODY, timeout=10)
    return (time.process_time() - started) / calls


async def with_grpc_h2(port: int, calls: int) -> float:
    channel = Channel("127.0.0.1", port)
    for i in range(WARMUP + calls):
        if i == WARMUP:
            started = time.process_time()
        await channel.unary(PREDICT, GRPC_BODY, timeout_s=10)
    await channel.close()
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
    clients = {
        "aiohttp": with_aiohttp,
        "wharf http1": with_http1,
        "grpc.aio": with_grpc_aio,
        "wharf grpc_h2": with_grpc_h2,
    }
    cpu: dict[str, list[float]] = {name: [] for name in clients}
    try:
        for _ in range(args.runs):  # interleaved, so drift on a shared machine hits every client alike
            for name, client in clients.items():
                port = server.grpc_port if name.startswith(("grpc", "wharf grpc")) else server.http_port
                cpu[name].append(run(client(port, args.calls)))
    finally:
        server.stop()
    us = {name: statistics.median(values) * 1e6 for name, values in cpu.items()}
    for name, value in us.items():
        print(f"{name:14s} {value:7.1f} us CPU per call")
    print(f"REST: http1 uses {us['aiohttp'] / us['wharf http1']:.2f}x less client CPU per call than aiohttp")
    print(f"gRPC: grpc_h2 uses {us['grpc.aio'] / us['wharf grpc_h2']:.2f}x less client CPU per call than grpc.aio")


if __name__ == "__main__":
    main()
