"""Protocol ``v2`` (and its alias ``kfserving``) through Wharf's orchestrator, with a real MLServer
1.7.1 (its own venv, ``wharf.testing.mlserver``) as the graph's nodes and real V2 clients
(tritonclient HTTP from this venv; tritonclient gRPC from the MLServer venv, whose protobuf 6 it
needs: Wharf's test venv pins protobuf 5 for its stub generator).

One MLServer serves two models: ``scaler``, a custom runtime that doubles its input (the graph's
transformer), and ``classifier``, mlserver-sklearn's runtime for a logistic regression on iris.
Answers through the orchestrator are compared with MLServer's own answers to the same requests.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from wharf.local.process import free_port, serving
from wharf.protocol.pb import inference_pb2 as pb
from wharf.testing.mlserver import mlserver_venv

pytestmark = pytest.mark.timeout(300)

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
DOUBLER = textwrap.dedent("""\
    from mlserver import MLModel
    from mlserver.codecs import NumpyCodec
    from mlserver.types import InferenceRequest, InferenceResponse


    class Doubler(MLModel):
        async def load(self) -> bool:
            return True

        async def predict(self, payload: InferenceRequest) -> InferenceResponse:
            x = NumpyCodec.decode_input(payload.inputs[0])
            return InferenceResponse(model_name=self.name, outputs=[NumpyCodec.encode_output("x", x * 2.0)])
    """)
TRAIN = (
    "from sklearn.datasets import load_iris; from sklearn.linear_model import LogisticRegression; import joblib; "
    "X, y = load_iris(return_X_y=True); joblib.dump(LogisticRegression(max_iter=500).fit(X, y), 'model.joblib')"
)


def v2_request(rows: list[list[float]], request_id: str = "req-1", **extra: Any) -> dict[str, Any]:
    return {
        "id": request_id,
        "inputs": [
            {
                "name": "x",
                "shape": [len(rows), len(rows[0])],
                "datatype": "FP64",
                "data": [v for row in rows for v in row],
            }
        ],
        **extra,
    }


MAX_BODY = 65536  # the single-node orchestrator's request body limit (WHARF_MAX_BODY_BYTES)


class Ports:
    def __init__(self) -> None:
        self.http, self.grpc = free_port(), free_port()


@pytest.fixture(scope="module")
def mlserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ports]:
    bindir = mlserver_venv()
    folder = tmp_path_factory.mktemp("mlserver")
    (folder / "scaler").mkdir()
    (folder / "scaler" / "doubler.py").write_text(DOUBLER)
    (folder / "scaler" / "model-settings.json").write_text(
        json.dumps({"name": "scaler", "implementation": "doubler.Doubler"})
    )
    (folder / "classifier").mkdir()
    subprocess.run([str(bindir / "python"), "-c", TRAIN], cwd=folder / "classifier", check=True, timeout=120)
    (folder / "classifier" / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "classifier",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib"},
            }
        )
    )
    ports = Ports()
    (folder / "settings.json").write_text(
        json.dumps(
            {
                "http_port": ports.http,
                "grpc_port": ports.grpc,
                "metrics_port": free_port(),
                "parallel_workers": 0,
                "debug": False,
            }
        )
    )
    with serving(
        [str(bindir / "mlserver"), "start", str(folder)],
        folder / "mlserver.log",
        f"http://127.0.0.1:{ports.http}/v2/models/classifier/ready",
        "MLServer",
        timeout=120,
    ):
        yield ports


class PayloadSink:
    """Collects the orchestrator's CloudEvents (headers and body), as a logger endpoint would."""

    def __init__(self) -> None:
        self.events: list[tuple[dict[str, str], bytes]] = []
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.events.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"


@pytest.fixture(scope="module")
def sink() -> Iterator[PayloadSink]:
    sink = PayloadSink()
    yield sink
    sink.server.shutdown()


def _node(name: str, node_type: str, ports: Ports, extra: str = "") -> str:
    return (
        f"name: {name}\ntype: {node_type}\n"
        f"endpoint: {{service_host: 127.0.0.1, httpPort: {ports.http}, grpcPort: {ports.grpc}}}\n{extra}"
    )


def _orchestrator(tmp: Path, protocol: str, graph: str) -> tuple[Path, Ports]:
    sdep = tmp / "sdep.yaml"
    sdep.write_text(
        "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: v2-graph}\n"
        f"spec:\n  protocol: {protocol}\n  predictors:\n  - name: main\n    graph:\n" + textwrap.indent(graph, "      ")
    )
    return sdep, Ports()


