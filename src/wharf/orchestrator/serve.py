"""Run an orchestrator process: REST and gRPC on one event loop, drained on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import uvicorn

from wharf.deployment.graph import Predictor
from wharf.grpc_h2.reflection import reflection_method
from wharf.grpc_h2.server import GrpcServer
from wharf.http_server.limits import HttpLimits
from wharf.http_server.protocol import OneWriteHttpProtocol
from wharf.orchestrator.app import GrpcApi, Orchestrator, RestApi, calls_nodes_over_grpc
from wharf.orchestrator.transport import EXECUTOR_MAX_MESSAGE
from wharf.orchestrator.walker import failure

if TYPE_CHECKING:
    from wharf.orchestrator.kafka import KafkaServer, KafkaSettings

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


DEFAULT_NODE_TIMEOUT_S = 60.0
NODE_TIMEOUT_ENV = "WHARF_NODE_TIMEOUT_MS"


def node_timeout(predictor: Predictor, grpc_nodes: bool, env: Mapping[str, str] | None = None) -> float:
    """``seldon.io/rest-timeout`` or, for gRPC nodes, ``seldon.io/grpc-timeout`` (ms) -> seconds.

    Without the annotation upstream's executor waits for a node forever, so one stopped node holds
    every call routed to it (and their clients) for as long as it is stopped. Wharf fails such a
    call after ``WHARF_NODE_TIMEOUT_MS`` (60 s by default) with 504 naming the node instead.
    """
    env = os.environ if env is None else env
    name = "seldon.io/grpc-timeout" if grpc_nodes else "seldon.io/rest-timeout"
    for where, raw in ((name, predictor.annotations.get(name)), (NODE_TIMEOUT_ENV, env.get(NODE_TIMEOUT_ENV))):
        if not raw:
            continue
        try:
            return int(raw) / 1000
        except ValueError:
            log.warning("ignoring %s=%r: not a number of milliseconds", where, raw)
    return DEFAULT_NODE_TIMEOUT_S


async def _start_kafka(orch: Orchestrator, settings: KafkaSettings) -> KafkaServer:
    from wharf.orchestrator.kafka import KafkaServer

    if settings.full_graph:
        from wharf.orchestrator.kafka_graph import use_kafka_for_nodes

        await use_kafka_for_nodes(orch, settings)
    consumer = KafkaServer(orch, settings)
    try:
        await consumer.start()
    except BaseException:
        await orch.close()
        raise
    return consumer


async def _stop_kafka(consumer: KafkaServer, task: asyncio.Task, graceful_timeout: float) -> None:
    """Stop reading, let the messages in flight finish, then close; re-raise what killed the consumer."""
    failed = task.done() and not task.cancelled() and task.exception() is not None
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await consumer.drain(graceful_timeout)
    await consumer.close()
    if failed:
        # an OSError, so the CLI logs one line and exits 1
        raise ConnectionError(f"the Kafka consumer stopped: {task.exception()}") from task.exception()


async def serve(
    predictor: Predictor,
    host: str = "0.0.0.0",
    http_port: int = 8000,
    grpc_port: int = 5001,
    prometheus_path: str = "/prometheus",
    graceful_timeout: float = 15.0,
    transport: str | None = None,
    tracing: bool = False,
    kafka: KafkaSettings | None = None,
    http_limits: HttpLimits = HttpLimits(),
    max_message_bytes: int = EXECUTOR_MAX_MESSAGE,
    protocol: str = "seldon",
    full_health_checks: bool = False,
) -> None:
    tracer = None
    if tracing:
        from wharf.tracing import Tracing

        tracer = Tracing(f"{predictor.deployment}-{predictor.name}" if predictor.deployment else predictor.name)
    orch = Orchestrator(
        predictor,
        timeout_s=node_timeout(predictor, calls_nodes_over_grpc(predictor, transport)),
        retries=1,
        prometheus_path=prometheus_path,
        transport=transport,
        log_source=f"http://{os.environ.get('POD_NAME') or socket.gethostname()}:{http_port}/",
        trace=tracer.client_span if tracer else None,
        max_message_bytes=max_message_bytes,
        protocol=protocol,
        full_health_checks=full_health_checks,
    )
    await orch.start()
    consumer = await _start_kafka(orch, kafka) if kafka is not None else None
    refused = failure  # the body of a request the HTTP layer refuses (too large, too slow): the protocol's shape
    if protocol == "seldon":
        app: Any = RestApi(orch)
        methods = GrpcApi(orch).methods()
    else:
        from wharf.orchestrator.dialect_api import DialectRestApi, grpc_api
        from wharf.orchestrator.dialects import error_body

        app = DialectRestApi(orch)
        refused = lambda status, info: error_body(info)  # noqa: E731
        methods = grpc_api(orch).methods()
    server = _Server(
        uvicorn.Config(
            tracer.asgi(app) if tracer else app,
            host=host,
            port=http_port,
            loop="none",
            # one write per answer and the component server's limits, refused
            # requests answered with the executor's error body
            http=OneWriteHttpProtocol.with_limits(http_limits, refused),
            lifespan="off",
            access_log=False,
            log_level="warning",
            timeout_keep_alive=65,
            timeout_graceful_shutdown=graceful_timeout,
            proxy_headers=False,
            server_header=False,
        )
    )  # see server/worker.py
    grpc_server = GrpcServer(
        methods,
        reflection_method(methods),
        max_receive_bytes=max_message_bytes,
        span=tracer.grpc_server_span if tracer else None,
    )
    await grpc_server.start(host, grpc_port, reuse_port=False)  # one process: a taken port must fail
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    log.info(
        "orchestrator for predictor %r, protocol %s: REST :%d, gRPC :%d, metrics %s, nodes over %s",
        predictor.name,
        protocol,
        http_port,
        grpc_port,
        prometheus_path,
        ("gRPC" if orch.grpc else "REST") if protocol == "seldon" else "the client's transport",
    )
    kafka_task = asyncio.create_task(consumer.run(), name="kafka") if consumer is not None else None
    if kafka_task is not None:  # a consumer that dies takes the process down, so Kubernetes restarts it
        kafka_task.add_done_callback(lambda t: t.cancelled() or setattr(server, "should_exit", True))
    try:
        await server.serve()
    finally:
        if consumer is not None and kafka_task is not None:
            await _stop_kafka(consumer, kafka_task, graceful_timeout)
        await grpc_server.stop(graceful_timeout)
        await orch.close()
        if tracer is not None:
            tracer.shutdown()
