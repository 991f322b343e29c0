"""Settings of one component server, read once from flags and environment by the CLI."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from wharf.component.model import UnitInfo
from wharf.server.prom import Identity


@dataclass(frozen=True)
class ServerConfig:
    http_port: int = 9000
    grpc_port: int = 5000
    metrics_port: int = 6000
    metrics_path: str = "/metrics"
    host: str = "0.0.0.0"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    threads: int = 1  # >1: user code runs in a thread pool of this size per worker
    grpc_enabled: bool = True
    keepalive: int = 2
    access_log: bool = False
    log_level: str = "INFO"
    graceful_timeout: float = 30.0  # seconds in-flight requests get after SIGTERM
    max_requests: int = 0  # >0: a worker is replaced after about this many requests (memory growth)
    max_requests_jitter: int = 0  # spread replacements so workers do not all restart at once
    max_message_bytes: int | None = None  # seldon.io/grpc-max-message-size
    payload_passthrough: bool = False
    tracing: bool = False  # OpenTelemetry spans per request (needs the tracing extra)
    service_name: str = "wharf-component"  # service.name of the spans
    unit: UnitInfo = UnitInfo()
    identity: Identity = Identity()
