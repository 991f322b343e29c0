"""Settings of one component server, read once from flags and environment by the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from wharf.component.model import UnitInfo
from wharf.http_server.limits import HttpLimits
from wharf.server.prom import Identity


@dataclass(frozen=True)
class ServerConfig:
    http_port: int = 9000
    grpc_port: int = 5000
    metrics_port: int = 6000
    metrics_path: str = "/metrics"
    host: str = "0.0.0.0"
    workers: int = 1  # one state per replica, as upstream; more is the user's choice (wharf.server.workers)
    threads: int = 1  # model threads per worker: user code runs there, never on the event loop
    grpc_enabled: bool = True
    keepalive: int = 2
    access_log: bool = False
    log_level: str = "INFO"
    graceful_timeout: float = 30.0  # seconds in-flight requests get after SIGTERM
    max_requests: int = 0  # >0: a worker is replaced after about this many requests (memory growth)
    max_requests_jitter: int = 0  # spread replacements so workers do not all restart at once
    max_message_bytes: int | None = None  # seldon.io/grpc-max-message-size
    http_limits: HttpLimits = HttpLimits()  # REST body size, read timeout, connections per worker
    payload_passthrough: bool = False
    tracing: bool = False  # OpenTelemetry spans per request (needs the tracing extra)
    service_name: str = "wharf-component"  # service.name of the spans
    protocols: tuple[str, ...] = ("seldon", "v2")  # APIs on the HTTP and gRPC ports (--protocols)
    model_name: str | None = None  # the V2 model name (--model-name); None: see component.v2.model_name_for
    unit: UnitInfo = UnitInfo()
    identity: Identity = Identity()