def _orchestrator_cmd(sdep: Path, ports: Ports, protocol: str) -> list[str]:
    import sys

    return [
        sys.executable,
        "-m",
        "wharf.cli",
        "orchestrator",
        "--file",
        str(sdep),
        "--protocol",
        protocol,
        "--http-port",
        str(ports.http),
        "--grpc-port",
        str(ports.grpc),
        "--full_health_checks=true",
    ]


@pytest.fixture(scope="module")
def single(mlserver: Ports, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ports]:
    """The classifier alone, in protocol kfserving (upstream's other name for v2)."""
    tmp = tmp_path_factory.mktemp("single")
    sdep, ports = _orchestrator(tmp, "kfserving", _node("classifier", "MODEL", mlserver))
    with serving(
        ["env", f"WHARF_MAX_BODY_BYTES={MAX_BODY}", *_orchestrator_cmd(sdep, ports, "kfserving")],
        tmp / "orchestrator.log",
        f"http://127.0.0.1:{ports.http}/v2/health/ready",
        "orchestrator",
    ):
        yield ports


@pytest.fixture(scope="module")
def chain(mlserver: Ports, sink: PayloadSink, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ports]:
    """scaler (TRANSFORMER) -> classifier (MODEL, payloads logged), protocol v2."""
    tmp = tmp_path_factory.mktemp("chain")
    child = _node("classifier", "MODEL", mlserver, f"logger: {{url: '{sink.url}', mode: all}}\n")
    graph = _node("scaler", "TRANSFORMER", mlserver) + "children:\n- " + textwrap.indent(child, "  ").lstrip()
    sdep, ports = _orchestrator(tmp, "v2", graph)
    with serving(
        _orchestrator_cmd(sdep, ports, "v2"),
        tmp / "orchestrator.log",
        f"http://127.0.0.1:{ports.http}/v2/health/ready",
        "orchestrator",
    ):
        yield ports


def _without_id(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "id"}


# --- REST --------------------------------------------------------------------------------------


def test_rest_answers_equal_mlserver_called_directly(mlserver: Ports, single: Ports) -> None:
    direct = f"http://127.0.0.1:{mlserver.http}"
    orch = f"http://127.0.0.1:{single.http}"
    request = v2_request(ROWS)
    for path in ("/v2/models/classifier/infer", "/v2/models/infer"):
        got = httpx.post(orch + path, json=request)
        want = httpx.post(direct + "/v2/models/classifier/infer", json=request)
        assert got.status_code == want.status_code == 200, got.text
        assert got.json() == want.json()  # same id given, so the whole answer is the same
        assert got.headers["seldon-puid"]
    assert got.json()["outputs"][0]["data"] == [0, 2, 1]  # iris classes the regression gives these rows
    for path in ("/v2/models/classifier", "/v2/models/classifier/ready"):
        got, want = httpx.get(orch + path), httpx.get(direct + path)
        assert (got.status_code, got.content) == (want.status_code, want.content)
    assert httpx.get(orch + "/v2/health/live").status_code == 200
    assert httpx.get(orch + "/v2/health/ready").status_code == 200
    assert httpx.get(orch + "/v2").json()["name"] == "wharf-orchestrator"


def test_chain_transformer_then_model_equals_mlserver_steps(mlserver: Ports, chain: Ports, sink: PayloadSink) -> None:
    direct = f"http://127.0.0.1:{mlserver.http}"
    doubled = httpx.post(direct + "/v2/models/scaler/infer", json=v2_request(ROWS)).json()
    step2 = {"id": "req-1", "inputs": doubled["outputs"]}
    want = httpx.post(direct + "/v2/models/classifier/infer", json=step2).json()
    sink.events.clear()
    got = httpx.post(
        f"http://127.0.0.1:{chain.http}/v2/models/infer", json=v2_request(ROWS), headers={"Seldon-Puid": "puid-v2-1"}
    )
    assert got.status_code == 200, got.text
    assert _without_id(got.json()) == _without_id(want)
    assert (
        want["outputs"][0]["data"]
        != httpx.post(direct + "/v2/models/classifier/infer", json=v2_request(ROWS)).json()["outputs"][0]["data"]
    )
    # the classifier's request and answer were logged as V2 JSON with the protocol named
    for _ in range(100):
        if len(sink.events) >= 2:
            break
        threading.Event().wait(0.05)
    kinds = {h["ce-type"]: (h, json.loads(b)) for h, b in sink.events}
    request_headers, logged_request = kinds["io.seldon.serving.inference.request"]
    assert request_headers["ce-protocol"] == "v2" and request_headers["ce-requestid"] == "puid-v2-1"
    assert request_headers["ce-modelid"] == "classifier" and request_headers["content-type"] == "application/json"
    assert logged_request["inputs"] == doubled["outputs"]  # the scaler's outputs, chained into inputs
    assert kinds["io.seldon.serving.inference.response"][1]["outputs"] == got.json()["outputs"]


