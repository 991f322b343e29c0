"""The tensorflow and v2 protocols' pure parts in the orchestrator: node paths, chaining (upstream's
ChainTensorflow and ChainKFserving, JSON and protobuf), reading a TF request's model name."""

from __future__ import annotations

import orjson
import pytest

from wharf.cli import run_orchestrator
from wharf.deployment.graph import GraphError, from_file
from wharf.grpc_h2.frames import GrpcError
from wharf.orchestrator.dialects import (
    ChainError,
    TensorflowJson,
    TensorflowProto,
    V2Json,
    V2Proto,
    dialects,
    model_spec_name,
)
from wharf.protocol.pb import inference_pb2 as v2pb
from wharf.protocol.pb import tensor_pb2
from wharf.protocol.pb import tfserving_predict_pb2 as tfpb


def test_node_paths_per_protocol_and_call() -> None:
    v2, tf = V2Json(), TensorflowJson()
    assert [
        v2.path(c, "m")
        for c in ("predict", "transform-input", "transform-output", "route", "aggregate", "status", "metadata")
    ] == [
        "/v2/models/m/infer",
        "/v2/models/m/infer",
        "/v2/models/m/infer",
        "/v2/models/m/route",
        "/v2/models/m/aggregate",
        "/v2/models/m/ready",
        "/v2/models/m",
    ]
    assert [tf.path(c, "m") for c in ("predict", "transform-output", "route", "aggregate", "status", "metadata")] == [
        "/v1/models/m:predict",
        "/v1/models/m:predict",
        "/v1/models/m:route",
        "/v1/models/m:aggregate",
        "/v1/models/m",
        "/v1/models/m/metadata",
    ]
    # a client's model name cannot end the path, add a query or break the request line
    assert v2.path("predict", "a b/../c?d\r\n") == "/v2/models/a%20b%2F..%2Fc%3Fd%0D%0A/infer"
    assert V2Proto().path("predict", "m") == "/inference.GRPCInferenceService/ModelInfer"
    assert TensorflowProto().path("status", "m") == "/tensorflow.serving.ModelService/GetModelStatus"
    assert "route" not in V2Proto().calls and "aggregate" not in TensorflowProto().calls
    with pytest.raises(ValueError, match="protocol 'grpc'"):
        dialects("grpc")


def test_v2_json_chain() -> None:
    chain = V2Json().chain
    request = b'{"inputs": [{"name": "x"}]}'
    assert chain(request, "m", True) is request  # a request passes as it is
    answer = {"model_name": "a", "id": "1", "parameters": {"p": 1}, "outputs": [{"name": "y", "data": [1]}]}
    assert orjson.loads(chain(orjson.dumps(answer), "m", False)) == {
        "model_name": "a",
        "id": "1",
        "parameters": {"p": 1},
        "inputs": [{"name": "y", "data": [1]}],
    }
    for bad, text in (
        (b'{"instances": []}', "expected 'inputs'"),
        (b"[1]", "a JSON list, not an object"),
        (b"{", "is not JSON"),
    ):
        with pytest.raises(ChainError, match=text):
            chain(bad, "m", True)


def test_tensorflow_json_chain() -> None:
    chain = TensorflowJson().chain
    for request in (b'{"instances": [[1]]}', b'{"inputs": {"x": [1]}}'):
        assert chain(request, "m", True) is request
    assert orjson.loads(chain(b'{"predictions": [[2]], "k": 1}', "m", False)) == {"instances": [[2]], "k": 1}
    assert orjson.loads(chain(b'{"outputs": {"y": [2]}}', "m", False)) == {"inputs": {"y": [2]}}
    with pytest.raises(ChainError, match="Failed to convert tensorflow response so it could be chained"):
        chain(b'{"rows": []}', "m", False)


