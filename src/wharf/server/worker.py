"""One worker process: REST and gRPC servers on one uvloop event loop, around one Component.

Start-up order: serve at once (``/health/ping`` and ``/live`` answer), run ``load()`` in a thread,
then open the model endpoints (requests that arrive earlier wait for it). SIGTERM: readiness turns
false, listeners close, gRPC sends GOAWAY, every request already accepted is answered (REST ones
with ``Connection: close``), idle connections close after DRAIN_GRACE_S, then the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import socket
import sys
from collections.abc import Iterator

import uvicorn

from wharf.component.model import Component
from wharf.component.v2 import V2Model, model_name_for
from wharf.http_server.protocol import OneWriteHttpProtocol
from wharf.protocol.errors import MicroserviceError
from wharf.server.config import ServerConfig
from wharf.server.grpc_api import ComponentServicer, build_server
from wharf.server.model_thread import ModelThread
from wharf.server.prom import PrometheusSink
from wharf.server.rest import RestApp
from wharf.server.state import WorkerState
from wharf.server.v2_grpc import V2Servicer
from wharf.server.v2_rest import V2RestApp
from wharf.termination import write_termination_message

log = logging.getLogger(__name__)

EXIT_LOAD_FAILED = 3
EXIT_BIND_FAILED = 4  # the gRPC port cannot be opened: restarting would not help
RETIRE_GRACE_S = 1.0  # longest a retiring worker waits for its keep-alive clients to leave
# Longest a draining worker (SIGTERM) waits for its keep-alive clients to leave after an answer
# with Connection: close, before it closes the idle ones. Well under Kubernetes' default grace
# period of 30 s (after the operator's preStop sleep), and long enough for any client under load.
DRAIN_GRACE_S = 2.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the worker decides how to drain."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(config: ServerConfig, component: Component, http_socket: socket.socket) -> int:
    loop = asyncio.get_running_loop()
    state = WorkerState()
    sink = PrometheusSink(config.identity)
    sink.start_flushing()
    component.sink = sink
    model_thread = ModelThread(config.threads)  # REST and gRPC share it: one call at a time by default
    app = RestApp(component, state, sink, model_thread=model_thread, payload_passthrough=config.payload_passthrough)
    v2_servicer = None
    if "v2" in config.protocols:  # V2 paths beside the Seldon ones, on the same ports
        v2_model = V2Model(component, model_name_for(component.user, config.model_name))
        app = V2RestApp(app, v2_model, state, sink, model_thread, seldon_enabled="seldon" in config.protocols)
        v2_servicer = V2Servicer(v2_model, state, sink, model_thread)
    tracing = None
    if config.tracing:  # per worker: the exporter's thread must start after the fork
        from wharf.tracing import Tracing

        tracing = Tracing(config.service_name)
        app = tracing.asgi(app)
    server = _Server(
        uvicorn.Config(
            app,
            loop="none",
            http=OneWriteHttpProtocol.with_limits(config.http_limits),  # one write per response
            lifespan="off",
            access_log=config.access_log,
            log_level=config.log_level.lower(),
            timeout_keep_alive=config.keepalive,
            timeout_graceful_shutdown=config.graceful_timeout,
            # No X-Forwarded-* rewriting (the client address is only ever logged) and no Server header:
            # uvicorn's defaults for both cost time on every request and buy a model server nothing.
            proxy_headers=False,
            server_header=False,
        )
    )
    grpc_server = None
    if config.grpc_enabled:
        grpc_server = build_server(
            ComponentServicer(component, state, sink, model_thread=model_thread),
            config.max_message_bytes,
            tracing,
            v2=v2_servicer,
            seldon="seldon" in config.protocols,
        )
        try:
            await grpc_server.start(config.host, config.grpc_port)
        except OSError as exc:
            log.error("%s", exc)
            return EXIT_BIND_FAILED

    grpc_stopped: list[asyncio.Task] = []

    def stop_accepting() -> None:
        for listener in server.servers:
            listener.close()  # this process's copy of the shared socket (the supervisor has its own)
        if grpc_server is not None and not grpc_stopped:  # GOAWAY now; calls in flight finish
            grpc_stopped.append(loop.create_task(grpc_server.stop(config.graceful_timeout)))

    async def leave_when_clients_have(grace: float) -> None:
        """Every REST answer from now on says ``Connection: close``: a keep-alive client leaves
        after the answer to the request it has sent, not in the middle of it. Connections still
        open after ``grace`` s are idle ones; uvicorn closes those and waits for any in flight."""
        deadline = loop.time() + grace
        while server.server_state.connections and loop.time() < deadline:
            await asyncio.sleep(0.02)
        server.should_exit = True

    def drain() -> None:
        """SIGTERM: readiness off, stop accepting, and lose nothing already accepted: requests in
        flight or queued for the model thread are answered, keep-alive clients are told to leave."""
        if state.draining:
            server.force_exit = True
            return
        log.info("worker draining: readiness off, finishing in-flight requests")
        state.draining = True
        state.retiring = True
        stop_accepting()
        loop.create_task(leave_when_clients_have(DRAIN_GRACE_S))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, drain)

    async def load() -> None:
        error: BaseException | None = None
        try:
            await loop.run_in_executor(None, component.load)
        except BaseException as exc:  # noqa: BLE001 - reported, then the worker exits
            # a MicroserviceError says what is wrong (a prepackaged server's model file, say): no traceback
            log.error("load() failed: %s", exc, exc_info=not isinstance(exc, MicroserviceError))
            write_termination_message(f"load() failed: {exc}")
            error = exc
            server.should_exit = True
        finally:
            state.mark_loaded(error)

    async def recycle(limit: int) -> None:
        """Drain this worker after ``limit`` requests; the supervisor starts a fresh one.

        It stops accepting first (the shared socket stays open in the supervisor, so new
        connections wait for another worker), then answers with ``Connection: close`` until its
        keep-alive clients have moved on, or for at most RETIRE_GRACE_S, and only then drains.
        """
        while not state.draining:
            await asyncio.sleep(0.2)
            if state.served >= limit:
                log.info("worker served %d requests (--max-requests): replacing it", state.served)
                state.retiring = True
                stop_accepting()
                deadline = loop.time() + RETIRE_GRACE_S
                while server.server_state.connections and loop.time() < deadline:
                    await asyncio.sleep(0.02)
                drain()

    load_task = loop.create_task(load())
    if config.max_requests > 0:
        limit = config.max_requests + random.randint(0, max(0, config.max_requests_jitter))
        loop.create_task(recycle(limit))
    await server.serve(sockets=[http_socket])
    if grpc_server is not None:
        stop_accepting()  # a no-op after drain(); here when load() failed
        await grpc_stopped[0]
    if not load_task.done():
        load_task.cancel()
    model_thread.close()
    if tracing is not None:
        tracing.shutdown()
    sink.stop_flushing()
    return EXIT_LOAD_FAILED if state.load_error is not None else 0


def run_worker(config: ServerConfig, component: Component, http_socket: socket.socket) -> None:
    """Entry point of a forked worker process."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    try:
        import uvloop

        code = uvloop.run(_serve(config, component, http_socket))
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        code = asyncio.run(_serve(config, component, http_socket))
    sys.stdout.flush()
    sys.exit(code)
