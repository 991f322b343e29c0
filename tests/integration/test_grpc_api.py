"""The gRPC services of a running server: every RPC a component serves, errors as codes."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from google.protobuf import empty_pb2, json_format
from support import Server

from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as rpc

UNIT_ID = "grpc-unit"
UNIT_IMAGE = "repo/grpc-model:3.1"
TIMEOUT = 20


def message(d: dict) -> pb.SeldonMessage:
    return json_format.ParseDict(d, pb.SeldonMessage())


def as_dict(m) -> dict:
    return json_format.MessageToDict(m)


@pytest.fixture(scope="module")
def full(serve_module) -> Server:
    return serve_module(
        "FullModel",
        env={
            "PREDICTIVE_UNIT_ID": UNIT_ID,
            "PREDICTIVE_UNIT_IMAGE": UNIT_IMAGE,
            "MODEL_METADATA": '{"platform": "grpc-env"}',
        },
    )


@pytest.fixture(scope="module")
def channel(full) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(full.grpc_target) as ch:
        grpc.channel_ready_future(ch).result(timeout=TIMEOUT)
        yield ch


def connect(server: Server) -> grpc.Channel:
    ch = grpc.insecure_channel(server.grpc_target)
    grpc.channel_ready_future(ch).result(timeout=TIMEOUT)
    return ch


def call_error(fn, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        fn(request, timeout=TIMEOUT)
    return info.value


# --- Predict on Model and Seldon --------------------------------------------------------------


@pytest.mark.parametrize("stub_class", [rpc.ModelStub, rpc.SeldonStub])
def test_predict_tensor_mirrors_tensor(channel, stub_class):
    req = message(
        {
            "meta": {"puid": "g-1", "tags": {"shared": "request", "req": "r"}, "routing": {"x": 1}},
            "data": {"names": ["a", "b"], "tensor": {"shape": [2, 2], "values": [1, 2, 3, 4]}},
        }
    )
    out = stub_class(channel).Predict(req, timeout=TIMEOUT)
    assert out.data.WhichOneof("data_oneof") == "tensor"
    assert list(out.data.tensor.shape) == [2, 2]
    assert list(out.data.tensor.values) == [2, 4, 6, 8]
    assert list(out.data.names) == ["class_a", "class_b"]
    meta = as_dict(out.meta)
    assert meta["puid"] == "g-1"
    assert meta["tags"] == {"shared": "tags", "req": "r", "model": "full"}
    assert meta["requestPath"] == {UNIT_ID: UNIT_IMAGE}
    assert "routing" not in meta
    assert [m["key"] for m in meta["metrics"]] == ["full_counter", "full_gauge", "full_timer"]
    types = {m.key: m.type for m in out.meta.metrics}
    assert types == {"full_counter": pb.Metric.COUNTER, "full_gauge": pb.Metric.GAUGE, "full_timer": pb.Metric.TIMER}


def test_predict_ndarray_strdata_bindata_jsondata(channel):
    stub = rpc.ModelStub(channel)
    out = stub.Predict(message({"data": {"ndarray": [[1, 2]]}}), timeout=TIMEOUT)
    assert out.data.WhichOneof("data_oneof") == "ndarray"
    assert as_dict(out.data)["ndarray"] == [[2.0, 4.0]]
    assert stub.Predict(pb.SeldonMessage(strData="hi"), timeout=TIMEOUT).strData == "full:hi"
    assert stub.Predict(pb.SeldonMessage(binData=b"\x00\x01\xff"), timeout=TIMEOUT).binData == b"\xff\x01\x00"
    out = stub.Predict(message({"jsonData": {"k": [1, "v"]}}), timeout=TIMEOUT)
    assert out.WhichOneof("data_oneof") == "jsonData"
    assert as_dict(out)["jsonData"] == {"echo": {"k": [1.0, "v"]}}


def test_predict_tftensor_mirrors_tftensor(channel):
    req = message(
        {
            "data": {
                "tftensor": {
                    "dtype": "DT_DOUBLE",
                    "tensorShape": {"dim": [{"size": "1"}, {"size": "2"}]},
                    "doubleVal": [1.5, 2.5],
                }
            }
        }
    )
    out = rpc.ModelStub(channel).Predict(req, timeout=TIMEOUT)
    assert out.data.WhichOneof("data_oneof") == "tftensor"
    t = out.data.tftensor
    assert [d.size for d in t.tensor_shape.dim] == [1, 2]
    values = np.frombuffer(t.tensor_content, dtype="<f8").tolist() if t.tensor_content else list(t.double_val)
    assert values == [3.0, 5.0]


def test_predict_runtime_tags_and_non_numeric_output(channel):
    stub = rpc.ModelStub(channel)
    out = stub.Predict(
        message({"meta": {"tags": {"op": "runtime", "shared": "request"}}, "data": {"ndarray": [[1, 2]]}}),
        timeout=TIMEOUT,
    )
    assert as_dict(out.meta)["tags"] == {"op": "runtime", "shared": "runtime", "model": "full", "runtime": True}
    out = stub.Predict(
        message({"meta": {"tags": {"op": "strings"}}, "data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}}),
        timeout=TIMEOUT,
    )
    assert as_dict(out.data)["ndarray"] == [["a", "b"]]
    out = stub.Predict(message({"meta": {"tags": {"op": "numbers"}}, "strData": "x"}), timeout=TIMEOUT)
    assert list(out.data.tensor.values) == [1.5, 2.5]


def test_predict_sees_meta_and_names(channel):
    stub = rpc.SeldonStub(channel)
    out = stub.Predict(message({"meta": {"puid": "m-1", "tags": {"op": "meta"}}, "strData": "x"}), timeout=TIMEOUT)
    assert as_dict(out)["jsonData"]["meta"]["puid"] == "m-1"
    out = stub.Predict(
        message({"meta": {"tags": {"op": "names"}}, "data": {"names": ["p", "q"], "ndarray": [[1, 2]]}}),
        timeout=TIMEOUT,
    )
    assert as_dict(out)["jsonData"] == {"names": ["p", "q"]}


# --- Generic and the per-type services -------------------------------------------------------


def test_generic_transforms_default_to_identity(channel):
    stub = rpc.GenericStub(channel)
    req = message({"meta": {"puid": "t"}, "data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}})
    for method in (stub.TransformInput, stub.TransformOutput):
        out = method(req, timeout=TIMEOUT)
        assert list(out.data.tensor.values) == [1, 2]
        assert out.meta.puid == "t"


@pytest.mark.parametrize(
    "model, generic, specific, expected",
    [
        ("MyTransformer", "TransformInput", (rpc.TransformerStub, "TransformInput"), [[2.0, 3.0]]),
        ("MyOutputTransformer", "TransformOutput", (rpc.OutputTransformerStub, "TransformOutput"), [[10.0, 20.0]]),
    ],
)
def test_transformers(serve_module, model, generic, specific, expected):
    server = serve_module(model)
    with connect(server) as ch:
        req = message({"meta": {"puid": "p"}, "data": {"ndarray": [[1, 2]]}})
        for fn in (getattr(rpc.GenericStub(ch), generic), getattr(specific[0](ch), specific[1])):
            out = fn(req, timeout=TIMEOUT)
            assert as_dict(out.data) == {"names": ["t:0", "t:1"], "ndarray": expected}
            assert out.meta.puid == "p"


@pytest.fixture(scope="module")
def router(serve_module) -> Server:
    return serve_module("MyRouter", env={"PREDICTIVE_UNIT_ID": "router-unit"})


def test_route(router):
    with connect(router) as ch:
        for fn in (rpc.GenericStub(ch).Route, rpc.RouterStub(ch).Route):
            out = fn(message({"data": {"ndarray": [[1, 7]]}}), timeout=TIMEOUT)
            assert as_dict(out.data) == {"names": ["t:0"], "ndarray": [[1.0]]}
            out = fn(message({"data": {"tensor": {"shape": [1], "values": [0]}}}), timeout=TIMEOUT)
            assert list(out.data.tensor.values) == [0] and list(out.data.tensor.shape) == [1, 1]
        err = call_error(rpc.GenericStub(ch).Route, message({"strData": "left"}))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Routing response must be int" in err.details()
        out = rpc.RouterStub(ch).Route(message({"data": {"ndarray": [[2]]}}), timeout=TIMEOUT)
        assert as_dict(out.data)["ndarray"] == [[2.0]]


def feedback(routing: dict) -> pb.Feedback:
    return json_format.ParseDict(
        {
            "request": {"data": {"names": ["f0", "f1"], "ndarray": [[1, 2]]}},
            "response": {"meta": {"routing": routing}, "data": {"ndarray": [[0.5]]}},
            "reward": 0.5,
            "truth": {"data": {"tensor": {"shape": [1, 1], "values": [1]}}},
        },
        pb.Feedback(),
    )


def test_send_feedback_everywhere(channel, router):
    fb = feedback({UNIT_ID: 3, "router-unit": 1})
    for fn in (
        rpc.GenericStub(channel).SendFeedback,
        rpc.ModelStub(channel).SendFeedback,
        rpc.SeldonStub(channel).SendFeedback,
    ):
        out = fn(fb, timeout=TIMEOUT)
        assert as_dict(out)["jsonData"] == {
            "features": [[1.0, 2.0]],
            "names": ["f0", "f1"],
            "reward": 0.5,
            "truth": [[1.0]],
            "routing": 3.0,
        }
    with connect(router) as ch:
        out = rpc.RouterStub(ch).SendFeedback(fb, timeout=TIMEOUT)
        assert as_dict(out)["jsonData"] == {"routing": 1.0, "reward": 0.5}
        out = rpc.RouterStub(ch).SendFeedback(feedback({"nobody": 1}), timeout=TIMEOUT)
        assert as_dict(out)["jsonData"]["routing"] is None


def test_aggregate(serve_module):
    server = serve_module("MyCombiner")
    req = json_format.ParseDict(
        {
            "seldonMessages": [
                {"meta": {"tags": {"a": 1}}, "data": {"tensor": {"shape": [2], "values": [1, 2]}}},
                {"meta": {"tags": {"b": 2}}, "data": {"ndarray": [10, 20]}},
            ]
        },
        pb.SeldonMessageList(),
    )
    with connect(server) as ch:
        for fn in (rpc.GenericStub(ch).Aggregate, rpc.CombinerStub(ch).Aggregate):
            out = fn(req, timeout=TIMEOUT)
            assert list(out.data.tensor.values) == [11.0, 22.0]
            assert as_dict(out.meta)["tags"] == {"a": 1.0, "b": 2.0, "combiner": "yes"}
        empty = call_error(rpc.CombinerStub(ch).Aggregate, pb.SeldonMessageList())
        # upstream fails indexing the first message (IndexError, a 500): its text first
        assert empty.code() == grpc.StatusCode.INTERNAL
        assert empty.details().startswith("Exception calling application: list index out of range: ")


def test_aggregate_not_defined(channel):
    err = call_error(
        rpc.GenericStub(channel).Aggregate, pb.SeldonMessageList(seldonMessages=[pb.SeldonMessage(strData="x")])
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Aggregate not defined" in err.details()


# --- metadata --------------------------------------------------------------------------------


def test_model_metadata(channel):
    expected = {
        "name": "full-model",
        "versions": ["1.2.3"],
        "platform": "grpc-env",
        "inputs": [{"messagetype": "ndarray", "schema": {"names": ["a", "b"], "shape": [2.0]}}],
        "outputs": [{"messagetype": "ndarray", "schema": {"shape": [2.0]}}],
        "custom": {"author": "tests"},
    }
    out = rpc.ModelStub(channel).Metadata(empty_pb2.Empty(), timeout=TIMEOUT)
    assert isinstance(out, pb.SeldonModelMetadata)
    assert as_dict(out) == expected
    out = rpc.SeldonStub(channel).ModelMetadata(pb.SeldonModelMetadataRequest(name="x"), timeout=TIMEOUT)
    assert as_dict(out) == expected


def test_graph_metadata_is_unimplemented(channel):
    err = call_error(rpc.SeldonStub(channel).GraphMetadata, empty_pb2.Empty())
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    # upstream's text first: grpcio's, then its NotImplementedError's
    assert err.details().startswith("Exception calling application: GraphMetadata not available on the Model level.: ")


def test_bad_metadata_is_internal(serve_module):
    server = serve_module("EmptyModel", env={"MODEL_METADATA": '{"versions": "not-a-list"}'})
    with connect(server) as ch:
        err = call_error(rpc.ModelStub(ch).Metadata, empty_pb2.Empty())
        assert err.code() == grpc.StatusCode.INTERNAL
        assert "Model metadata unavailable" in err.details()
        out = rpc.ModelStub(ch).Predict(message({"data": {"ndarray": [[1]]}}), timeout=TIMEOUT)
        assert out.data.WhichOneof("data_oneof") == "ndarray" and as_dict(out.data) == {"ndarray": []}


# --- raw methods --------------------------------------------------------------------------


def test_raw_methods_get_protos(serve_module):
    server = serve_module("RawModel")
    with connect(server) as ch:
        out = rpc.ModelStub(ch).Predict(message({"jsonData": {"code": 201}}), timeout=TIMEOUT)
        body = as_dict(out)
        assert body["jsonData"] == {"raw": True, "proto": True, "got": {"code": 201.0}}
        assert body["status"]["code"] == 201
        assert body["meta"]["metrics"] == [{"key": "raw_counter", "value": 1.0}]  # COUNTER is the zero enum
        out = rpc.ModelStub(ch).SendFeedback(feedback({}), timeout=TIMEOUT)
        assert as_dict(out)["jsonData"] == {"type": "Feedback", "reward": 0.5, "has_request": True}


# --- errors as status codes ------------------------------------------------------------------


def test_user_exception_is_internal(channel):
    stub = rpc.ModelStub(channel)
    err = call_error(stub.Predict, message({"meta": {"tags": {"op": "raise"}}, "strData": "x"}))
    assert err.code() == grpc.StatusCode.INTERNAL
    assert "model exploded" in err.details()
    err = call_error(stub.Predict, message({"meta": {"tags": {"op": "bad_metric"}}, "strData": "x"}))
    assert err.code() == grpc.StatusCode.INTERNAL
    assert stub.Predict(pb.SeldonMessage(strData="after"), timeout=TIMEOUT).strData == "full:after"


def test_no_data_is_invalid_argument(channel):
    err = call_error(rpc.ModelStub(channel).Predict, message({"meta": {"puid": "x"}}))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Invalid request data type" in err.details()
    err = call_error(rpc.ModelStub(channel).Predict, message({"data": {"tensor": {"shape": [3], "values": [1, 2]}}}))
    assert err.code() == grpc.StatusCode.INTERNAL  # a 500 upstream too: numpy's error escapes
    assert err.details().startswith("Exception calling application: cannot reshape array of size 2 into shape (3,): ")


def test_unknown_method_is_unimplemented(channel):
    fn = channel.unary_unary(
        "/seldon.protos.Model/NoSuchMethod",
        request_serializer=pb.SeldonMessage.SerializeToString,
        response_deserializer=pb.SeldonMessage.FromString,
    )
    with pytest.raises(grpc.RpcError) as info:
        fn(pb.SeldonMessage(strData="x"), timeout=TIMEOUT)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize(
    "status, code",
    [
        (400, grpc.StatusCode.INVALID_ARGUMENT),
        (404, grpc.StatusCode.NOT_FOUND),
        (418, grpc.StatusCode.INVALID_ARGUMENT),
        (500, grpc.StatusCode.INTERNAL),
        (503, grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_custom_status_maps_to_code(custom_error_channel, status, code):
    stub = rpc.ModelStub(custom_error_channel)
    err = call_error(stub.Predict, message({"jsonData": {"status": status, "info": f"custom {status}"}}))
    assert err.code() == code
    assert err.details() == f"Exception calling application: custom {status}"  # grpcio's text first, as upstream
    out = stub.Predict(message({"jsonData": {"fine": True}}), timeout=TIMEOUT)
    assert as_dict(out)["jsonData"] == {"fine": True}


@pytest.fixture(scope="module")
def custom_error_channel(serve_module) -> Iterator[grpc.Channel]:
    with connect(serve_module("CustomErrorModel")) as ch:
        yield ch


# --- server reflection (grpcurl and friends discover the services) -----------------------------


def test_reflection_lists_every_service_and_resolves_the_message_types(channel):
    from google.protobuf import descriptor_pb2
    from grpc_reflection.v1alpha import reflection_pb2 as refl
    from grpc_reflection.v1alpha import reflection_pb2_grpc as refl_rpc

    stub = refl_rpc.ServerReflectionStub(channel)
    answers = list(
        stub.ServerReflectionInfo(
            iter(
                [
                    refl.ServerReflectionRequest(list_services=""),
                    refl.ServerReflectionRequest(file_containing_symbol="seldon.protos.Model"),
                ]
            ),
            timeout=TIMEOUT,
        )
    )
    listed = {s.name for s in answers[0].list_services_response.service}
    assert {
        f"seldon.protos.{n}"
        for n in ("Generic", "Model", "Router", "Transformer", "OutputTransformer", "Combiner", "Seldon")
    } <= listed
    assert "grpc.reflection.v1alpha.ServerReflection" in listed
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(b)
        for b in answers[1].file_descriptor_response.file_descriptor_proto
    ]
    model = next(f for f in files if f.package == "seldon.protos")
    assert "SeldonMessage" in {m.name for m in model.message_type}
    assert "Predict" in {m.name for s in model.service if s.name == "Model" for m in s.method}
