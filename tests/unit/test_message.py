"""Request decoding and the response rules shared by REST and gRPC, as upstream applies them."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from google.protobuf import any_pb2, json_format

from wharf.protocol import message as m
from wharf.protocol.errors import MicroserviceError
from wharf.protocol.pb import prediction_pb2 as pb

# --- decode_json -----------------------------------------------------------------------------


def test_decode_json_each_kind():
    p = m.decode_json({"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}, "meta": {"puid": "x"}})
    assert (p.kind, p.names, p.meta) == ("ndarray", ["a", "b"], {"puid": "x"})
    assert p.value.tolist() == [[1, 2]] and p.has_data
    p = m.decode_json({"data": {"tensor": {"shape": [1, 2], "values": [1.5, 2]}}})
    assert p.kind == "tensor" and p.value.shape == (1, 2) and p.names == [] and p.meta is None
    p = m.decode_json({"data": {"names": ["z"]}})
    assert p.kind == m.EMPTY_DATA and p.value.size == 0 and p.has_data and p.names == ["z"]
    assert m.decode_json({"strData": "s"}).value == "s"
    assert m.decode_json({"binData": "AAE="}).value == b"\x00\x01"
    p = m.decode_json({"jsonData": {"k": [1]}})
    assert p.value == {"k": [1]} and not p.has_data


def test_decode_json_lookup_order_follows_upstream():
    # "data" wins over the top-level kinds; inside data tensor > ndarray > tftensor
    p = m.decode_json({"strData": "s", "data": {"ndarray": [1], "tensor": {"shape": [1], "values": [2]}}})
    assert p.kind == "tensor" and p.value.tolist() == [2]
    assert m.decode_json({"strData": "s", "jsonData": {"a": 1}}).kind == "jsonData"


@pytest.mark.parametrize(
    "msg, where",
    [
        ([1, 2], r"^Invalid request data type: \[1, 2\]: request: expected a JSON object \(SeldonMessage\), got list"),
        ({"meta": 3, "strData": "x"}, r"^request\.meta: expected an object"),
        ({"data": [1, 2]}, r"^request\.data: expected an object with one of tensor, ndarray, tftensor"),
        ({"data": {"ndarray": 5}}, r"^request\.data\.ndarray: expected a JSON list"),
        ({"data": {"tftensor": {"dtype": "DT_NOPE"}}}, r"^request\.data\.tftensor: not a TensorProto"),
        ({"strData": 1}, r"^request\.strData: expected a string"),
        (
            {"meta": {}, "other": 1},
            r"^Invalid request data type: \{'meta': \{\}, 'other': 1\}: request has none of data, "
            r"jsonData, strData, binData \(keys: meta, other\)",
        ),
        ({}, r"\(keys: none\)"),
    ],
)
def test_decode_json_errors_name_the_request_part(msg, where):
    with pytest.raises(MicroserviceError, match=where) as info:
        m.decode_json(msg)
    assert info.value.status_code == 400 and info.value.reason == "MICROSERVICE_BAD_DATA"


@pytest.mark.parametrize(
    "msg, where",
    [
        # Upstream lets numpy's and base64's errors escape (500); their text comes first.
        (
            {"data": {"tensor": {"shape": [4], "values": [1]}}},
            r"^cannot reshape array of size 1 into shape \(4,\): request\.data\.tensor: 1 values do not fit",
        ),
        ({"binData": "abc"}, r"^Incorrect padding: request\.binData is not a valid base64 string"),
    ],
)
def test_decode_json_library_errors_are_500_with_their_text_first(msg, where):
    with pytest.raises(MicroserviceError, match=where) as info:
        m.decode_json(msg)
    assert info.value.status_code == 500 and info.value.reason == "MICROSERVICE_INTERNAL_ERROR"


def test_decode_json_list_names_the_message():
    items = m.decode_json_list({"seldonMessages": [{"strData": "a"}, {"data": {"ndarray": [1]}}]})
    assert [p.kind for p in items] == ["strData", "ndarray"]
    assert [p.kind for p in m.decode_json_list([{"strData": "a"}])] == ["strData"]  # bare list (REST)
    with pytest.raises(MicroserviceError, match=r"^seldonMessages\[1\]\.data\.ndarray: expected a JSON list"):
        m.decode_json_list({"seldonMessages": [{"strData": "a"}, {"data": {"ndarray": {}}}]})
    with pytest.raises(MicroserviceError, match=r"seldonMessages"):
        m.decode_json_list({"messages": []})


# --- decode_proto ----------------------------------------------------------------------------


def test_decode_proto_each_kind():
    msg = json_format.ParseDict(
        {"data": {"names": ["a"], "ndarray": [[1, 2]]}, "meta": {"puid": "p"}}, pb.SeldonMessage()
    )
    p = m.decode_proto(msg)
    assert p.kind == "ndarray" and p.value.dtype == np.float64 and p.names == ["a"] and p.meta == {"puid": "p"}
    p = m.decode_proto(
        json_format.ParseDict({"data": {"tensor": {"shape": [2], "values": [1, 2]}}}, pb.SeldonMessage())
    )
    assert p.kind == "tensor" and p.value.tolist() == [1.0, 2.0] and p.meta is None
    assert m.decode_proto(pb.SeldonMessage(data=pb.DefaultData(names=["x"]))).kind == m.EMPTY_DATA
    assert m.decode_proto(pb.SeldonMessage(strData="s")).value == "s"
    assert m.decode_proto(pb.SeldonMessage(binData=b"\x01")).value == b"\x01"
    assert m.decode_proto(json_format.ParseDict({"jsonData": {"a": 1}}, pb.SeldonMessage())).value == {"a": 1.0}
    any_msg = any_pb2.Any(type_url="type.googleapis.com/x.Y", value=b"1")
    p = m.decode_proto(pb.SeldonMessage(customData=any_msg))
    assert p.kind == "customData" and p.value == any_msg
    with pytest.raises(MicroserviceError, match="Invalid request data type"):
        m.decode_proto(pb.SeldonMessage())


def test_decode_feedback_part_only_decodes_data():
    p = m.decode_feedback_part(json_format.ParseDict({"data": {"ndarray": [[1]]}}, pb.SeldonMessage()))
    assert p.kind == "ndarray" and p.value.tolist() == [[1.0]]
    p = m.decode_feedback_part(pb.SeldonMessage(strData="s", meta=pb.Meta(puid="q")))
    assert p.kind == "strData" and p.value.size == 0 and not p.has_data and p.meta == {"puid": "q"}
    p = m.decode_feedback_part(pb.SeldonMessage())
    assert p.kind == "none" and p.value.size == 0 and not p.has_data and p.meta is None


# --- response_kind: upstream's mirroring table ------------------------------------------

NUM = np.array([[1.0, 2.0]])
TEXT = np.array([["a", "b"]])
BOOL = np.array([True, False])


def req(kind: str) -> m.Payload:
    return m.Payload(kind, None, [], None)


@pytest.mark.parametrize(
    "result, request_kind, expected",
    [
        ({"a": 1}, "ndarray", "jsonData"),
        ({"a": 1}, "strData", "jsonData"),
        (b"\x00", "tensor", "binData"),
        (bytearray(b"\x00"), "jsonData", "binData"),
        ("s", "tensor", "strData"),
        ("s", "binData", "strData"),
        # the request had data, the result is numeric: mirror the request's kind
        (NUM, "tensor", "tensor"),
        (NUM, "tftensor", "tftensor"),
        (NUM, "ndarray", "ndarray"),
        (NUM, m.EMPTY_DATA, "ndarray"),
        ([[1, 2]], "tensor", "tensor"),
        # the request had data, the result is not numeric: ndarray
        (TEXT, "tensor", "ndarray"),
        (TEXT, "tftensor", "ndarray"),
        ([["a", 1]], "tensor", "ndarray"),
        (BOOL, "tensor", "ndarray"),  # bool is not np.number upstream either
        # the request had no data: tensor when numeric, else ndarray
        (NUM, "strData", "tensor"),
        ([1, 2], "jsonData", "tensor"),
        (np.array([], dtype=float), "binData", "tensor"),
        (TEXT, "strData", "ndarray"),
        (BOOL, "none", "ndarray"),
        (NUM, "none", "tensor"),
    ],
)
def test_response_kind_rules(result, request_kind, expected):
    kind, _ = m.response_kind(result, req(request_kind))
    assert kind == expected


def test_response_kind_keeps_non_numeric_lists_as_given():
    ragged = [["a"], ["b", "c"]]
    assert m.response_kind(ragged, req("ndarray")) == ("ndarray", ragged)


@pytest.mark.parametrize("result", [1.5, 3, None, {1, 2}, (1, 2), np.float64(2.0)])
def test_unknown_result_types_are_rejected_like_upstream(result):
    with pytest.raises(MicroserviceError, match="Unknown data type returned as payload") as info:
        m.response_kind(result, req("ndarray"))
    assert info.value.status_code == 400 and info.value.reason == "MICROSERVICE_BAD_DATA"


# --- encoding and default names --------------------------------------------------------------


def test_default_names():
    assert m.default_names(np.zeros((2, 3))) == ["t:0", "t:1", "t:2"]
    assert m.default_names(np.zeros((1, 2, 4))) == ["t:0", "t:1"]
    assert m.default_names(np.zeros(5)) == []
    assert m.default_names(np.array(1.0)) == []


def test_encode_json_shapes():
    out = m.encode_json(np.array([[1, 2]]), req("ndarray"))
    assert out["data"]["names"] == ["t:0", "t:1"] and out["data"]["ndarray"].tolist() == [[1, 2]]
    out = m.encode_json(np.array([1.5, 2.5]), req("tensor"))
    assert out["data"]["names"] == [] and out["data"]["tensor"]["shape"] == [2]
    out = m.encode_json([[1, 2]], req("strData"), names=lambda arr: ["x", "y"])
    assert out == {
        "data": {"names": ["x", "y"], "tensor": {"shape": [1, 2], "values": out["data"]["tensor"]["values"]}}
    }
    assert out["data"]["tensor"]["values"].tolist() == [1, 2]
    assert m.encode_json("s", req("ndarray")) == {"strData": "s"}
    assert m.encode_json(b"\x00\x01", req("ndarray")) == {"binData": "AAE="}
    assert m.encode_json({"a": [1]}, req("ndarray")) == {"jsonData": {"a": [1]}}
    out = m.encode_json([["a", "b"]], req("tensor"))
    assert out == {"data": {"names": ["t:0", "t:1"], "ndarray": [["a", "b"]]}}


def test_encode_proto_shapes():
    out = m.encode_proto(np.array([[1, 2]]), req("tensor"))
    assert json_format.MessageToDict(out) == {
        "data": {"names": ["t:0", "t:1"], "tensor": {"shape": [1, 2], "values": [1.0, 2.0]}}
    }
    out = m.encode_proto(np.array([[1, 2]]), req("ndarray"), names=lambda arr: ["c0", "c1"])
    assert json_format.MessageToDict(out) == {"data": {"names": ["c0", "c1"], "ndarray": [[1.0, 2.0]]}}
    assert json_format.MessageToDict(m.encode_proto({"k": 1}, req("strData"))) == {"jsonData": {"k": 1.0}}
    assert m.encode_proto("s", req("strData")).strData == "s"
    assert m.encode_proto(b"\x02", req("strData")).binData == b"\x02"
    any_msg = any_pb2.Any(type_url="type.googleapis.com/x.Y", value=b"1")
    assert m.encode_proto(any_msg, req("strData")).customData == any_msg


# --- response_meta ---------------------------------------------------------------------------


def test_response_meta_merge_order_and_copies():
    request_meta = {
        "puid": "p1",
        "tags": {"a": "req", "b": "req", "c": "req"},
        "metrics": [{"key": "m0", "type": "GAUGE", "value": 1}],
        "routing": {"router": 1},
        "requestPath": {"up": "img:1"},
    }
    before = copy.deepcopy(request_meta)
    meta = m.response_meta(
        request_meta,
        tags=[{"b": "user", "c": "user"}, {"c": "runtime"}],
        metrics=[{"key": "m1", "type": "COUNTER", "value": 2}],
        request_path={"me": "img:2"},
    )
    assert meta == {
        "puid": "p1",
        "tags": {"a": "req", "b": "user", "c": "runtime"},
        "metrics": [{"key": "m0", "type": "GAUGE", "value": 1}, {"key": "m1", "type": "COUNTER", "value": 2}],
        "requestPath": {"me": "img:2", "up": "img:1"},
    }
    assert "routing" not in meta  # routing is dropped
    assert request_meta == before  # the request's meta is not mutated


def test_response_meta_request_path_precedence():
    # request entries win over this unit's entry
    meta = m.response_meta({"requestPath": {"me": "from-request"}}, tags=[], metrics=[], request_path={"me": "img"})
    assert meta == {"requestPath": {"me": "from-request"}}
    # without PREDICTIVE_UNIT_ID the request's entries are still passed on (seldon-core 1.19.0 does)
    assert m.response_meta({"requestPath": {"up": "x"}}, tags=[], metrics=[], request_path=None) == {
        "requestPath": {"up": "x"}
    }
    assert m.response_meta({}, tags=[], metrics=[], request_path={"me": "img"}) == {"requestPath": {"me": "img"}}
    assert m.response_meta(None, tags=[], metrics=[], request_path=None) == {}


def test_response_meta_puid_only_when_set_and_none_tags_skipped():
    assert m.response_meta({"puid": ""}, tags=[None, None], metrics=[], request_path=None) == {}
    assert m.response_meta({"puid": "x"}, tags=[None, {"t": 1}], metrics=[], request_path=None) == {
        "puid": "x",
        "tags": {"t": 1},
    }