def test_tritonclient_http(mlserver: Ports, single: Ports) -> None:
    import tritonclient.http as httpclient

    clients = [httpclient.InferenceServerClient(f"127.0.0.1:{p.http}") for p in (single, mlserver)]
    answers = []
    for client in clients:
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("classifier")
        x = httpclient.InferInput("x", [3, 4], "FP64")
        x.set_data_from_numpy(np.array(ROWS, dtype=np.float64), binary_data=False)
        out = httpclient.InferRequestedOutput("predict", binary_data=False)
        answers.append(client.infer("classifier", [x], outputs=[out]).as_numpy("predict"))
        assert client.get_model_metadata("classifier")["name"] == "classifier"
    np.testing.assert_array_equal(answers[0], answers[1])
    # tritonclient's default, binary tensors after a JSON header: refused by name, as it cannot pass
    x.set_data_from_numpy(np.array(ROWS, dtype=np.float64))
    with pytest.raises(Exception, match=r"\[400\] the binary tensor data extension"):
        clients[0].infer("classifier", [x])
    with pytest.raises(Exception, match="Failed to find model nope"):
        clients[0].is_model_ready("nope") or clients[0].get_model_metadata("nope")


GRPC_CLIENT = textwrap.dedent("""\
    import json, sys
    import numpy as np
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    out = {}
    for key, target in (("orchestrator", sys.argv[1]), ("mlserver", sys.argv[2])):
        client = grpcclient.InferenceServerClient(target)
        x = grpcclient.InferInput("x", [3, 4], "FP64")
        x.set_data_from_numpy(np.array(json.loads(sys.argv[3]), dtype=np.float64))
        answer = client.infer("classifier", [x], request_id="req-1")
        meta = client.get_model_metadata("classifier", as_json=True)
        out[key] = {"predict": answer.as_numpy("predict").tolist(), "live": client.is_server_live(),
                    "ready": client.is_server_ready(), "model_ready": client.is_model_ready("classifier"),
                    "metadata_name": meta["name"]}
    try:
        grpcclient.InferenceServerClient(sys.argv[1]).is_model_ready("nope")
    except InferenceServerException as exc:
        out["unknown"] = [exc.status(), exc.message()]
    print(json.dumps(out))
    """)


