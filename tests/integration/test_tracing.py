"""--tracing: spans reach a real OTLP/HTTP endpoint, joined to the caller's trace.

The collector here is a loopback HTTP server that decodes what the real OpenTelemetry exporter
posts (ExportTraceServiceRequest protobuf), so the exporter, propagators and instrumentations
under test are the production ones.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import orjson
import pytest

pytest.importorskip("opentelemetry.sdk", reason="the tracing extra is part of the test extra")
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from support import server_env  # noqa: E402

from wharf.local.process import free_port  # noqa: E402
from wharf.local.run import LocalGraph  # noqa: E402
from wharf.protocol.pb import prediction_pb2 as pb  # noqa: E402
from wharf.protocol.pb import prediction_pb2_grpc as pb_grpc  # noqa: E402

GRAPH_MODELS = Path(__file__).parent / "graph_models"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Collector:
    """Spans posted to /v1/traces, flattened to (service name, span) pairs."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, object]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                with collector.lock:
                    for resource_spans in request.resource_spans:
                        attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                        for scope in resource_spans.scope_spans:
                            collector.spans.extend((attrs.get("service.name", ""), s) for s in scope.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def in_trace(self, trace_id: str, want: int, timeout: float = 15.0) -> list[tuple[str, object]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [(svc, s) for svc, s in self.spans if s.trace_id.hex() == trace_id]
            if len(found) >= want:
                return found
            time.sleep(0.1)
        raise AssertionError(
            f"expected {want} spans in trace {trace_id}, got {len(found)}: {[(svc, s.name) for svc, s in found]}"
        )


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.server.shutdown()


def tracing_env(collector: Collector) -> dict[str, str]:
    # a short batch delay so spans arrive while the test waits, not at the 5 s default
    return {"TRACING": "1", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "100"}


def test_component_rest_span_continues_the_w3c_trace(serve, collector) -> None:
    server = serve("FullModel", env={**tracing_env(collector), "PREDICTIVE_UNIT_ID": "traced-unit"})
    r = server.post(
        "/api/v1.0/predictions",
        json={"data": {"ndarray": [[1.0]]}},
        headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
    )
    assert r.status_code == 200
    spans = collector.in_trace(TRACE_ID, 1)
    server_span = next(s for svc, s in spans if s.parent_span_id.hex() == PARENT_ID)
    assert "/api/v1.0/predictions" in server_span.name
    assert {svc for svc, _ in spans} == {"traced-unit"}


def test_component_grpc_span_continues_a_jaeger_trace(serve, collector) -> None:
    trace_id, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    server = serve("FullModel", env={**tracing_env(collector), "PREDICTIVE_UNIT_ID": "traced-grpc"})
    request = pb.SeldonMessage()
    request.data.tensor.shape.extend([1, 1])
    request.data.tensor.values.append(1.0)
    with grpc.insecure_channel(server.grpc_target) as channel:
        pb_grpc.ModelStub(channel).Predict(
            request, timeout=10, metadata=[("uber-trace-id", f"{trace_id}:{parent}:0:1")]
        )
    ((svc, span),) = collector.in_trace(trace_id, 1)
    assert svc == "traced-grpc"
    assert span.parent_span_id.hex() == parent
    assert span.name == "/seldon.protos.Model/Predict"


def test_without_the_extra_tracing_fails_fast_with_the_install_hint(tmp_path) -> None:
    import subprocess
    import sys

    # a sitecustomize that hides OpenTelemetry stands in for an image without the extra
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['opentelemetry.sdk.trace'] = None\n")
    env = server_env({"TRACING": "1"})
    env["PYTHONPATH"] = f"{tmp_path}:{env.get('PYTHONPATH', '')}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wharf.cli",
            "serve",
            "FullModel",
            "--http-port",
            str(free_port()),
            "--grpc-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
        ],
        cwd=Path(__file__).parent / "models",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "pip install 'wharf-ml[tracing]'" in done.stderr + done.stdout


def spans_by_service(spans: list[tuple[str, object]]) -> dict[str, list]:
    by_service: dict[str, list] = {}
    for svc, span in spans:
        by_service.setdefault(svc, []).append(span)
    return by_service


def traced_graph(tmp_path: Path, collector, monkeypatch, transport: str) -> LocalGraph:
    """A started two-node Echo graph (first -> second), nodes called over ``transport``, traced."""
    for name, value in tracing_env(collector).items():
        monkeypatch.setenv(name, value)  # the local runtime hands its environment to every process
    endpoint = f"endpoint: {{type: {transport}}}"
    path = tmp_path / "sdep.yaml"
    path.write_text(
        "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: traced}\n"
        "spec:\n  predictors:\n  - name: main\n    componentSpecs:\n    - spec:\n        containers:\n"
        "        - {name: first, env: [{name: MODEL_NAME, value: Echo}]}\n"
        "        - {name: second, env: [{name: MODEL_NAME, value: Echo}]}\n"
        f"    graph:\n      name: first\n      type: MODEL\n      {endpoint}\n"
        f"      children:\n      - {{name: second, type: MODEL, {endpoint}}}\n"
    )
    return LocalGraph(
        path,
        sources={"first": str(GRAPH_MODELS), "second": str(GRAPH_MODELS)},
        http_port=free_port(),
        grpc_port=free_port(),
        out=lambda line: None,
    ).start()


def test_orchestrator_and_nodes_share_one_trace(tmp_path, collector, monkeypatch) -> None:
    graph = traced_graph(tmp_path, collector, monkeypatch, "REST")
    try:
        trace_id = "1" * 32
        req = urllib.request.Request(
            f"{graph.url}/api/v1.0/predictions",
            data=orjson.dumps({"data": {"ndarray": [[1.0]]}}),
            headers={"Content-Type": "application/json", "traceparent": f"00-{trace_id}-{PARENT_ID}-01"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
        spans = collector.in_trace(trace_id, 3)
    finally:
        graph.stop()
    by_service = spans_by_service(spans)
    assert {"traced-main", "first", "second"} <= set(by_service)
    # each node's server span is the child of one of the orchestrator's spans (its outgoing call)
    orchestrator_ids = {s.span_id for s in by_service["traced-main"]}
    for node in ("first", "second"):
        assert any(s.parent_span_id in orchestrator_ids for s in by_service[node]), node


def test_grpc_graph_orchestrator_span_and_node_spans_share_the_callers_trace(tmp_path, collector, monkeypatch) -> None:
    """The external gRPC API and the calls to gRPC nodes (both wharf.grpc_h2) carry the trace."""
    graph = traced_graph(tmp_path, collector, monkeypatch, "GRPC")
    try:
        trace_id = "2" * 32
        request = pb.SeldonMessage()
        request.data.ndarray.values.add().number_value = 1.0
        with grpc.insecure_channel(f"127.0.0.1:{graph.grpc_port}") as channel:
            pb_grpc.SeldonStub(channel).Predict(
                request, timeout=10, metadata=[("traceparent", f"00-{trace_id}-{PARENT_ID}-01")]
            )
        spans = collector.in_trace(trace_id, 5)
    finally:
        graph.stop()
    by_service = spans_by_service(spans)
    entry = [s for s in by_service["traced-main"] if s.name == "/seldon.protos.Seldon/Predict"]
    assert len(entry) == 1 and entry[0].parent_span_id.hex() == PARENT_ID
    calls = [s for s in by_service["traced-main"] if s.name == "/seldon.protos.Model/Predict"]
    assert len(calls) == 2 and all(c.parent_span_id == entry[0].span_id for c in calls)
    for node in ("first", "second"):
        (node_span,) = by_service[node]
        assert node_span.name == "/seldon.protos.Model/Predict"
        assert node_span.parent_span_id in {c.span_id for c in calls}, node
