"""The built-in units (SIMPLE_MODEL, SIMPLE_ROUTER, AVERAGE_COMBINER, RANDOM_ABTEST) in the real
orchestrator started by ``wharf run``'s LocalGraph: a graph of built-ins only, with no container and
no server process, and a built-in combiner over real model servers; over REST and gRPC."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from test_orchestrator import post, sdep, start

from wharf.local.process import free_port
from wharf.local.run import LocalGraph
from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as pb_grpc

FIXED = {"names": ["class0", "class1", "class2"], "tensor": {"shape": [1, 3], "values": [0.1, 0.9, 0.5]}}

# Shaped like upstream's own loadtest example (notebooks/resources/loadtest_simple_model.json at
# seldon-core v1.17.1): no containers, and type MODEL written beside the built-in implementation.
BUILTINS_ONLY = """\
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: builtins
spec:
  predictors:
  - name: main
    componentSpecs:
    - spec:
        containers: []
    graph:
      name: front
      implementation: SIMPLE_ROUTER
      children:
      - name: ab
        implementation: RANDOM_ABTEST
        parameters: [{name: ratioA, value: "0", type: FLOAT}]
        children:
        - name: never-a
          type: MODEL
          implementation: SIMPLE_MODEL
        - name: mean
          implementation: AVERAGE_COMBINER
          children:
          - name: stub-a
            type: MODEL
            implementation: SIMPLE_MODEL
          - name: stub-b
            type: MODEL
            implementation: SIMPLE_MODEL
      - name: never
        type: MODEL
        implementation: SIMPLE_MODEL
  - name: empty-combiner
    componentSpecs:
    - spec:
        containers: []
    graph:
      name: lonely
      implementation: AVERAGE_COMBINER
  - name: bad-ratio
    graph:
      name: ab
      implementation: RANDOM_ABTEST
      parameters: [{name: ratioA, value: half, type: FLOAT}]
      children:
      - {name: a, implementation: SIMPLE_MODEL}
      - {name: b, implementation: SIMPLE_MODEL}
