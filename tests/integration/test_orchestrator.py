"""The orchestrator against real component servers, started as real processes by ``wharf run``'s
LocalGraph: every graph rule of upstream's predict and feedback walks, errors, node down, timeouts, gRPC, metrics."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest

from wharf.local.process import free_port, wait_http
from wharf.local.run import LocalGraph
from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as pb_grpc

MODELS = Path(__file__).parent / "graph_models"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def post(url: str, message: dict, headers: dict | None = None) -> tuple[int, dict, dict]:
    req = urllib.request.Request(
        url, data=json.dumps(message).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read()), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), {k.lower(): v for k, v in err.headers.items()}


def sdep(tmp: Path, graph: str, containers: dict[str, str], annotations: str = "", transport: str = "rest") -> Path:
    """Write a SeldonDeployment whose containers run the test models (name -> class)."""
    lines = "\n".join(
        f"              - name: {name}\n                env: [{{name: MODEL_NAME, value: {cls}}}]"
        for name, cls in containers.items()
    )
    text = (
        textwrap.dedent("""\
        apiVersion: machinelearning.seldon.io/v1
        kind: SeldonDeployment
        metadata:
          name: test-graph
          annotations: {%s}
        spec:
          transport: %s
          predictors:
          - name: main
            componentSpecs:
            - spec:
                containers:
        """)
        % (annotations, transport)
        + lines
        + "\n"
        + textwrap.indent(textwrap.dedent(graph), "    ")
    )
    path = tmp / "sdep.yaml"
    path.write_text(text)
    return path


def start(path: Path, names: list[str]) -> LocalGraph:
    return LocalGraph(
        path,
        sources={n: str(MODELS) for n in names},
        http_port=free_port(),
        grpc_port=free_port(),
        out=lambda line: None,
    ).start()


@pytest.fixture(scope="module")
def router_graph(tmp_path_factory: pytest.TempPathFactory):
    """transformer (identity) -> router(branch 1) -> [model(+10), model(+100)]; feedback logged to a file."""
    tmp = tmp_path_factory.mktemp("router")
    log = tmp / "feedback.jsonl"
    path = sdep(
        tmp,
        f"""\
        graph:
          name: plus-one
          type: TRANSFORMER
          children:
          - name: router
            type: ROUTER
            parameters: [{{name: branch, value: "1", type: INT}}, {{name: feedback_log, value: "{log}", type: STRING}}]
            children:
            - name: ten
              type: MODEL
              parameters: [{{name: offset, value: "10", type: FLOAT}}, {{name: feedback_log, value: "{log}", type: STRING}}]
            - name: hundred
              type: MODEL
              parameters: [{{name: offset, value: "100", type: FLOAT}}, {{name: feedback_log, value: "{log}", type: STRING}}]
        """,
        {"plus-one": "Echo", "router": "FixedRouter", "ten": "Echo", "hundred": "Echo"},
    )
    # "plus-one" is an Echo answering /transform-input: Echo has no transform_input, so the
    # wrapper's identity default applies and the models see the request unchanged.
    graph = start(path, ["plus-one", "router", "ten", "hundred"])
    yield graph, log
    graph.stop()


def test_router_sends_to_the_chosen_branch_only(router_graph) -> None:
    graph, _ = router_graph
    status, answer, headers = post(f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[1.0, 2.0]]}})
    assert status == 200, answer
    assert answer["data"]["ndarray"] == [[101.0, 102.0]]  # identity transform, then +100 only
    assert answer["meta"]["routing"] == {"plus-one": -1, "router": 1}  # every node with children
    assert set(answer["meta"]["requestPath"]) == {"plus-one", "hundred"}  # "ten" was never called
    assert answer["meta"]["tags"] == {"seen_by_0": True, "seen_by_100": True}  # transformer's and model's
    assert answer["meta"]["puid"] == headers["seldon-puid"]


def test_client_puid_is_kept(router_graph) -> None:
    graph, _ = router_graph
    _, answer, headers = post(
        f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[1.0]]}}, headers={"Seldon-Puid": "my-request-1"}
    )
    assert answer["meta"]["puid"] == "my-request-1" and headers["seldon-puid"] == "my-request-1"


def test_feedback_follows_meta_routing_back(router_graph) -> None:
    graph, log = router_graph
    log.unlink(missing_ok=True)
    _, answer, _ = post(f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[3.0]]}})
    status, _, _ = post(
        f"{graph.url}/api/v1.0/feedback", {"request": {"data": {"ndarray": [[3.0]]}}, "response": answer, "reward": 1.0}
    )
    assert status == 200
    events = [json.loads(line) for line in log.read_text().splitlines()]
    # Only the branch taken (offset 100) and the router itself hear about it, with the route.
    assert {"offset": 100.0, "reward": 1.0, "routing": None} in events
    assert {"router": True, "reward": 1.0, "routing": 1} in events
    assert not any(e.get("offset") == 10.0 for e in events)


def test_feedback_without_routing_goes_to_every_child(router_graph) -> None:
    graph, log = router_graph
    log.unlink(missing_ok=True)
    post(
        f"{graph.url}/api/v1.0/feedback",
        {"request": {"data": {"ndarray": [[3.0]]}}, "response": {"data": {"ndarray": [[3.0]]}}, "reward": 0.5},
    )
    offsets = sorted(json.loads(line).get("offset", -1) for line in log.read_text().splitlines())
    assert offsets == [-1, 10.0, 100.0]  # router (no offset), and both models


def test_grpc_seldon_predict_walks_the_graph(router_graph) -> None:
    graph, _ = router_graph
    request = pb.SeldonMessage()
    request.data.tensor.shape.extend([1, 2])
    request.data.tensor.values.extend([1.0, 2.0])
    with grpc.insecure_channel(f"127.0.0.1:{graph.grpc_port}") as channel:
        reply = pb_grpc.SeldonStub(channel).Predict(request, timeout=10)
    assert list(reply.data.tensor.values) == [101.0, 102.0]
    assert dict(reply.meta.routing) == {"plus-one": -1, "router": 1}


def test_grpc_reflection_lists_the_seldon_service(router_graph) -> None:
    from grpc_reflection.v1alpha import reflection_pb2 as refl
    from grpc_reflection.v1alpha import reflection_pb2_grpc as refl_rpc

    graph, _ = router_graph
    with grpc.insecure_channel(f"127.0.0.1:{graph.grpc_port}") as channel:
        answers = refl_rpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([refl.ServerReflectionRequest(list_services="")]), timeout=10
        )
        listed = {s.name for s in next(answers).list_services_response.service}
    # the orchestrator serves only the external API, as upstream's executor does
    assert listed == {"seldon.protos.Seldon", "grpc.reflection.v1alpha.ServerReflection"}


def test_metrics_count_requests_and_node_calls(router_graph) -> None:
    graph, _ = router_graph
    post(f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[1.0]]}})
    with urllib.request.urlopen(f"{graph.url}/prometheus", timeout=5) as resp:
        text = resp.read().decode()
    server = [
        line for line in text.splitlines() if line.startswith("seldon_api_executor_server_requests_seconds_count{")
    ]
    assert any(
        'code="200"' in line
        and 'service="predictions"' in line
        and 'deployment_name="test-graph"' in line
        and float(line.rsplit(" ", 1)[1]) >= 1
        for line in server
    ), server
    client = [
        line for line in text.splitlines() if line.startswith("seldon_api_executor_client_requests_seconds_count{")
    ]
    assert any('model_name="hundred"' in line and 'service="predict"' in line for line in client), client
    assert not any('model_name="ten"' in line and 'service="predict"' in line for line in client)


def test_combiner_averages_and_non_combiner_keeps_first_child(tmp_path: Path) -> None:
    path = sdep(
        tmp_path,
        """\
        graph:
          name: mean
          type: COMBINER
          children:
          - name: a
            parameters: [{name: offset, value: "10", type: FLOAT}]
          - name: fan-out
            type: UNKNOWN_TYPE
            methods: [TRANSFORM_INPUT]
            children:
            - name: b
              parameters: [{name: offset, value: "30", type: FLOAT}]
            - name: c
              parameters: [{name: offset, value: "1000", type: FLOAT}]
        """,
        {"mean": "AverageCombiner", "a": "Echo", "fan-out": "Echo", "b": "Echo", "c": "Echo"},
    )
    sources = {n: str(MODELS) for n in ("a", "fan-out", "b", "c")}
    sources["mean"] = str(EXAMPLES / "models" / "average-combiner")
    graph = LocalGraph(
        path, sources=sources, http_port=free_port(), grpc_port=free_port(), out=lambda _line: None
    ).start()
    try:
        status, answer, _ = post(f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[0.0]]}})
        assert status == 200, answer
        # fan-out calls b and c but keeps b's answer (30); the combiner averages 10 and 30.
        assert answer["data"]["ndarray"] == [[20.0]]
        assert set(answer["meta"]["requestPath"]) == {"mean", "a", "b", "fan-out"}
        assert answer["meta"]["routing"] == {"mean": -1, "fan-out": -1}
        with urllib.request.urlopen(f"{graph.url}/prometheus", timeout=5) as resp:
            calls = [
                line
                for line in resp.read().decode().splitlines()
                if line.startswith("seldon_api_executor_client_requests_seconds_count{")
            ]
        assert any('model_name="c"' in line for line in calls), "c was called, its answer dropped"
    finally:
        graph.stop()


def test_node_errors_come_back_with_their_status_and_the_graph_keeps_serving(tmp_path: Path) -> None:
    path = sdep(
        tmp_path,
        """\
        graph:
          name: first
          children:
          - name: broken
        """,
        {"first": "Echo", "broken": "Broken"},
    )
    graph = start(path, ["first", "broken"])
    try:
        status, answer, _ = post(f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[1.0]]}})
        assert status == 422
        assert answer["status"]["reason"] == "MODEL_SAYS_NO"
        # the node's own text first, then which node of the graph said it
        assert answer["status"]["info"] == "the model refuses this input: from graph node 'broken'"
        with grpc.insecure_channel(f"127.0.0.1:{graph.grpc_port}") as channel:
            with pytest.raises(grpc.RpcError) as err:
                request = pb.SeldonMessage()
                request.data.tensor.values.append(1.0)
                pb_grpc.SeldonStub(channel).Predict(request, timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details() == "the model refuses this input: from graph node 'broken'"
        with urllib.request.urlopen(f"{graph.url}/ready", timeout=5) as resp:
            assert resp.status == 200
    finally:
        graph.stop()


def test_slow_node_times_out_and_down_node_is_named(tmp_path: Path) -> None:
    path = sdep(
        tmp_path,
        """\
        graph:
          name: slow
          parameters: [{name: delay, value: "2", type: FLOAT}]
        """,
        {"slow": "Broken"},
        annotations='seldon.io/rest-timeout: "300"',
    )
    graph = start(path, ["slow"])
    try:
        status, answer, _ = post(f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[1.0]]}})
        # upstream's executor: 500 with Go's url.Error text (executor/api/rest/client.go, CreateErrorPayload)
        assert status == 500
        info = answer["status"]["info"]
        assert (
            info.startswith('Post "http://127.0.0.1:')
            and '/predict": context deadline exceeded (Client.Timeout exceeded while awaiting headers): ' in info
        ), info
        assert "slow" in info and "0.3 s" in info
        # Kill the node: the orchestrator answers 500 with Go's dial error, naming the node, and /ready says why.
        proc = graph._procs["slow"]  # name -> process, in start order
        proc.terminate()
        proc.wait(10)
        status, answer, _ = post(f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[1.0]]}})
        info = answer["status"]["info"]
        assert status == 500 and info.startswith('Post "http://127.0.0.1:') and '/predict": dial tcp 127.0.0.1:' in info
        assert ": connect: connection refused: node 'slow' is unreachable" in info, info
        with pytest.raises(urllib.error.HTTPError) as ready:
            urllib.request.urlopen(f"{graph.url}/ready", timeout=5)
        assert ready.value.code == 503
        with urllib.request.urlopen(f"{graph.url}/live", timeout=5) as resp:
            assert resp.status == 200
    finally:
        graph.stop()


def test_without_an_annotation_a_node_call_still_times_out(tmp_path: Path, monkeypatch) -> None:
    """Upstream waits forever for a node when no timeout annotation is set; Wharf's default bounds it
    (60 s, WHARF_NODE_TIMEOUT_MS; shortened here so the test does not wait a minute)."""
    from wharf.deployment.graph import parse_predictor
    from wharf.orchestrator.serve import DEFAULT_NODE_TIMEOUT_S, node_timeout

    assert (
        node_timeout(parse_predictor({"name": "p", "graph": {"name": "m"}}), grpc_nodes=False, env={})
        == DEFAULT_NODE_TIMEOUT_S
        == 60.0
    )
    monkeypatch.setenv("WHARF_NODE_TIMEOUT_MS", "300")
    path = sdep(
        tmp_path,
        """\
        graph:
          name: slow
          parameters: [{name: delay, value: "3", type: FLOAT}]
        """,
        {"slow": "Broken"},
    )
    graph = start(path, ["slow"])
    try:
        status, answer, _ = post(f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[1.0]]}})
        assert status == 500, answer
        assert "context deadline exceeded" in answer["status"]["info"]
        assert "'slow'" in answer["status"]["info"] and "0.3 s" in answer["status"]["info"]
    finally:
        graph.stop()


def test_grpc_nodes_time_out_after_the_grpc_timeout_annotation(tmp_path: Path) -> None:
    # a long rest-timeout and a short grpc-timeout: gRPC node calls must use the latter
    path = sdep(
        tmp_path,
        """\
        graph:
          name: slow
          parameters: [{name: delay, value: "2", type: FLOAT}]
        """,
        {"slow": "Broken"},
        annotations='seldon.io/rest-timeout: "60000", seldon.io/grpc-timeout: "300"',
        transport="grpc",
    )
    graph = start(path, ["slow"])
    try:
        status, answer, _ = post(f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[1.0]]}})
        assert status == 504, answer
        assert "slow" in answer["status"]["info"]
    finally:
        graph.stop()


def test_engine_predictor_env_and_bad_specs(tmp_path: Path) -> None:
    http = free_port()
    predictor = {
        "name": "p",
        "graph": {"name": "m", "endpoint": {"service_host": "127.0.0.1", "httpPort": free_port()}},
    }
    env = {**os.environ, "ENGINE_PREDICTOR": base64.b64encode(json.dumps(predictor).encode()).decode()}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wharf.cli",
            "orchestrator",
            "--host",
            "127.0.0.1",
            "--http-port",
            str(http),
            "--grpc-port",
            str(free_port()),
            "--sdep",
            "x",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"http://127.0.0.1:{http}/live", 20, proc)
        with pytest.raises(urllib.error.HTTPError) as err:  # the node is not running
            urllib.request.urlopen(f"http://127.0.0.1:{http}/ready", timeout=5)
        assert err.value.code == 503 and b"m (127.0.0.1" in err.value.read()
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
    bad = subprocess.run(
        [sys.executable, "-m", "wharf.cli", "orchestrator"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "ENGINE_PREDICTOR": base64.b64encode(b'{"name": "p", "graph": {"type": "NOPE", "name": "x"}}').decode(),
        },
    )
    assert bad.returncode == 2 and "ENGINE_PREDICTOR.graph.type: 'NOPE'" in bad.stderr


def test_grpc_transport_carries_protos_node_to_node(tmp_path: Path) -> None:
    """spec.transport: grpc: every hop is a gRPC call; routing, combining and feedback still work."""
    log = tmp_path / "feedback.jsonl"
    path = sdep(
        tmp_path,
        f"""\
        graph:
          name: router
          type: ROUTER
          parameters: [{{name: branch, value: "1", type: INT}}, {{name: feedback_log, value: "{log}", type: STRING}}]
          children:
          - name: broken
            type: MODEL
          - name: mean
            type: COMBINER
            children:
            - name: ten
              parameters: [{{name: offset, value: "10", type: FLOAT}}, {{name: feedback_log, value: "{log}", type: STRING}}]
            - name: thirty
              parameters: [{{name: offset, value: "30", type: FLOAT}}]
        """,
        {"router": "FixedRouter", "broken": "Broken", "mean": "AverageCombiner", "ten": "Echo", "thirty": "Echo"},
        transport="grpc",
    )
    sources = {n: str(MODELS) for n in ("router", "broken", "ten", "thirty")}
    sources["mean"] = str(EXAMPLES / "models" / "average-combiner")
    graph = LocalGraph(
        path, sources=sources, http_port=free_port(), grpc_port=free_port(), out=lambda _line: None
    ).start()
    try:
        status, answer, _ = post(
            f"{graph.url}/api/v1.0/predictions", {"data": {"tensor": {"shape": [1, 1], "values": [0.0]}}}
        )
        assert status == 200, answer
        assert answer["data"]["tensor"]["values"] == [20.0]  # mean of +10 and +30, routed to branch 1
        assert answer["meta"]["routing"] == {"router": 1, "mean": -1}
        assert answer["meta"]["puid"]
        with grpc.insecure_channel(f"127.0.0.1:{graph.grpc_port}") as channel:
            request = pb.SeldonMessage()
            request.data.tensor.shape.extend([1, 1])
            request.data.tensor.values.append(1.0)
            reply = pb_grpc.SeldonStub(channel).Predict(request, timeout=10)
        assert list(reply.data.tensor.values) == [21.0] and dict(reply.meta.routing) == {"router": 1, "mean": -1}
        status, _, _ = post(
            f"{graph.url}/api/v1.0/feedback",
            {"request": {"data": {"ndarray": [[0.0]]}}, "response": answer, "reward": 1.0},
        )
        assert status == 200
        events = [json.loads(line) for line in log.read_text().splitlines()]
        assert {"router": True, "reward": 1.0, "routing": 1} in events
        assert {"offset": 10.0, "reward": 1.0, "routing": None} in events
        with urllib.request.urlopen(f"{graph.url}/prometheus", timeout=5) as resp:
            text = resp.read().decode()
        assert 'model_name="ten"' in text
    finally:
        graph.stop()


class _Sink:
    """A CloudEvents sink on loopback that records every event it receives."""

    def __init__(self) -> None:
        import http.server
        import threading

        events = self.events = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                events.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list:
        import time

        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.events


def test_payload_logging_sends_cloudevents(tmp_path: Path) -> None:
    sink = _Sink()
    path = sdep(
        tmp_path,
        f"""\
        graph:
          name: first
          logger: {{mode: all, url: "{sink.url}"}}
          parameters: [{{name: offset, value: "1", type: FLOAT}}]
          children:
          - name: second
            logger: {{mode: request, url: "{sink.url}"}}
            parameters: [{{name: offset, value: "10", type: FLOAT}}]
        """,
        {"first": "Echo", "second": "Echo"},
    )
    graph = start(path, ["first", "second"])
    try:
        status, answer, headers = post(f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[1.0]]}})
        assert status == 200 and answer["data"]["ndarray"] == [[12.0]]
        events = sink.wait_for(3)
        kinds = sorted((h["ce-modelid"], h["ce-type"]) for h, _ in events)
        # first logs request and response, second (mode request) only its request
        assert kinds == [
            ("first", "io.seldon.serving.inference.request"),
            ("first", "io.seldon.serving.inference.response"),
            ("second", "io.seldon.serving.inference.request"),
        ]
        for h, _ in events:
            assert h["ce-requestid"] == headers["seldon-puid"] and h["ce-specversion"] == "1.0"
            assert h["ce-inferenceservicename"] == "test-graph" and h["ce-endpoint"] == "main"
        bodies = {(h["ce-modelid"], h["ce-type"].rsplit(".", 1)[1]): json.loads(b) for h, b in events}
        assert bodies[("second", "request")]["data"]["ndarray"] == [[2.0]]  # what "first" passed on
        assert bodies[("first", "response")]["data"]["ndarray"] == [[2.0]]
        post(
            f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[1.0]]}}, headers={"Seldon-Skip-Logging": "true"}
        )
        post(f"{graph.url}/api/v1.0/feedback", {"request": {"data": {"ndarray": [[1.0]]}}, "reward": 1.0})
        events = sink.wait_for(4)
        assert len(events) == 4 and events[3][0]["ce-type"] == "io.seldon.serving.feedback"  # skipped request: none
        assert events[3][0]["ce-modelid"] == "first"  # second's mode is request-only
    finally:
        graph.stop()
        sink.server.shutdown()


def test_a_library_error_deep_in_a_graph_names_the_node_it_came_from(tmp_path: Path) -> None:
    """A model's own exception text (numpy's, here) reaches the client with the failing node named,
    and upstream's status fields as the component wrote them."""
    (tmp_path / "Reshaper.py").write_text(
        "import numpy as np\n\nclass Reshaper:\n    def predict(self, X, names):\n"
        "        return np.asarray(X).reshape(4)\n"
    )
    path = sdep(
        tmp_path,
        """\
        graph:
          name: first
          children:
          - name: reshaper
        """,
        {"first": "Echo", "reshaper": "Reshaper"},
    )
    graph = LocalGraph(
        path,
        sources={"first": str(MODELS), "reshaper": str(tmp_path)},
        http_port=free_port(),
        grpc_port=free_port(),
        out=lambda line: None,
    ).start()
    try:
        status, answer, _ = post(f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[1.0, 2.0]]}})
    finally:
        graph.stop()
    assert status == 500
    assert answer["status"] == {
        "code": -1,
        "status": 1,
        "reason": "MICROSERVICE_INTERNAL_ERROR",
        "info": "cannot reshape array of size 2 into shape (4,): from graph node 'reshaper'",
    }