def test_tritonclient_grpc(mlserver: Ports, single: Ports) -> None:
    """tritonclient's gRPC client needs protobuf 6; it runs in the MLServer venv (which has it)."""
    python = mlserver_venv() / "python"
    run = subprocess.run(
        [str(python), "-c", GRPC_CLIENT, f"127.0.0.1:{single.grpc}", f"127.0.0.1:{mlserver.grpc}", json.dumps(ROWS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["orchestrator"] == out["mlserver"]
    assert out["orchestrator"]["predict"] == [[0], [2], [1]] or out["orchestrator"]["predict"] == [0, 2, 1]
    assert out["orchestrator"]["live"] and out["orchestrator"]["ready"] and out["orchestrator"]["model_ready"]
    status, message = out["unknown"]
    assert status == "StatusCode.UNKNOWN" and message.startswith("Failed to find model nope")


def test_grpc_chain_turns_answers_into_requests(mlserver: Ports, chain: Ports, sink: PayloadSink) -> None:
    """Over gRPC the scaler's ModelInferResponse becomes the classifier's ModelInferRequest, raw
    contents included (MLServer answers raw when asked raw); payloads are logged as protobuf."""
    sink.events.clear()
    request = pb.ModelInferRequest(id="req-2")
    request.inputs.add(name="x", datatype="FP64", shape=[3, 4])
    request.raw_input_contents.append(np.array(ROWS, dtype=np.float64).tobytes())
    with grpc.insecure_channel(f"127.0.0.1:{chain.grpc}") as channel:
        infer = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=pb.ModelInferRequest.SerializeToString,
            response_deserializer=pb.ModelInferResponse.FromString,
        )
        answer = infer(request, metadata=(("seldon-puid", "puid-grpc"),))
    assert answer.model_name == "classifier"
    got = (
        np.frombuffer(answer.raw_output_contents[0], dtype=np.int64)
        if answer.raw_output_contents
        else np.array(answer.outputs[0].contents.int64_contents)
    )
    direct = httpx.post(
        f"http://127.0.0.1:{mlserver.http}/v2/models/classifier/infer",
        json=v2_request([[2 * v for v in row] for row in ROWS]),
    ).json()
    assert got.tolist() == direct["outputs"][0]["data"]
    for _ in range(100):
        if len(sink.events) >= 2:
            break
        threading.Event().wait(0.05)
    logged = {h["ce-type"]: (h, b) for h, b in sink.events}
    headers, body = logged["io.seldon.serving.inference.request"]
    assert headers["content-type"] == "application/protobuf" and headers["ce-requestid"] == "puid-grpc"
    assert pb.ModelInferRequest.FromString(body).model_name == "classifier"


# --- errors ------------------------------------------------------------------------------------


def test_rest_bad_input_status_and_body(mlserver: Ports, single: Ports) -> None:
    orch = f"http://127.0.0.1:{single.http}"
    direct = f"http://127.0.0.1:{mlserver.http}"
    # not a V2 request: refused by the orchestrator before any node
    r = httpx.post(orch + "/v2/models/infer", json={"instances": ROWS})
    assert r.status_code == 400 and "expected 'inputs'" in r.json()["error"]
    r = httpx.post(orch + "/v2/models/infer", content=b"{not json")
    assert r.status_code == 400 and "the request is not JSON" in r.json()["error"]
    # wrong datatype, data that does not fill the shape: MLServer's status and body, passed through
    for bad in (
        v2_request(ROWS) | {"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP99", "data": [1.0] * 12}]},
        v2_request(ROWS) | {"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP64", "data": [1.0] * 7}]},
    ):
        got = httpx.post(orch + "/v2/models/classifier/infer", json=bad)
        want = httpx.post(direct + "/v2/models/classifier/infer", json=bad)
        assert got.status_code == want.status_code and got.status_code >= 400
        if want.headers["content-type"] == "application/json" and "error" in want.json():
            # the node is named after MLServer's own text
            assert got.json()["error"] == f"{want.json()['error']}: from graph node 'classifier'"
        else:
            assert got.content == want.content
    # unknown model: infer goes to the node (MLServer's 404), ready and metadata are upstream's 500
    got = httpx.post(orch + "/v2/models/nope/infer", json=v2_request(ROWS))
    want = httpx.post(direct + "/v2/models/nope/infer", json=v2_request(ROWS))
    assert got.status_code == want.status_code == 404
    assert got.json()["error"].startswith(want.json()["error"])
    for path in ("/v2/models/nope/ready", "/v2/models/nope"):
        r = httpx.get(orch + path)
        assert r.status_code == 500 and r.json()["error"].startswith("Failed to find model nope")
    assert httpx.get(orch + "/v2/models/classifier/infer").status_code == 405
    # a body past the limit: 413 in V2's error shape, naming the limit
    r = httpx.post(orch + "/v2/models/infer", json=v2_request([[1.0] * 4] * 5000))  # 80,000 bytes or more
    assert r.status_code == 413 and str(MAX_BODY) in r.json()["error"]
    # node calls are timed per kind of call, not per model name a client sent (labels would grow without end)
    metrics = httpx.get(orch + "/prometheus").text
    client_lines = [line for line in metrics.splitlines() if line.startswith("seldon_api_executor_client_requests")]
    assert any('service="predict"' in line and 'code="404"' in line for line in client_lines)
    assert not any("nope" in line for line in client_lines)
    assert httpx.get(orch + "/api/v1.0/predictions").status_code == 404  # a seldon path: not this protocol


