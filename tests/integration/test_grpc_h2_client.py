"""wharf.grpc_h2's client against a real grpcio server (what upstream-built Python nodes run) and
against Wharf's own server: answers, large messages both ways, statuses, deadlines, a node that is
down or restarts."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from grpc_h2_support import Running

from wharf.grpc_h2.client import Channel, GrpcError, NotSent
from wharf.local.process import free_port


def _echo(request: bytes, context: grpc.ServicerContext) -> bytes:
    return request


def _big(request: bytes, context: grpc.ServicerContext) -> bytes:
    return b"z" * int(request)


def _fail(request: bytes, context: grpc.ServicerContext) -> bytes:
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.decode())


def _slow(request: bytes, context: grpc.ServicerContext) -> bytes:
    time.sleep(float(request))
    return b"slept"


def _meta(request: bytes, context: grpc.ServicerContext) -> bytes:
    return ";".join(f"{k}={v}" for k, v in sorted(context.invocation_metadata()) if k.startswith("x-")).encode()


def grpcio_server(port: int) -> grpc.Server:
    server = grpc.server(
        ThreadPoolExecutor(8),
        options=[("grpc.max_receive_message_length", 64 * 2**20), ("grpc.max_send_message_length", 64 * 2**20)],
    )
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(fn)
        for name, fn in (("Echo", _echo), ("Big", _big), ("Fail", _fail), ("Slow", _slow), ("Meta", _meta))
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.T", handlers)])
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server


@pytest.fixture()
def grpcio_port() -> Iterator[int]:
    port = free_port()
    server = grpcio_server(port)
    yield port
    server.stop(0).wait()


def run(coro):
    return asyncio.run(coro)


def test_calls_to_a_grpcio_server(grpcio_port) -> None:
    async def main() -> None:
        channel = Channel("127.0.0.1", grpcio_port, max_answer_bytes=8 << 20)
        answers = await asyncio.gather(*(channel.unary("/t.T/Echo", b"n%d" % i, timeout_s=10) for i in range(100)))
        assert answers == [b"n%d" % i for i in range(100)]
        # both directions far beyond grpcio's initial 64 KB windows
        assert await channel.unary("/t.T/Echo", b"q" * 3_000_000, timeout_s=20) == b"q" * 3_000_000
        assert await channel.unary("/t.T/Big", b"5000000", timeout_s=20) == b"z" * 5_000_000
        assert (
            await channel.unary("/t.T/Meta", b"", (("x-tenant", "blue"), ("x-puid", "p1")), 10)
            == b"x-puid=p1;x-tenant=blue"
        )
        await channel.close()

    run(main())


def test_an_answer_over_the_channels_limit_is_resource_exhausted_and_the_channel_lives_on(grpcio_port) -> None:
    async def main() -> None:
        channel = Channel("127.0.0.1", grpcio_port, max_answer_bytes=1 << 20)
        with pytest.raises(GrpcError) as err:
            await channel.unary("/t.T/Big", b"3000000", timeout_s=20)
        assert err.value.code == 8 and "answer larger than max" in err.value.message
        assert await channel.unary("/t.T/Echo", b"after", timeout_s=10) == b"after"
        await channel.close()

    run(main())


def test_statuses_and_deadlines_from_a_grpcio_server(grpcio_port) -> None:
    async def main() -> None:
        channel = Channel("127.0.0.1", grpcio_port)
        with pytest.raises(GrpcError) as err:
            await channel.unary("/t.T/Fail", "bad input ✗ 100%".encode(), timeout_s=10)
        assert (err.value.code, err.value.message) == (3, "bad input ✗ 100%")
        with pytest.raises(GrpcError) as err:
            await channel.unary("/t.T/Missing", b"", timeout_s=10)
        assert err.value.code == 12
        started = time.monotonic()
        with pytest.raises(GrpcError) as err:
            await channel.unary("/t.T/Slow", b"2", timeout_s=0.2)
        assert err.value.code == 4 and time.monotonic() - started < 1.5
        assert await channel.unary("/t.T/Echo", b"after", timeout_s=10) == b"after"  # same connection
        await channel.close()

    run(main())


def test_a_node_that_is_down_is_not_sent_and_a_restarted_one_is_reached_again() -> None:
    port = free_port()

    async def main() -> None:
        channel = Channel("127.0.0.1", port)
        with pytest.raises(NotSent, match=f"cannot connect to 127.0.0.1:{port}"):
            await channel.unary("/t.T/Echo", b"x", timeout_s=5)
        server = await asyncio.to_thread(grpcio_server, port)
        try:
            assert await channel.unary("/t.T/Echo", b"up", timeout_s=5) == b"up"
        finally:
            await asyncio.to_thread(lambda: server.stop(0).wait())
        with pytest.raises(GrpcError) as err:  # the connection is gone: a new one is refused
            await channel.unary("/t.T/Echo", b"x", timeout_s=5)
        assert err.value.code == 14
        server = await asyncio.to_thread(grpcio_server, port)
        try:
            assert await channel.unary("/t.T/Echo", b"back", timeout_s=5) == b"back"
        finally:
            await asyncio.to_thread(lambda: server.stop(0).wait())
        await channel.close()

    run(main())


def test_against_wharfs_own_server_including_shutdown_mid_call() -> None:
    running = Running()
    try:

        async def main() -> None:
            channel = Channel("127.0.0.1", running.port)
            assert await channel.unary("/t.T/Big", b"300000", timeout_s=10) == b"x" * 300_000
            slow = asyncio.ensure_future(channel.unary("/t.T/Slow", b"0.5", timeout_s=10))
            await asyncio.sleep(0.2)
            stopping = threading.Thread(target=running.run, args=(running.server.stop(5),))
            stopping.start()
            assert await slow == b"slept"  # GOAWAY lets the call in flight finish
            await asyncio.to_thread(stopping.join)
            with pytest.raises(GrpcError) as err:
                await channel.unary("/t.T/Echo", b"late", timeout_s=5)
            assert err.value.code == 14
            await channel.close()

        run(main())
    finally:
        running.close()


def test_the_orchestrators_node_client_takes_answers_as_large_as_seldons_executor_does(grpcio_port) -> None:
    """Without seldon.io/grpc-max-message-size the executor accepts node answers up to MaxInt32, so a
    graph that passed a 5 MB tensor through it must pass through Wharf's; with the annotation's value
    the node client refuses more."""
    from types import SimpleNamespace

    from wharf.orchestrator.transport import GrpcTransport

    node = SimpleNamespace(endpoint=SimpleNamespace(host="127.0.0.1", grpc_port=grpcio_port))

    async def main() -> None:
        default, annotated = GrpcTransport(), GrpcTransport(max_message_bytes=1 << 20)
        assert await default._channel(node).unary("/t.T/Big", b"5000000", timeout_s=20) == b"z" * 5_000_000
        with pytest.raises(GrpcError) as err:
            await annotated._channel(node).unary("/t.T/Big", b"2000000", timeout_s=20)
        assert err.value.code == 8
        await default.close()
        await annotated.close()

    run(main())
