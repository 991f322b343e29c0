"""Protocol ``tensorflow`` through Wharf's orchestrator.

TF Serving itself cannot run here: its only distribution is the ``tensorflow/serving`` image (no
image registry is reachable) and PyPI has only its client API. So the graph's nodes are
``tfserving_standin.py`` (TF Serving's REST and gRPC APIs for a linear model, as for the
TENSORFLOW_SERVER proxy's tests), and the gRPC client is TF Serving's own: the generated stubs of
``tensorflow-serving-api``, which need TensorFlow and protobuf 6, so they run in a venv of their own
(``wharf.testing.tfserving_client``), not Wharf's test venv (protobuf 5, for its stub generator).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from tfserving_standin import StandIn, save_linear_model

from wharf.local.process import free_port, serving
from wharf.testing.tfserving_client import tfserving_client_venv

pytestmark = pytest.mark.timeout(600)

ROWS = [[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]]
W1, B1 = np.array([[1, 0, 2], [0, 1, 0], [1, 1, 1]], dtype=np.float32), np.array([0.5, 0, -1], dtype=np.float32)
W2, B2 = np.array([[1, -1], [2, 0], [0, 3]], dtype=np.float32), np.array([1, 2], dtype=np.float32)


class Node:
    def __init__(self, name: str) -> None:
        self.name, self.http, self.grpc = name, free_port(), free_port()


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Node]]:
    """``first`` (3 -> 3) and ``second`` (3 -> 2, gRPC input alias ``y``: the first's output)."""
    tmp = tmp_path_factory.mktemp("tfmodels")
    first, second = Node("first"), Node("second")
    stops = [
        StandIn("first", save_linear_model(tmp / "first", W1, B1)).start(first.http, first.grpc),
        StandIn("second", save_linear_model(tmp / "second", W2, B2), input_name="y").start(second.http, second.grpc),
    ]
    yield first, second
    for stop in stops:
        stop()


def _endpoint(node: Node) -> str:
    return f"endpoint: {{service_host: 127.0.0.1, httpPort: {node.http}, grpcPort: {node.grpc}}}"


class Orchestrator:
    def __init__(self) -> None:
        self.http, self.grpc = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http}"


def _serve(tmp: Path, graph: str) -> Iterator[Orchestrator]:
    sdep = tmp / "sdep.yaml"
    sdep.write_text(
        "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: tf}\n"
        "spec:\n  protocol: tensorflow\n  predictors:\n  - name: main\n    graph:\n" + textwrap.indent(graph, "      ")
    )
    orch = Orchestrator()
    with serving(
        [
            sys.executable,
            "-m",
            "wharf.cli",
            "orchestrator",
            "--file",
            str(sdep),
            "--protocol",
            "tensorflow",
            "--http-port",
            str(orch.http),
            "--grpc-port",
            str(orch.grpc),
        ],
        tmp / "orchestrator.log",
        f"{orch.url}/ready",
        "orchestrator",
    ):
        yield orch