def test_node_down_and_full_health_checks(mlserver: Ports) -> None:
    from wharf.deployment.graph import parse_predictor
    from wharf.orchestrator.app import Orchestrator
    from wharf.orchestrator.walker import Walk

    dead = free_port()
    predictor = parse_predictor(
        {
            "name": "p",
            "graph": {
                "name": "classifier",
                "type": "MODEL",
                "endpoint": {"service_host": "127.0.0.1", "httpPort": mlserver.http},
                "children": [
                    {"name": "gone", "type": "MODEL", "endpoint": {"service_host": "127.0.0.1", "httpPort": dead}}
                ],
            },
        }
    )

    async def run() -> None:
        orch = Orchestrator(predictor, protocol="v2", full_health_checks=True)
        await orch.start()
        try:
            ok, why = await orch.ready()
            assert not ok and f"127.0.0.1:{dead}" in why and "classifier" not in why
            from wharf.orchestrator.walker import GraphCallError

            with pytest.raises(GraphCallError) as failed:
                await orch.rest_walker.predict(json.dumps(v2_request(ROWS)).encode(), Walk(puid="p", headers={}))
            assert failed.value.status == 500
            error = json.loads(failed.value.body)["error"]
            assert f"127.0.0.1:{dead}" in error and "'gone' is unreachable" in error
        finally:
            await orch.close()
        # protocol seldon with full checks asks /api/v1.0/health/status: MLServer has none (404)
        seldon = Orchestrator(predictor, protocol="seldon", full_health_checks=True)
        await seldon.start()
        try:
            ok, why = await seldon.ready()
            assert not ok and f"Bad status from 127.0.0.1:{mlserver.http}: /api/v1.0/health/status answered 404" in why
        finally:
            await seldon.close()

    asyncio.run(run())


# --- a Wharf V2 component in the graph; routers and combiners ----------------------------------

WHARF_DOUBLER = textwrap.dedent("""\
    class Doubler:
        def predict(self, X, names):
            return X * 2.0
    """)


@pytest.fixture(scope="module")
def wharf_scaler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ports]:
    """Wharf's component server with a user class that doubles its input, serving V2 as node ``wharf-scaler``."""
    from wharf.local.process import start_server

    folder = tmp_path_factory.mktemp("wharf-doubler")
    (folder / "Doubler.py").write_text(WHARF_DOUBLER)
    server = start_server(folder, "Doubler", env={"MLSERVER_MODEL_NAME": "wharf-scaler"})
    ports = Ports()
    ports.http, ports.grpc = server.http_port, server.grpc_port
    yield ports
    server.stop()


class RouterCombiner:
    """A node serving upstream's V2 router and combiner calls (``/v2/models/<m>/route`` answering
    ``[1]``, ``/aggregate`` joining its children's outputs): no V2 server has them, so the test's own."""

    def __init__(self) -> None:
        self.aggregated: list[Any] = []
        node = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                if self.path == "/v2/models/router/route":
                    answer: Any = [1]
                elif self.path == "/v2/models/combiner/aggregate":
                    node.aggregated.append(body)
                    answer = {
                        "model_name": "combiner",
                        "outputs": [
                            dict(o, name=f"{i}-{o['name']}") for i, child in enumerate(body) for o in child["outputs"]
                        ],
                    }
                else:
                    answer = {"error": f"no {self.path} here"}
                data = json.dumps(answer).encode()
                self.send_response(200 if "error" not in answer else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.ports = Ports()
        self.ports.http = self.server.server_address[1]


@pytest.fixture(scope="module")
def mixed(
    mlserver: Ports, wharf_scaler: Ports, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Ports, RouterCombiner]]:
    """combiner -> [router -> [wharf-scaler, classifier], scaler]: a Wharf V2 component and MLServer's
    models under a router and a combiner."""
    node = RouterCombiner()
    tmp = tmp_path_factory.mktemp("mixed")
    router = (
        _node("router", "ROUTER", node.ports)
        + "children:\n- "
        + textwrap.indent(_node("wharf-scaler", "TRANSFORMER", wharf_scaler), "  ").lstrip()
        + "- "
        + textwrap.indent(_node("classifier", "MODEL", mlserver), "  ").lstrip()
    )
    graph = (
        _node("combiner", "COMBINER", node.ports)
        + "children:\n- "
        + textwrap.indent(router, "  ").lstrip()
        + "- "
        + textwrap.indent(_node("scaler", "MODEL", mlserver), "  ").lstrip()
    )
    sdep, ports = _orchestrator(tmp, "v2", graph)
    with serving(
        _orchestrator_cmd(sdep, ports, "v2")[:-1],
        tmp / "orchestrator.log",  # TCP readiness
        f"http://127.0.0.1:{ports.http}/v2/health/ready",
        "orchestrator",
    ):
        yield ports, node
    node.server.shutdown()


