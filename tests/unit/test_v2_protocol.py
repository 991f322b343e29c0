"""The V2 (Open Inference Protocol) core: the gRPC interface's wire contract and the tensor codecs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import orjson
import pytest

from wharf.protocol.pb import inference_pb2 as pb
from wharf.protocol.v2 import json_codec, proto_codec
from wharf.protocol.v2.tensor import InferRequest, InferResponse, Limits, V2Error, tensor_from_numpy


def _fields(msg) -> dict[str, int]:
    return {f.name: f.number for f in msg.DESCRIPTOR.fields}


def test_field_numbers_are_the_v2_wire_contract() -> None:
    assert pb.DESCRIPTOR.package == "inference"
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert [m.name for m in service.methods] == [
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
        "ModelInfer",
    ]
    assert _fields(pb.ModelInferRequest) == {
        "model_name": 1,
        "model_version": 2,
        "id": 3,
        "parameters": 4,
        "inputs": 5,
        "outputs": 6,
        "raw_input_contents": 7,
    }
    assert _fields(pb.ModelInferRequest.InferInputTensor) == {
        "name": 1,
        "datatype": 2,
        "shape": 3,
        "parameters": 4,
        "contents": 5,
    }
    assert _fields(pb.ModelInferRequest.InferRequestedOutputTensor) == {"name": 1, "parameters": 2}
    assert _fields(pb.ModelInferResponse) == {
        "model_name": 1,
        "model_version": 2,
        "id": 3,
        "parameters": 4,
        "outputs": 5,
        "raw_output_contents": 6,
    }
    assert _fields(pb.InferTensorContents) == {
        "bool_contents": 1,
        "int_contents": 2,
        "int64_contents": 3,
        "uint_contents": 4,
        "uint64_contents": 5,
        "fp32_contents": 6,
        "fp64_contents": 7,
        "bytes_contents": 8,
    }
    assert _fields(pb.InferParameter) == {
        "bool_param": 1,
        "int64_param": 2,
        "string_param": 3,
        "double_param": 4,
        "uint64_param": 5,
    }
    assert _fields(pb.ModelMetadataResponse) == {
        "name": 1,
        "versions": 2,
        "platform": 3,
        "inputs": 4,
        "outputs": 5,
        "parameters": 6,
    }
    assert _fields(pb.ServerMetadataResponse) == {"name": 1, "version": 2, "extensions": 3}
    assert _fields(pb.ModelReadyRequest) == {"name": 1, "version": 2}


# Run in a fresh interpreter: in a full test run another module (mlserver, tritonclient) may
# already have put its own inference.* messages in this process's default pool.
_COEXIST = """
from google.protobuf import descriptor_pb2, descriptor_pool
from wharf.protocol.pb import inference_pb2 as pb

try:
    descriptor_pool.Default().FindMessageTypeByName("inference.ModelInferRequest")
    raise SystemExit("wharf's V2 messages leaked into the default descriptor pool")
except KeyError:
    pass