def test_v2_proto_chain_names_the_model_and_carries_raw_contents() -> None:
    chain = V2Proto().chain
    named = v2pb.ModelInferRequest(model_name="given").SerializeToString()
    assert chain(named, "node", True) is named
    assert (
        v2pb.ModelInferRequest.FromString(chain(v2pb.ModelInferRequest().SerializeToString(), "node", True)).model_name
        == "node"
    )
    answer = v2pb.ModelInferResponse(model_name="a", model_version="2", id="i")
    answer.parameters["p"].string_param = "v"
    out = answer.outputs.add(name="y", datatype="FP32", shape=[1, 2])
    out.parameters["content_type"].string_param = "np"
    answer.outputs.add(name="z", datatype="INT64", shape=[1]).contents.int64_contents.append(7)
    answer.raw_output_contents.append(b"\x00\x00\x80?\x00\x00\x00@")
    request = v2pb.ModelInferRequest.FromString(chain(answer.SerializeToString(), "next", False))
    assert (request.model_name, request.model_version, request.id) == ("next", "", "")
    assert request.parameters["p"].string_param == "v"
    assert [(t.name, t.datatype, list(t.shape)) for t in request.inputs] == [("y", "FP32", [1, 2]), ("z", "INT64", [1])]
    assert request.inputs[0].parameters["content_type"].string_param == "np"
    assert list(request.inputs[1].contents.int64_contents) == [7]
    assert list(request.raw_input_contents) == [b"\x00\x00\x80?\x00\x00\x00@"]
    with pytest.raises(ChainError, match="not a ModelInferResponse"):
        chain(b"\xff\xff", "m", False)


def test_tensorflow_proto_chain() -> None:
    chain = TensorflowProto().chain
    request = tfpb.PredictRequest()
    request.model_spec.name = "given"
    named = request.SerializeToString()
    assert chain(named, "node", True) is named
    assert model_spec_name(chain(tfpb.PredictRequest().SerializeToString(), "node", True)) == "node"
    answer = tfpb.PredictResponse()
    answer.outputs["y"].CopyFrom(tensor_pb2.TensorProto(dtype=tensor_pb2.DT_FLOAT, float_val=[1.5]))
    chained = tfpb.PredictRequest.FromString(chain(answer.SerializeToString(), "next", False))
    assert chained.model_spec.name == "next" and list(chained.inputs["y"].float_val) == [1.5]


def test_model_spec_name_reads_field_one_of_any_tf_request() -> None:
    request = tfpb.PredictRequest()
    request.model_spec.name = "iris"
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(dtype=tensor_pb2.DT_FLOAT, float_val=[1.0]))
    request.output_filter.append("y")
    data = request.SerializeToString()
    assert model_spec_name(data) == "iris"
    # GetModelMetadataRequest: model_spec = 1, then metadata_field = 2 (repeated string), field order free
    metadata_field = b"\x12\x0dsignature_def"
    assert model_spec_name(metadata_field + b"\x0a\x06\x0a\x04iris") == "iris"
    assert model_spec_name(b"") == ""
    for bad in (b"\x0a\x10\x0a", b"\x0f", b"\x0a"):
        with pytest.raises(GrpcError, match="not a valid TF Serving request"):
            model_spec_name(bad)


def test_protocol_from_the_file(tmp_path) -> None:
    """The orchestrator's and `wharf run`'s protocol is the file's spec.protocol, read with the rest."""
    path = tmp_path / "sdep.yaml"
    predictors = "predictors: [{name: p, graph: {name: m}}]"
    path.write_text(f"kind: SeldonDeployment\nmetadata: {{name: s}}\nspec: {{protocol: v2, {predictors}}}\n")
    assert from_file(path).protocol == "v2"
    path.write_text(f"kind: SeldonDeployment\nmetadata: {{name: s}}\nspec: {{{predictors}}}\n")
    assert from_file(path).protocol == "seldon"
    path.write_text("name: p\ngraph: {name: m}\n")  # a bare PredictorSpec
    assert from_file(path).protocol == "seldon"
    path.write_text(f"kind: SeldonDeployment\nmetadata: {{name: s}}\nspec: {{protocol: grpc, {predictors}}}\n")
    with pytest.raises(GraphError, match=r"spec.protocol: 'grpc' is not one of seldon, tensorflow, kfserving, v2"):
        from_file(path)


def test_kafka_with_another_protocol_stops_at_start(tmp_path, caplog) -> None:
    path = tmp_path / "sdep.yaml"
    path.write_text(
        "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: k}\n"
        "spec:\n  protocol: v2\n  predictors:\n  - name: p\n    graph: {name: m, type: MODEL}\n"
    )
    assert run_orchestrator(["--file", str(path), "--server_type", "kafka"]) == 2
    assert "in protocol seldon only, not v2" in caplog.text