"""


@pytest.fixture(scope="module")
def builtins_graph(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("builtins") / "sdep.yaml"
    path.write_text(BUILTINS_ONLY)
    graph = LocalGraph(path, http_port=free_port(), grpc_port=free_port(), out=lambda line: None).start()
    yield graph
    graph.stop()


def test_a_graph_of_builtins_runs_with_the_orchestrator_alone(builtins_graph) -> None:
    assert builtins_graph.plans == []  # no node needs a server, a model folder or an image
    assert list(builtins_graph.process_ids()) == ["orchestrator"]
    with urllib.request.urlopen(f"{builtins_graph.url}/ready", timeout=5) as resp:
        assert resp.status == 200


def test_builtins_answer_over_rest(builtins_graph) -> None:
    status, answer, headers = post(
        f"{builtins_graph.url}/api/v1.0/predictions",
        {"data": {"ndarray": [[1.0, 2.0]]}, "meta": {"tags": {"client": "x"}}},
    )
    assert status == 200, answer
    assert answer["data"] == FIXED  # the mean of two identical fixed answers
    assert answer["status"]["status"] == "SUCCESS"
    # SIMPLE_ROUTER always picks child 0; RANDOM_ABTEST with ratioA 0 always child 1
    assert answer["meta"]["routing"] == {"front": 0, "ab": 1, "mean": -1}
    assert answer["meta"]["requestPath"] == {"stub-a": "", "stub-b": "", "mean": ""}
    assert answer["meta"]["tags"] == {"client": "x"}
    assert [m["key"] for m in answer["meta"]["metrics"]] == ["mymetric_counter", "mymetric_gauge", "mymetric_timer"] * 2
    assert answer["meta"]["puid"] == headers["seldon-puid"]
    status, _, _ = post(f"{builtins_graph.url}/api/v1.0/feedback", {"response": answer, "reward": 1.0})
    assert status == 200


def test_builtins_answer_over_grpc(builtins_graph) -> None:
    request = pb.SeldonMessage()
    request.data.ndarray.values.add().list_value.values.add().number_value = 3.0
    with grpc.insecure_channel(f"127.0.0.1:{builtins_graph.grpc_port}") as channel:
        reply = pb_grpc.SeldonStub(channel).Predict(request, timeout=10)
    assert list(reply.data.names) == FIXED["names"]
    assert list(reply.data.tensor.shape) == [1, 3]
    assert list(reply.data.tensor.values) == pytest.approx(FIXED["tensor"]["values"])
    assert dict(reply.meta.routing) == {"front": 0, "ab": 1, "mean": -1}


def test_a_builtin_node_has_no_metadata_or_status_of_its_own(builtins_graph) -> None:
    with urllib.request.urlopen(f"{builtins_graph.url}/api/v1.0/metadata", timeout=5) as resp:
        assert json.loads(resp.read()) == {"name": "main", "models": {}, "graphinputs": [], "graphoutputs": []}
    for path in ("metadata", "status"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{builtins_graph.url}/api/v1.0/{path}/stub-a", timeout=5)
        assert err.value.code == 404
        assert json.loads(err.value.read())["status"]["info"] == (
            f"node 'stub-a' is the built-in SIMPLE_MODEL, answered inside the orchestrator: it has no server, "
            f"so no {path} of its own"
        )
    with grpc.insecure_channel(f"127.0.0.1:{builtins_graph.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as rpc:
            pb_grpc.SeldonStub(channel).ModelMetadata(pb.SeldonModelMetadataRequest(name="mean"), timeout=10)
    assert rpc.value.code() == grpc.StatusCode.NOT_FOUND and "built-in AVERAGE_COMBINER" in rpc.value.details()


def test_simple_model_echoes_str_data_and_the_combiner_refuses_it(builtins_graph) -> None:
    status, answer, _ = post(f"{builtins_graph.url}/api/v1.0/predictions", {"strData": "hello"})
    assert status == 500
    assert answer["status"]["info"].startswith(
        "Combiner cannot extract data shape: child 0 (stub-a) answered with strData"
    )


@pytest.mark.parametrize(
    "predictor, info",
    [
        ("empty-combiner", "Combiner received no inputs: "),
        (
            "bad-ratio",
            "strconv.ParseFloat: parsing \"half\": invalid syntax: RANDOM_ABTEST node 'ab': parameters[0] (ratioA)",
        ),
    ],
)
def test_a_builtin_that_cannot_answer_is_a_500_naming_why(tmp_path: Path, predictor: str, info: str) -> None:
    path = tmp_path / "sdep.yaml"
    path.write_text(BUILTINS_ONLY)
    graph = LocalGraph(
        path, predictor=predictor, http_port=free_port(), grpc_port=free_port(), out=lambda line: None
    ).start()
    try:
        status, answer, _ = post(f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[1.0]]}})
        assert status == 500
        assert answer["status"]["status"] == "FAILURE" and answer["status"]["info"].startswith(info)
    finally:
        graph.stop()


# --- a built-in combiner over real model servers -------------------------------------------------


@pytest.fixture(scope="module")
def mixed_graph(tmp_path_factory: pytest.TempPathFactory):
    """A router on the request's first value, in front of: 0) AVERAGE_COMBINER over [Echo +10,
    Echo +30]; 1) one over a SIMPLE_MODEL (1x3) and an Echo (the request's shape); 2) one over a
    model answering text labels and an Echo."""
    tmp = tmp_path_factory.mktemp("mixed")
    path = sdep(
        tmp,
        """\
        graph:
          name: front
          type: ROUTER
          children:
          - name: mean
            implementation: AVERAGE_COMBINER
            children:
            - name: ten
              parameters: [{name: offset, value: "10", type: FLOAT}]
            - name: thirty
              parameters: [{name: offset, value: "30", type: FLOAT}]
          - name: mismatch
            implementation: AVERAGE_COMBINER
            children:
            - name: fixed
              implementation: SIMPLE_MODEL
            - name: echo
          - name: words
            implementation: AVERAGE_COMBINER
            children:
            - name: labels
            - name: zero
        """,
        {
            "front": "FirstValueRouter",
            "ten": "Echo",
            "thirty": "Echo",
            "echo": "Echo",
            "labels": "Labels",
            "zero": "Echo",
        },
    )
    graph = start(path, ["front", "ten", "thirty", "echo", "labels", "zero"])
    yield graph
    graph.stop()


def _tensor(shape: list[int], values: list[float]) -> pb.SeldonMessage:
    request = pb.SeldonMessage()
    request.data.tensor.shape.extend(shape)
    request.data.tensor.values.extend(values)
    return request


def test_builtin_combiner_averages_real_models_over_rest_and_grpc(mixed_graph) -> None:
    status, answer, _ = post(
        f"{mixed_graph.url}/api/v1.0/predictions", {"data": {"names": ["a", "b"], "ndarray": [[0.0, 2.0]]}}
    )
    assert status == 200, answer
    # the mean of +10 and +30, with the first child's names (the wrapper's default ones here)
    assert answer["data"] == {"names": ["t:0", "t:1"], "ndarray": [[20.0, 22.0]]}
    assert answer["meta"]["tags"] == {"seen_by_10": True, "seen_by_30": True}
    assert set(answer["meta"]["requestPath"]) == {"ten", "thirty", "mean"}
    assert answer["meta"]["routing"] == {"front": 0, "mean": -1}
    with grpc.insecure_channel(f"127.0.0.1:{mixed_graph.grpc_port}") as channel:
        reply = pb_grpc.SeldonStub(channel).Predict(_tensor([2, 1], [0.0, 2.0]), timeout=10)
    assert list(reply.data.tensor.shape) == [2, 1]
    assert list(reply.data.tensor.values) == [20.0, 22.0]


def test_builtin_combiner_over_different_shapes_is_upstreams_error(mixed_graph) -> None:
    status, answer, _ = post(f"{mixed_graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[1.0, 2.0]]}})
    assert status == 500
    assert answer["status"] == {
        "code": 500,
        "status": "FAILURE",
        "info": (
            "Expected batch length 3 but found 2: child 1 (echo) has shape [1, 2], child 0 (fixed) [1, 3]: "
            "from graph node 'mismatch'"
        ),
    }
    with grpc.insecure_channel(f"127.0.0.1:{mixed_graph.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as err:
            pb_grpc.SeldonStub(channel).Predict(_tensor([1, 2], [1.0, 2.0]), timeout=10)
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert "'mismatch'" in err.value.details() and "Expected batch length 3 but found 2" in err.value.details()


def test_builtin_combiner_over_text_data_names_the_value(mixed_graph) -> None:
    status, answer, _ = post(f"{mixed_graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[2.0]]}})
    assert status == 500, answer
    assert answer["status"]["info"] == (
        "Combiner received data that is not numeric: child 0 (labels) "
        "data.ndarray[0][0] is 'cat': from graph node 'words'"
    )
    with urllib.request.urlopen(f"{mixed_graph.url}/ready", timeout=5) as resp:  # and the graph keeps serving
        assert resp.status == 200


def test_wharf_run_docker_with_builtins_only_needs_no_docker_engine(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    path = tmp_path / "sdep.yaml"
    path.write_text(BUILTINS_ONLY)
    graph = LocalGraph(path, http_port=free_port(), grpc_port=free_port(), out=lambda line: None, docker=True).start()
    try:
        status, answer, _ = post(f"{graph.url}/api/v1.0/predictions", {"data": {"ndarray": [[1.0]]}})
        assert status == 200 and answer["data"] == FIXED
    finally:
        graph.stop()
