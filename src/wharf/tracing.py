"""Optional distributed tracing (``--tracing`` / ``TRACING=1``) with OpenTelemetry.

Upstream traced with jaeger-client over OpenTracing; both projects are archived. We export OTLP
over HTTP instead, which Jaeger (1.35+), Tempo and every OpenTelemetry collector accept, and we
read and write trace context both as W3C ``traceparent`` and as Jaeger's ``uber-trace-id``, so a
trace still joins an upstream executor or a client instrumented with Jaeger.

Where spans go: the standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``
when set; otherwise the upstream variable ``JAEGER_AGENT_HOST`` on the OTLP/HTTP port 4318
(``JAEGER_AGENT_PORT`` named the retired UDP agent protocol and is not used).

The OpenTelemetry packages are an extra (``pip install 'wharf-ml[tracing]'``): a model image that
does not trace carries none of them. Everything else in Wharf imports this module lazily.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

OTLP_HTTP_PORT = 4318


class TracingUnavailable(RuntimeError):
    """``--tracing`` was asked for but OpenTelemetry is not installed."""


def exporter_endpoint(env: dict[str, str] | os._Environ = os.environ) -> str | None:
    """The OTLP/HTTP traces URL to export to, or None to let the exporter read the OTEL_* env."""
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    host = env.get("JAEGER_AGENT_HOST")
    return f"http://{host}:{OTLP_HTTP_PORT}/v1/traces" if host else None


def check_available() -> None:
    """Raise TracingUnavailable, naming the missing package, if the tracing extra is absent."""
    import importlib

    for module in (
        "opentelemetry.sdk.trace",
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "opentelemetry.propagators.jaeger",
        "opentelemetry.instrumentation.asgi",
    ):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise TracingUnavailable(
                f"tracing was switched on (--tracing / TRACING) but {module} cannot be imported ({exc}); "
                "install it with: pip install 'wharf-ml[tracing]'"
            ) from exc


class Tracing:
    """One process's tracer provider plus the instrumentation hooks the servers plug in."""

    def __init__(self, service_name: str) -> None:
        check_available()
        from opentelemetry import propagate, trace
        from opentelemetry.baggage.propagation import W3CBaggagePropagator
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.propagators.composite import CompositePropagator
        from opentelemetry.propagators.jaeger import JaegerPropagator
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=exporter_endpoint())))
        trace.set_tracer_provider(self.provider)
        propagate.set_global_textmap(
            CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator(), JaegerPropagator()])
        )

    # --- servers: a span per incoming request, parented on the caller's context -------------

    @staticmethod
    def asgi(app: Any) -> Any:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        return OpenTelemetryMiddleware(app)

    @staticmethod
    @contextlib.contextmanager
    def grpc_server_span(path: str, metadata: dict[str, str]) -> Iterator[Any]:
        """A SERVER span named after the gRPC method, parented on the context in ``metadata``."""
        from opentelemetry import propagate, trace
        from opentelemetry.trace import Status, StatusCode

        service, _, method = path.lstrip("/").partition("/")
        tracer = trace.get_tracer("wharf.server")
        with tracer.start_as_current_span(
            path,
            context=propagate.extract(metadata),
            kind=trace.SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": method},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except Exception as exc:
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                span.set_attribute("rpc.grpc.status_code", getattr(exc, "code", 2))
                raise
            span.set_attribute("rpc.grpc.status_code", 0)

    @staticmethod
    @contextlib.contextmanager
    def client_span(name: str, headers: dict[str, str]) -> Iterator[Any]:
        """A CLIENT span around one call to a node; its context goes out in ``headers``."""
        from opentelemetry import propagate, trace

        with trace.get_tracer("wharf.orchestrator").start_as_current_span(name, kind=trace.SpanKind.CLIENT) as span:
            propagate.inject(headers)
            yield span

    def shutdown(self) -> None:
        """Flush spans still queued: called when the process stops."""
        self.provider.shutdown()