def test_wharf_v2_transformer_then_mlserver_model(mlserver: Ports, wharf_scaler: Ports, tmp_path_factory) -> None:
    tmp = tmp_path_factory.mktemp("wharf-chain")
    graph = (
        _node("wharf-scaler", "TRANSFORMER", wharf_scaler)
        + "children:\n- "
        + textwrap.indent(_node("classifier", "MODEL", mlserver), "  ").lstrip()
    )
    sdep, ports = _orchestrator(tmp, "v2", graph)
    with serving(
        _orchestrator_cmd(sdep, ports, "v2"),
        tmp / "orchestrator.log",
        f"http://127.0.0.1:{ports.http}/v2/health/ready",
        "orchestrator",
    ):
        got = httpx.post(f"http://127.0.0.1:{ports.http}/v2/models/infer", json=v2_request(ROWS))
        request = pb.ModelInferRequest(id="req-1")
        request.inputs.add(name="x", datatype="FP64", shape=[3, 4]).contents.fp64_contents.extend(
            [v for row in ROWS for v in row]
        )
        with grpc.insecure_channel(f"127.0.0.1:{ports.grpc}") as channel:
            answer = channel.unary_unary(
                "/inference.GRPCInferenceService/ModelInfer",
                request_serializer=pb.ModelInferRequest.SerializeToString,
                response_deserializer=pb.ModelInferResponse.FromString,
            )(request)
    doubled = [[2 * v for v in row] for row in ROWS]
    want = httpx.post(f"http://127.0.0.1:{mlserver.http}/v2/models/classifier/infer", json=v2_request(doubled)).json()
    assert got.status_code == 200, got.text
    assert got.json()["outputs"] == want["outputs"]
    grpc_classes = (
        np.frombuffer(answer.raw_output_contents[0], dtype=np.int64).tolist()
        if answer.raw_output_contents
        else list(answer.outputs[0].contents.int64_contents)
    )
    assert grpc_classes == want["outputs"][0]["data"]


def test_router_and_combiner_as_upstream(mlserver: Ports, mixed: tuple[Ports, RouterCombiner]) -> None:
    ports, node = mixed
    direct = f"http://127.0.0.1:{mlserver.http}"
    node.aggregated.clear()
    got = httpx.post(f"http://127.0.0.1:{ports.http}/v2/models/infer", json=v2_request(ROWS))
    assert got.status_code == 200, got.text
    # the router chose child 1 (the classifier); the combiner got both children's answers as a JSON list
    classifier = httpx.post(direct + "/v2/models/classifier/infer", json=v2_request(ROWS)).json()
    scaler = httpx.post(direct + "/v2/models/scaler/infer", json=v2_request(ROWS)).json()
    assert node.aggregated == [[classifier, scaler]]
    assert [o["name"] for o in got.json()["outputs"]] == ["0-predict", "1-x"]
    # over gRPC these protocols have no route or aggregate call: refused naming the node
    with grpc.insecure_channel(f"127.0.0.1:{ports.grpc}") as channel:
        infer = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=pb.ModelInferRequest.SerializeToString,
            response_deserializer=pb.ModelInferResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as refused:
            infer(pb.ModelInferRequest(model_name=""))
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "graph node 'router' needs a route call" in refused.value.details()


def test_wharf_run_takes_the_protocol_from_the_file(tmp_path: Path) -> None:
    """``wharf run`` of a SeldonDeployment with ``protocol: v2``: the orchestrator speaks V2 and each
    node answers V2 under its node name (MLSERVER_MODEL_NAME, as the operator sets it)."""
    from wharf.local.run import LocalGraph

    (tmp_path / "doubler").mkdir()
    (tmp_path / "doubler" / "Doubler.py").write_text(WHARF_DOUBLER)
    sdep = tmp_path / "sdep.yaml"
    sdep.write_text(
        textwrap.dedent("""\
        apiVersion: machinelearning.seldon.io/v1
        kind: SeldonDeployment
        metadata: {name: local-v2}
        spec:
          protocol: v2
          predictors:
          - name: main
            componentSpecs:
            - spec:
                containers:
                - {name: twice, env: [{name: MODEL_NAME, value: Doubler}]}
                - {name: again, env: [{name: MODEL_NAME, value: Doubler}]}
            graph:
              name: twice
              type: MODEL
              children: [{name: again, type: MODEL}]
        """)
    )
    with LocalGraph(
        sdep,
        sources={"twice": str(tmp_path / "doubler"), "again": str(tmp_path / "doubler")},
        http_port=free_port(),
        grpc_port=free_port(),
        out=lambda _line: None,
    ) as graph:
        r = httpx.post(f"{graph.url}/v2/models/infer", json=v2_request([[1.0, 2.5]]))
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == [4.0, 10.0]
