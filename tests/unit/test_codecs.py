"""Payload codecs: JSON and protobuf round trips for every SeldonMessage kind, and the registry."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from wharf.protocol.codecs import (
    DATA_KINDS,
    TOP_LEVEL_KINDS,
    Codec,
    CodecNotFound,
    DuplicateCodec,
    get_codec,
    register,
)
from wharf.protocol.codecs import base as codec_base
from wharf.protocol.codecs.ndarray import json_ready
from wharf.protocol.codecs.tftensor import from_numpy, to_numpy
from wharf.protocol.errors import MicroserviceError
from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import tensor_pb2

DT = tensor_pb2.DataType
SETTINGS = settings(max_examples=60, deadline=None)

finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
small_ints = st.integers(min_value=-(2**53), max_value=2**53)  # exact as a double
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
float_arrays = hnp.arrays(np.float64, shapes, elements=finite_floats)
int_arrays = hnp.arrays(np.int64, shapes, elements=small_ints)
numeric_arrays = st.one_of(float_arrays, int_arrays)
json_scalars = st.one_of(st.none(), st.booleans(), small_ints, finite_floats, st.text(max_size=10))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=15,
)


def via_json_text(value):
    """What a client parses: the codec's JSON value written out and read back."""
    return json.loads(json.dumps(value, default=lambda o: o.tolist()))


# --- registry --------------------------------------------------------------------------------


def test_all_kinds_registered():
    for kind in DATA_KINDS + TOP_LEVEL_KINDS:
        assert get_codec(kind).kind == kind


def test_unknown_kind_raises_codec_not_found():
    with pytest.raises(CodecNotFound) as info:
        get_codec("parquetData")
    assert isinstance(info.value, LookupError)
    assert info.value.kind == "parquetData"
    assert "parquetData" in str(info.value) and "ndarray" in str(info.value)  # lists the known kinds


def test_registering_a_kind_twice_is_rejected(monkeypatch):
    monkeypatch.setattr(codec_base, "_REGISTRY", dict(codec_base._REGISTRY))

    with pytest.raises(DuplicateCodec, match="strData"):

        @register
        class Another(Codec):
            kind = "strData"

    @register
    class Fresh(Codec):
        kind = "csvData"

    assert get_codec("csvData") is Fresh
    with pytest.raises(DuplicateCodec, match="Fresh"):
        register(type("Again", (Codec,), {"kind": "csvData"}))


# --- ndarray ---------------------------------------------------------------------------------


@SETTINGS
@given(numeric_arrays)
def test_ndarray_json_round_trip(arr):
    codec = get_codec("ndarray")
    decoded = codec.from_json(arr.tolist(), "request.data.ndarray")
    assert decoded.shape == arr.shape
    np.testing.assert_array_equal(decoded, arr)
    assert via_json_text(codec.to_json(decoded)) == arr.tolist()


@SETTINGS
# NUL is left out: numpy's fixed-width str arrays drop trailing NULs, and user code receives such
# arrays (as upstream's np.array does), so "a\x00" cannot survive the round trip anywhere.
@given(
    st.lists(
        st.lists(st.text(st.characters(blacklist_characters="\x00"), max_size=5), min_size=2, max_size=2),
        min_size=1,
        max_size=4,
    )
)
def test_ndarray_json_strings(rows):
    codec = get_codec("ndarray")
    decoded = codec.from_json(rows, "x")
    assert decoded.shape == (len(rows), 2)
    assert via_json_text(codec.to_json(decoded)) == rows


@SETTINGS
@given(numeric_arrays)
def test_ndarray_proto_round_trip_gives_doubles(arr):
    codec = get_codec("ndarray")
    data = pb.DefaultData()
    codec.to_proto(arr, data)
    data = pb.DefaultData.FromString(data.SerializeToString())
    decoded = codec.from_proto(data.ndarray)
    assert decoded.dtype == np.float64  # ListValue holds doubles: ints come back as floats
    np.testing.assert_array_equal(decoded, arr.astype(np.float64))