@pytest.fixture(scope="module")
def single(nodes: tuple[Node, Node], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    yield from _serve(tmp_path_factory.mktemp("single"), f"name: first\ntype: MODEL\n{_endpoint(nodes[0])}\n")


@pytest.fixture(scope="module")
def chain(nodes: tuple[Node, Node], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    first, second = nodes
    graph = (
        f"name: first\ntype: MODEL\n{_endpoint(first)}\nchildren:\n"
        f"- name: second\n  type: MODEL\n  {_endpoint(second)}\n"
    )
    yield from _serve(tmp_path_factory.mktemp("chain"), graph)


def _direct(node: Node, body: dict) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{node.http}/v1/models/{node.name}:predict", json=body)


def test_rest_predict_paths_equal_the_node(nodes: tuple[Node, Node], single: Orchestrator) -> None:
    want = _direct(nodes[0], {"instances": ROWS})
    assert want.status_code == 200
    for path in ("/v1/models/first:predict", "/v1/models/first/:predict", "/v1/models:predict", "/v1/models/:predict"):
        got = httpx.post(single.url + path, json={"instances": ROWS})
        assert (got.status_code, got.json()) == (200, want.json()), path
    np.testing.assert_allclose(want.json()["predictions"], np.array(ROWS) @ W1 + B1, rtol=1e-6)
    for path in ("/v1/models/first", "/v1/models/first/metadata"):
        got, direct = httpx.get(single.url + path), httpx.get(f"http://127.0.0.1:{nodes[0].http}{path}")
        assert (got.status_code, got.json()) == (200, direct.json())
    # feedback: walked, sent to no node (upstream's REST client ignores it outside protocol seldon)
    feedback = {"request": {"data": {"ndarray": [[1]]}}, "reward": 1.0}
    r = httpx.post(single.url + "/api/v1.0/feedback", json=feedback)
    assert (r.status_code, r.json()) == (200, feedback)


def test_rest_chain_predictions_become_instances(nodes: tuple[Node, Node], chain: Orchestrator) -> None:
    first, second = nodes
    step1 = _direct(first, {"instances": ROWS}).json()
    want = _direct(second, {"instances": step1["predictions"]}).json()
    got = httpx.post(chain.url + "/v1/models:predict", json={"instances": ROWS})
    assert (got.status_code, got.json()) == (200, want)
    # the columnar form, inputs -> outputs -> inputs, chains too
    got = httpx.post(chain.url + "/v1/models:predict", json={"inputs": ROWS})
    assert got.status_code == 200 and got.json() == want
    # a named path calls every node by that name, as upstream: the second node has no model "first"
    got = httpx.post(chain.url + "/v1/models/first:predict", json={"instances": ROWS})
    assert got.status_code == 404
    assert got.json() == {"error": "Servable not found for request: Latest(first): from graph node 'second'"}


def test_rest_errors(nodes: tuple[Node, Node], single: Orchestrator) -> None:
    r = httpx.post(single.url + "/v1/models:predict", json={"rows": ROWS})
    assert r.status_code == 400
    assert r.json()["error"].startswith("Failed to convert tensorflow response so it could be chained to new input")
    r = httpx.post(single.url + "/v1/models:predict", content=b"[1, 2")
    assert r.status_code == 400 and r.json()["error"].startswith("the request is not JSON")
    bad = {"instances": [[1.0, 2.0]]}  # two columns for a model of three: TF Serving's 400, passed on
    got, want = httpx.post(single.url + "/v1/models/first:predict", json=bad), _direct(nodes[0], bad)
    assert got.status_code == want.status_code == 400
    assert got.json()["error"] == want.json()["error"] + ": from graph node 'first'"
    for path in ("/v1/models/nope", "/v1/models/nope/metadata"):
        r = httpx.get(single.url + path)
        assert r.status_code == 500 and r.json()["error"].startswith("Failed to find model nope")
    assert httpx.get(single.url + "/v1/models/first:predict").status_code == 500  # GET: a status of "first:predict"
    assert httpx.put(single.url + "/v1/models:predict").status_code == 405
    assert httpx.post(single.url + "/v2/models/first/infer", json={}).status_code == 404


GRPC_CLIENT = textwrap.dedent("""\
    import json, sys
    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc, predict_pb2
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    out = {}
    rows = np.array(json.loads(sys.argv[3]), dtype=np.float32)
    for key, target, model in (("single", sys.argv[1], "first"), ("chain", sys.argv[2], "")):
        channel = grpc.insecure_channel(target)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(rows))
        try:
            answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=20)
            out[key] = {name: tf.make_ndarray(t).tolist() for name, t in answer.outputs.items()}
        except grpc.RpcError as exc:
            out[key] = [str(exc.code()), exc.details()]
    status = model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(sys.argv[1]))
    for name in ("first", "nope"):
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = name
        try:
            answer = status.GetModelStatus(request, timeout=20)
            out["status_" + name] = [[v.version, v.state] for v in answer.model_version_status]
        except grpc.RpcError as exc:
            out["status_" + name] = [str(exc.code()), exc.details()]
    from tensorflow_serving.apis import get_model_metadata_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "first"
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(sys.argv[1]))
    out["metadata_first"] = stub.GetModelMetadata(request, timeout=20).model_spec.name
    print(json.dumps(out))
    """)


def test_grpc_with_tensorflow_serving_api_stubs(single: Orchestrator, chain: Orchestrator) -> None:
    python = tfserving_client_venv() / "python"
    run = subprocess.run(
        [str(python), "-c", GRPC_CLIENT, f"127.0.0.1:{single.grpc}", f"127.0.0.1:{chain.grpc}", json.dumps(ROWS)],
        capture_output=True,
        text=True,
        timeout=180,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    first = np.array(ROWS, dtype=np.float32) @ W1 + B1
    np.testing.assert_allclose(out["single"]["y"], first, rtol=1e-6)
    # chained over gRPC: the first's PredictResponse outputs ({"y"}) become the second's inputs
    np.testing.assert_allclose(out["chain"]["y"], first @ W2 + B2, rtol=1e-5)
    assert out["status_first"] == [[1, 30]]  # version 1, AVAILABLE: the node's own answer
    assert out["metadata_first"] == "first"
    code, details = out["status_nope"]
    assert code == "StatusCode.UNKNOWN" and details.startswith("Failed to find model nope")