# What tritonclient or mlserver do on import: a file of the same name and package, with other
# messages, into the default pool. It would clash with a copy of ours there.
theirs = descriptor_pb2.FileDescriptorProto(name="inference/grpc_service.proto", package="inference")
theirs.message_type.add(name="ModelInferRequest").field.add(
    name="only_theirs", number=1, type=9, label=1
)
descriptor_pool.Default().Add(theirs)
assert pb.ModelInferRequest(model_name="m").model_name == "m"
print("ok")
"""


def test_v2_messages_stay_out_of_the_default_descriptor_pool() -> None:
    """tritonclient and mlserver register inference.* there; a model importing them must still load."""
    out = subprocess.run([sys.executable, "-c", _COEXIST], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def _request(inputs: list[dict], **extra) -> InferRequest:
    return json_codec.request_from_json({"inputs": inputs, **extra})


@pytest.mark.parametrize(
    "datatype",
    ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"],
)
def test_each_datatype_round_trips_through_json_binary_and_both_proto_forms(datatype: str) -> None:
    values = {"BOOL": [True, False, True, True, False, False], "BYTES": ["a", "", "é", "x" * 3, "0", "z"]}
    data = values.get(datatype, [0, 1, 2, 3, 4, 5 if datatype.startswith(("U", "FP")) else -5])
    req = _request([{"name": "t", "datatype": datatype, "shape": [2, 3], "data": data}])
    t = req.inputs[0]
    assert t.data.shape == (2, 3)
    if datatype == "BYTES":
        assert t.data.dtype == object and t.data[0, 2] == "é".encode()
    else:
        assert t.data.dtype == json_codec.DATATYPES[datatype]
        assert t.data.ravel().tolist() == data
    for raw in (False, True):
        back = proto_codec.request_from_proto(proto_codec.request_to_proto(req, raw=raw)).inputs[0]
        assert back.datatype == datatype and back.shape == (2, 3)
        assert back.data.tolist() == t.data.tolist()
    body, binary = json_codec.request_to_json(req, binary=True)
    header = orjson.dumps(body)
    again = json_codec.parse_request(header + binary, str(len(header))).inputs[0]
    assert again.data.tolist() == t.data.tolist()
    out, _ = json_codec.response_to_json(InferResponse("m", [tensor_from_numpy("o", t.data)]))
    assert out["outputs"][0]["datatype"] == datatype and out["outputs"][0]["data"] == data


def test_nested_data_is_row_major_and_str_content_type_gives_text() -> None:
    req = _request(
        [
            {"name": "a", "datatype": "INT32", "shape": [2, 2], "data": [[1, 2], [3, 4]]},
            {"name": "b", "datatype": "BYTES", "shape": [1], "data": ["hi"], "parameters": {"content_type": "str"}},
        ]
    )
    assert req.inputs[0].data.tolist() == [[1, 2], [3, 4]]
    assert req.inputs[1].data.tolist() == ["hi"]


def test_raw_bytes_are_length_prefixed_little_endian() -> None:
    msg = pb.ModelInferRequest(
        inputs=[pb.ModelInferRequest.InferInputTensor(name="s", datatype="BYTES", shape=[2])],
        raw_input_contents=[b"\x02\x00\x00\x00hi\x00\x00\x00\x00"],
    )
    assert proto_codec.request_from_proto(msg).inputs[0].data.tolist() == [b"hi", b""]
    resp = InferResponse("m", [tensor_from_numpy("s", np.array(["hi", ""]))])
    assert proto_codec.response_to_proto(resp, raw=True).raw_output_contents == [b"\x02\x00\x00\x00hi\x00\x00\x00\x00"]


BAD_JSON = [
    (
        {"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2]}]},
        "input 'x': shape [3] holds 3 elements but data has 2",
    ),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP128", "data": [1]}]}, "input 'x': datatype 'FP128'"),
    (
        {"inputs": [{"name": "x", "shape": [2], "datatype": "INT8", "data": [1, 2.5]}]},
        "input 'x': data holds floating-point numbers, not INT8",
    ),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "UINT8", "data": [256]}]}, "out of the range of UINT8"),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "BOOL", "data": [1]}]}, "not BOOL values"),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": [1]}]}, "element 0 is int"),
    ({"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": []}]}, "negative dimension"),
    ({"inputs": [{"name": "x", "shape": "2", "datatype": "FP32", "data": [1, 2]}]}, "shape must be a list"),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}, "input 'x': data is missing"),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}] * 2}, "appears twice"),
    ({"inputs": {"name": "x"}}, "inputs must be a list"),
    ([1, 2], "must be a JSON object"),
]


@pytest.mark.parametrize(("body", "message"), BAD_JSON)
def test_bad_json_input_is_a_400_naming_the_input(body, message: str) -> None:
    with pytest.raises(V2Error) as err:
        json_codec.request_from_json(body)
    assert err.value.status_code == 400 and message in err.value.message


def test_limits_are_checked_before_allocating() -> None:
    small = Limits(max_inputs=2, max_rank=3, max_elements=100)
    one = {"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}
    with pytest.raises(V2Error, match="3 inputs, more than the limit of 2"):
        json_codec.request_from_json({"inputs": [dict(one, name=n) for n in "abc"]}, limits=small)
    with pytest.raises(V2Error, match="4 dimensions, more than the limit of 3"):
        json_codec.request_from_json({"inputs": [dict(one, shape=[1, 1, 1, 1])]}, limits=small)
    with pytest.raises(V2Error, match="holds 1000000000000 elements, more than the limit of 100"):
        json_codec.request_from_json({"inputs": [dict(one, shape=[10**6, 10**6])]}, limits=small)
    # a BYTES element claiming more bytes than follow, and more elements than length prefixes fit
    msg = pb.ModelInferRequest(
        inputs=[pb.ModelInferRequest.InferInputTensor(name="s", datatype="BYTES", shape=[1])],
        raw_input_contents=[b"\xff\xff\xff\x7fab"],
    )
    with pytest.raises(V2Error, match="input 's': raw BYTES element 0 says 2147483647 bytes but only 2 follow"):
        proto_codec.request_from_proto(msg)
    msg.inputs[0].shape[:] = [10**6]
    with pytest.raises(V2Error, match="1000000 BYTES elements need at least 4000000 bytes"):
        proto_codec.request_from_proto(msg)
    msg = pb.ModelInferRequest(
        inputs=[pb.ModelInferRequest.InferInputTensor(name="f", datatype="FP32", shape=[3])],
        raw_input_contents=[b"\x00" * 8],
    )
    with pytest.raises(V2Error, match="input 'f': shape \\[3\\] of FP32 needs 12 bytes but the raw data has 8"):
        proto_codec.request_from_proto(msg)


def test_binary_extension_sizes_must_add_up() -> None:
    header = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [2], "datatype": "INT32", "parameters": {"binary_data_size": 8}}]}
    )
    assert json_codec.parse_request(header + b"\x01\x00\x00\x00\x02\x00\x00\x00", len(header)).inputs[
        0
    ].data.tolist() == [1, 2]
    with pytest.raises(V2Error, match="binary_data_size 8 does not fit the 4 bytes"):
        json_codec.parse_request(header + b"\x01\x00\x00\x00", len(header))
    with pytest.raises(V2Error, match="4 bytes of binary data after the JSON header belong to no input"):
        json_codec.parse_request(header + b"\x00" * 12, len(header))
    with pytest.raises(V2Error, match="outside the body"):
        json_codec.parse_request(header, len(header) + 1)


def test_proto_typed_contents_must_match_the_datatype() -> None:
    t = pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=[1])
    t.contents.int_contents.append(1)
    with pytest.raises(V2Error, match="input 'x': datatype FP32 takes fp32_contents, not int_contents"):
        proto_codec.request_from_proto(pb.ModelInferRequest(inputs=[t]))


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_float_contents_written_as_packed_bytes_read_as_the_repeated_field(datatype: str) -> None:
    values = [0.5, -1.25, 1048576.0, 0.0]  # exact in float32 too
    resp = InferResponse("m", [tensor_from_numpy("o", np.array(values, dtype=json_codec.DATATYPES[datatype]))])
    msg = pb.ModelInferResponse.FromString(proto_codec.response_to_proto(resp).SerializeToString())
    field = proto_codec.CONTENTS_FIELD[datatype]
    assert list(getattr(msg.outputs[0].contents, field)) == values
    t = pb.ModelInferRequest.InferInputTensor(name="x", datatype=datatype, shape=[2, 2])
    getattr(t.contents, field).extend(values)  # as another client builds it
    got = proto_codec.request_from_proto(pb.ModelInferRequest(inputs=[t])).inputs[0].data
    assert got.dtype == json_codec.DATATYPES[datatype] and got.ravel().tolist() == values
    empty = pb.ModelInferRequest.InferInputTensor(name="e", datatype=datatype, shape=[0])
    assert proto_codec.request_from_proto(pb.ModelInferRequest(inputs=[empty])).inputs[0].data.shape == (0,)