def test_ndarray_json_keeps_ints_and_widens_float32():
    codec = get_codec("ndarray")
    assert codec.from_json([[1, 2]], "x").dtype.kind == "i"
    out = json_ready(np.array([0.1], dtype=np.float32))
    assert out.dtype == np.float64 and json.dumps(out.tolist()) == json.dumps([float(np.float32(0.1))])


def test_ndarray_rejects_non_list_naming_the_part():
    with pytest.raises(MicroserviceError, match=r"request\.data\.ndarray: expected a JSON list, got dict"):
        get_codec("ndarray").from_json({"a": 1}, "request.data.ndarray")


# --- tensor ----------------------------------------------------------------------------------


@SETTINGS
@given(numeric_arrays)
def test_tensor_json_round_trip(arr):
    codec = get_codec("tensor")
    encoded = via_json_text(codec.to_json(arr))
    assert encoded == {"shape": list(arr.shape), "values": arr.ravel().tolist()}
    decoded = codec.from_json(encoded, "request.data.tensor")
    assert decoded.shape == arr.shape
    np.testing.assert_array_equal(decoded, arr)


@SETTINGS
@given(numeric_arrays)
def test_tensor_proto_round_trip(arr):
    codec = get_codec("tensor")
    data = pb.DefaultData()
    codec.to_proto(arr, data)
    data = pb.DefaultData.FromString(data.SerializeToString())
    assert list(data.tensor.shape) == list(arr.shape)
    decoded = codec.from_proto(data.tensor)
    assert decoded.dtype == np.float64 and decoded.shape == arr.shape
    np.testing.assert_array_equal(decoded, arr.astype(np.float64))


def test_tensor_values_are_c_order_and_shape_is_optional():
    codec = get_codec("tensor")
    arr = codec.from_json({"shape": [2, 3], "values": [1, 2, 3, 4, 5, 6]}, "x")
    assert arr.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert codec.from_json({"values": [1.5, 2.5]}, "x").shape == (2,)
    assert codec.to_json(np.arange(6).reshape(2, 3).T)["values"].tolist() == [0, 3, 1, 4, 2, 5]


@pytest.mark.parametrize(
    "obj, message, status",
    [
        # numpy's own text first and a 500, as upstream (whose reshape error escapes)
        (
            {"shape": [3], "values": [1, 2]},
            r"^cannot reshape array of size 2 into shape \(3,\): request\.data\.tensor: 2 values do not fit shape \[3\]",
            500,
        ),
        ({"shape": [2]}, r"request\.data\.tensor: expected an object with 'shape' and 'values'", 400),
        ([1, 2], r"request\.data\.tensor: expected an object", 400),
    ],
)
def test_tensor_errors_name_the_part(obj, message, status):
    with pytest.raises(MicroserviceError, match=message) as info:
        get_codec("tensor").from_json(obj, "request.data.tensor")
    assert info.value.status_code == status


# --- tftensor --------------------------------------------------------------------------------

TF_DTYPES = [
    (np.float32, DT.DT_FLOAT, "float_val"),
    (np.float64, DT.DT_DOUBLE, "double_val"),
    (np.int32, DT.DT_INT32, "int_val"),
    (np.int64, DT.DT_INT64, "int64_val"),
    (np.bool_, DT.DT_BOOL, "bool_val"),
]


def _tf_arrays(dtype):
    if dtype == np.bool_:
        elements = st.booleans()
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))
    else:
        elements = st.floats(allow_nan=False, allow_infinity=False, width=np.dtype(dtype).itemsize * 8)
    return hnp.arrays(dtype, shapes, elements=elements)


