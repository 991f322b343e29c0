"""An in-process wharf.grpc_h2 server with small test methods, for the server and client tests."""

from __future__ import annotations

import asyncio
import json
import threading

from wharf.grpc_h2.server import GrpcError, GrpcServer, Metadata


async def _slow(seconds: float) -> bytes:
    await asyncio.sleep(seconds)
    return b"slept"


def _fail(data: bytes, _: Metadata) -> bytes:
    raise GrpcError(9, data.decode())


def _crash(data: bytes, _: Metadata) -> bytes:
    raise ValueError("boom")


HANDLERS = {
    "/t.T/Echo": lambda data, _: data,
    "/t.T/Big": lambda data, _: b"x" * int(data),
    "/t.T/Fail": _fail,
    "/t.T/Crash": _crash,
    "/t.T/Slow": lambda data, _: _slow(float(data)),
    "/t.T/Meta": lambda _, metadata: json.dumps(metadata, sort_keys=True).encode(),
}
MAX_RECEIVE = 64 * 1024


class Running:
    """A GrpcServer on its own event loop thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = GrpcServer(HANDLERS, {"/t.T/Upper": lambda data: data.upper()}, max_receive_bytes=MAX_RECEIVE)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.run(self.server.start("127.0.0.1", 0, reuse_port=False))
        self.port = self.server.port
        self.target = f"127.0.0.1:{self.port}"

    def run(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.run(self.server.stop(1))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
