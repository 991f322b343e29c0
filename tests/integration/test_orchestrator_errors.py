"""The orchestrator's error answers keep upstream's executor texts first.

Upstream's orchestrator is a Go binary we do not run here, so each expected text is taken from its
source (SeldonIO/seldon-core, executor/, at v1.19.0-rc.1, the last tag with the executor), named
next to each test. What Wharf adds follows after ": ".
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
import pytest
from test_orchestrator import sdep, start

from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as pb_grpc


def call(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, str, str]:
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read().decode()


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory):
    """echo (MODEL, takes feedback) -> nometa (MODEL whose /metadata fails)."""
    tmp = tmp_path_factory.mktemp("errors")
    path = sdep(
        tmp,
        """\
        graph:
          name: echo
          type: MODEL
          children:
          - name: nometa
            type: MODEL
        """,
        {"echo": "Echo", "nometa": "NoMetadata"},
    )
    g = start(path, ["echo", "nometa"])
    yield g
    g.stop()


@pytest.mark.parametrize(
    "path", ["/api/v1.0/metadata/nope", "/api/v0.1/metadata/nope", "/api/v1.0/status/nope", "/api/v0.1/status/nope"]
)
def test_unknown_node_is_failed_to_find_model(graph, path: str) -> None:
    # executor/predictor/predictor_process.go, Status and Metadata: fmt.Errorf("Failed to find model %s", modelName),
    # answered by executor/api/rest/server.go respondWithError: 500 and client.go CreateErrorPayload's body.
    status, _, text = call(graph.url + path)
    assert status == 500, text
    body = json.loads(text)["status"]
    assert body["code"] == 500 and body["status"] == "FAILURE"
    assert body["info"].startswith("Failed to find model nope: "), body
    assert "echo, nometa" in body["info"]  # Wharf's detail: which nodes there are


def test_unknown_path_is_gorilla_404(graph) -> None:
    # gorilla/mux's NotFoundHandler (executor/api/rest/server.go registers no other): 404 "404 page not found"
    status, content_type, text = call(graph.url + "/api/v1.0/nothing")
    assert status == 404 and content_type.startswith("text/plain")
    assert text.startswith("404 page not found: ") and "/api/v1.0/nothing" in text


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/v1.0/predictions"),
        ("PUT", "/api/v0.1/feedback"),
        ("POST", "/api/v1.0/metadata"),
        ("DELETE", "/api/v1.0/status/echo"),
    ],
)
def test_known_path_with_another_method_is_405(graph, method: str, path: str) -> None:
    # executor/api/rest/server.go: predictions/feedback take POST (and OPTIONS), status/metadata GET;
    # gorilla/mux answers another method with 405 and an empty body, so any text of ours follows it.
    status, _, text = call(graph.url + path, method, b"{}" if method in ("POST", "PUT") else None)
    assert status == 405, text
    assert path in text


def test_feedback_that_is_not_json_reaches_the_nodes(graph) -> None:
    # executor/api/util/utils.go RouteFromFeedbackJsonMeta: a body jsonpb cannot read routes to all
    # children (-1); the nodes answer it, so the client gets the component's "Can't find JSON in data".
    status, _, text = call(graph.url + "/api/v1.0/feedback", "POST", b"{not json")
    assert status == 400, text
    body = json.loads(text)["status"]
    assert body["info"].startswith("Can't find JSON in data") and body["reason"] == "MICROSERVICE_BAD_DATA"


def test_seldon_message_posted_as_feedback_is_refused_by_the_node(graph) -> None:
    # The executor forwards the bytes (client.go Unmarshall); the component's protobuf parse refuses them.
    status, _, text = call(graph.url + "/api/v1.0/feedback", "POST", json.dumps({"data": {"ndarray": [[1]]}}).encode())
    assert status == 400, text
    body = json.loads(text)["status"]
    assert body["info"].startswith('Invalid JSON: Message type "seldon.protos.Feedback" has no field named "data"')


def test_graph_metadata_fails_when_a_node_does(graph) -> None:
    # executor/predictor/predictor_process.go ModelMetadataMap returns the first node error; for a
    # non-200 answer it is httpStatusError (executor/api/rest/errors.go): "Internal service call from
    # executor failed calling <url> status code <n>", answered with the node's status.
    status, _, text = call(graph.url + "/api/v1.0/metadata")
    assert status == 500, text
    info = json.loads(text)["status"]["info"]
    assert info.startswith("Internal service call from executor failed calling http://"), info
    assert "/metadata status code 500: node 'nometa': Model metadata unavailable" in info


def test_grpc_model_metadata_of_an_unknown_node(graph) -> None:
    # executor/api/grpc/seldon/server.go ModelMetadata returns the Go error as is: gRPC status UNKNOWN.
    with grpc.insecure_channel(f"127.0.0.1:{graph.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as err:
            pb_grpc.SeldonStub(channel).ModelMetadata(pb.SeldonModelMetadataRequest(name="nope"), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNKNOWN
    assert err.value.details().startswith("Failed to find model nope")


@pytest.fixture(scope="module")
def grpc_graph(tmp_path_factory: pytest.TempPathFactory):
    """One MODEL reached over gRPC: the orchestrator turns the client's JSON into protos itself."""
    path = sdep(
        tmp_path_factory.mktemp("grpc-errors"),
        """\
        graph:
          name: echo
          type: MODEL
        """,
        {"echo": "Echo"},
        transport="grpc",
    )
    g = start(path, ["echo"])
    yield g
    g.stop()


def test_grpc_nodes_feedback_with_unknown_fields_is_refused_as_the_component_would(grpc_graph) -> None:
    # Upstream's executor (cmd/executor/main.go) serves REST with its REST client whatever the
    # transport, so the component parses the Feedback (protobuf, unknown fields refused) and answers.
    status, _, text = call(
        grpc_graph.url + "/api/v1.0/feedback", "POST", json.dumps({"data": {"ndarray": [[1]]}, "reward": 1}).encode()
    )
    assert status == 400, text
    body = json.loads(text)["status"]
    assert body["reason"] == "MICROSERVICE_BAD_DATA"
    assert body["info"].startswith('Invalid JSON: Message type "seldon.protos.Feedback" has no field named "data"')


def test_grpc_nodes_request_that_is_not_json(grpc_graph) -> None:
    status, _, text = call(grpc_graph.url + "/api/v1.0/predictions", "POST", b"{nope")
    assert status == 400, text
    assert json.loads(text)["status"]["info"].startswith("Can't find JSON in data: ")


def test_grpc_nodes_seldon_message_keeps_accepting_extra_fields(grpc_graph) -> None:
    # The component reads a SeldonMessage as plain JSON upstream: an extra field is no error.
    status, _, text = call(
        grpc_graph.url + "/api/v1.0/predictions",
        "POST",
        json.dumps({"data": {"ndarray": [[1.0]]}, "extra": 1}).encode(),
    )
    assert status == 200, text