@pytest.mark.parametrize("dtype, enum, field", TF_DTYPES, ids=[d[0].__name__ for d in TF_DTYPES])
@given(data=st.data())
@settings(max_examples=30, deadline=None)
def test_tftensor_tensor_content_round_trip(dtype, enum, field, data):
    arr = data.draw(_tf_arrays(dtype))
    codec = get_codec("tftensor")
    proto = from_numpy(arr)
    assert proto.dtype == enum
    assert [d.size for d in proto.tensor_shape.dim] == list(arr.shape)
    assert proto.tensor_content == arr.astype(np.dtype(dtype).newbyteorder("<")).tobytes()
    assert not getattr(proto, field)  # numbers go in tensor_content, as TF's make_tensor_proto does
    # proto (binary) round trip
    parent = pb.DefaultData()
    codec.to_proto(arr, parent)
    back = codec.from_proto(pb.DefaultData.FromString(parent.SerializeToString()).tftensor)
    assert back.dtype == np.dtype(dtype) and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)
    # proto-JSON round trip (what REST carries)
    encoded = via_json_text(codec.to_json(arr))
    assert encoded["dtype"] == DT.Name(enum)
    assert encoded["tensorShape"] == {"dim": [{"size": str(n)} for n in arr.shape]}
    back = codec.from_json(encoded, "request.data.tftensor")
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, arr)


@pytest.mark.parametrize("dtype, enum, field", TF_DTYPES, ids=[d[0].__name__ for d in TF_DTYPES])
@given(data=st.data())
@settings(max_examples=30, deadline=None)
def test_tftensor_repeated_field_form(dtype, enum, field, data):
    arr = data.draw(_tf_arrays(dtype))
    proto = tensor_pb2.TensorProto(dtype=enum)
    for n in arr.shape:
        proto.tensor_shape.dim.add(size=n)
    getattr(proto, field).extend(arr.ravel().tolist())
    back = to_numpy(tensor_pb2.TensorProto.FromString(proto.SerializeToString()))
    assert back.dtype == np.dtype(dtype) and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_tftensor_json_matches_tensorflow_encoding():
    # tf.make_tensor_proto(np.array([1, 2], np.float32)) as proto-JSON, bytes little-endian
    encoded = get_codec("tftensor").to_json(np.array([1.0, 2.0], dtype=np.float32))
    assert encoded == {
        "dtype": "DT_FLOAT",
        "tensorShape": {"dim": [{"size": "2"}]},
        "tensorContent": base64.b64encode(bytes.fromhex("0000803f00000040")).decode(),
    }
    assert encoded["tensorContent"] == "AACAPwAAAEA="


def test_tftensor_json_repeated_fields_as_clients_send_them():
    codec = get_codec("tftensor")
    arr = codec.from_json(
        {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "2"}, {"size": 2}]}, "floatVal": [1, 2, 3, 4]}, "x"
    )
    assert arr.dtype == np.float32 and arr.tolist() == [[1, 2], [3, 4]]
    arr = codec.from_json({"dtype": "DT_INT64", "tensorShape": {"dim": [{"size": "2"}]}, "int64Val": ["7", 8]}, "x")
    assert arr.dtype == np.int64 and arr.tolist() == [7, 8]


@pytest.mark.parametrize(
    "enum, field, given_values, shape, expected",
    [
        (DT.DT_FLOAT, "float_val", [1.5], [3], [1.5, 1.5, 1.5]),
        (DT.DT_INT32, "int_val", [1, 2], [2, 2], [[1, 2], [2, 2]]),
        (DT.DT_INT64, "int64_val", [5], [2], [5, 5]),
        (DT.DT_DOUBLE, "double_val", [], [2], [0.0, 0.0]),
        (DT.DT_BOOL, "bool_val", [True], [3], [True, True, True]),
        (DT.DT_STRING, "string_val", [b"a", b"b"], [3], [b"a", b"b", b"b"]),
    ],
)
def test_tftensor_fills_with_last_value(enum, field, given_values, shape, expected):
    """TensorFlow's rule: fewer values than the shape holds -> the last one is repeated (0 if none)."""
    proto = tensor_pb2.TensorProto(dtype=enum)
    for n in shape:
        proto.tensor_shape.dim.add(size=n)
    getattr(proto, field).extend(given_values)
    assert to_numpy(proto).tolist() == expected


def test_tftensor_scalar_has_no_dims():
    proto = tensor_pb2.TensorProto(dtype=DT.DT_FLOAT, float_val=[4.0])
    out = to_numpy(proto)
    assert out.shape == () and out == np.float32(4.0)


@SETTINGS
@given(st.lists(st.text(max_size=6), min_size=1, max_size=6))
def test_tftensor_strings(words):
    codec = get_codec("tftensor")
    arr = np.array(words, dtype=object)
    proto = from_numpy(arr)
    assert proto.dtype == DT.DT_STRING and list(proto.string_val) == [w.encode() for w in words]
    encoded = via_json_text(codec.to_json(arr))
    assert encoded["stringVal"] == [base64.b64encode(w.encode()).decode() for w in words]
    back = codec.from_json(encoded, "x")
    assert back.dtype == object and back.tolist() == [w.encode() for w in words]
    if not any(w.endswith("\x00") for w in words):  # numpy "<U" arrays cannot hold trailing NULs
        unicode_array = np.array(words)  # numpy "<U" strings encode the same way
        assert from_numpy(unicode_array) == proto


def test_tftensor_errors():
    codec = get_codec("tftensor")
    with pytest.raises(MicroserviceError, match=r"request\.data\.tftensor: not a TensorProto"):
        codec.from_json({"dtype": "DT_NOPE"}, "request.data.tftensor")
    with pytest.raises(MicroserviceError, match="unsupported DT_RESOURCE"):
        to_numpy(tensor_pb2.TensorProto(dtype=DT.DT_RESOURCE))
    too_many = tensor_pb2.TensorProto(dtype=DT.DT_FLOAT, float_val=[1, 2, 3])
    too_many.tensor_shape.dim.add(size=2)
    with pytest.raises(MicroserviceError, match="3 values do not fit shape"):
        to_numpy(too_many)
    with pytest.raises(MicroserviceError, match="cannot encode dtype"):
        from_numpy(np.array([np.datetime64("2020-01-01")]))


# --- strData, binData, jsonData --------------------------------------------------------------


@SETTINGS
@given(st.text())
def test_strdata_round_trips(text):
    codec = get_codec("strData")
    assert codec.to_json(codec.from_json(text, "request.strData")) == text
    msg = pb.SeldonMessage()
    codec.to_proto(text, msg)
    assert codec.from_proto(pb.SeldonMessage.FromString(msg.SerializeToString()).strData) == text


@SETTINGS
@given(st.binary())
def test_bindata_round_trips(raw):
    codec = get_codec("binData")
    encoded = codec.to_json(raw)
    assert encoded == base64.b64encode(raw).decode()
    assert codec.from_json(encoded, "request.binData") == raw
    msg = pb.SeldonMessage()
    codec.to_proto(raw, msg)
    assert codec.from_proto(pb.SeldonMessage.FromString(msg.SerializeToString()).binData) == raw
    assert json_format.MessageToDict(msg) == {"binData": encoded}  # a oneof member is present even if empty


@SETTINGS
@given(json_values)
def test_jsondata_round_trips(value):
    codec = get_codec("jsonData")
    assert codec.to_json(codec.from_json(value, "request.jsonData")) == value
    msg = pb.SeldonMessage()
    codec.to_proto(value, msg)
    back = codec.from_proto(pb.SeldonMessage.FromString(msg.SerializeToString()).jsonData)
    assert back == value  # numbers come back as doubles; == treats 1 and 1.0 alike, exact below 2**53


def test_jsondata_proto_numbers_are_doubles():
    msg = pb.SeldonMessage()
    get_codec("jsonData").to_proto({"n": 1, "l": [2]}, msg)
    back = get_codec("jsonData").from_proto(msg.jsonData)
    assert back == {"n": 1.0, "l": [2.0]} and isinstance(back["n"], float)


@pytest.mark.parametrize(
    "kind, bad, message",
    [
        ("strData", 5, r"request\.strData: expected a string, got int"),
        (
            "binData",
            5,
            r"^argument should be a bytes-like object or ASCII string, not 'int': "
            r"request\.binData is not a valid base64 string",
        ),
        ("binData", "abc", r"^Incorrect padding: request\.binData is not a valid base64 string"),
    ],
)
def test_top_level_errors_name_the_part(kind, bad, message):
    with pytest.raises(MicroserviceError, match=message):
        get_codec(kind).from_json(bad, f"request.{kind}")
