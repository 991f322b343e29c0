"""The wire-level ListValue codec gives exactly what the protobuf library gives, or steps aside."""

from __future__ import annotations

import numpy as np
from google.protobuf import struct_pb2
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from wharf.protocol.codecs import listvalue

finite = st.floats(allow_nan=False, allow_infinity=True, width=64)
shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6)


@given(hnp.arrays(np.float64, shapes, elements=finite))
def test_encode_matches_the_protobuf_library(arr: np.ndarray) -> None:
    expected = struct_pb2.ListValue()
    expected.extend(arr.tolist())
    got = struct_pb2.ListValue()
    got.ParseFromString(listvalue.encode(arr))
    assert got == expected


@given(hnp.arrays(st.sampled_from([np.int64, np.int32, np.uint8, np.float32]), shapes))
def test_integer_and_narrow_arrays_become_doubles(arr: np.ndarray) -> None:
    got = struct_pb2.ListValue()
    got.ParseFromString(listvalue.encode(arr))
    expected = struct_pb2.ListValue()
    expected.extend(arr.astype(np.float64).tolist())
    assert got == expected


@given(hnp.arrays(np.float64, shapes, elements=finite))
def test_decode_reads_back_what_the_library_wrote(arr: np.ndarray) -> None:
    message = struct_pb2.ListValue()
    message.extend(arr.tolist())
    back = listvalue.decode(message.SerializeToString())
    assert back is not None and back.shape == arr.shape and np.array_equal(back, arr)


def test_irregular_or_non_numeric_lists_are_left_to_the_general_path() -> None:
    for items in ([[1.0, 2.0], [3.0]], [[1.0, "a"]], [True, False], [], [[]], [[1.0], 2.0], [None]):
        message = struct_pb2.ListValue()
        message.extend(items)
        assert listvalue.decode(message.SerializeToString()) is None, items
    assert listvalue.encode(np.array(["a", "b"])) is None
    assert listvalue.encode(np.zeros((2, 0))) is None
    assert listvalue.encode(np.array(3.0)) is None


@given(hnp.arrays(np.float64, shapes, elements=st.floats(width=64)))
def test_message_decoding_matches_the_byte_decoder_at_every_size(arr: np.ndarray) -> None:
    message = struct_pb2.ListValue()
    message.extend(arr.tolist())
    via_walk = listvalue.decode_message(message)
    via_bytes = listvalue.decode(message.SerializeToString())
    assert via_walk is not None and via_bytes is not None
    assert via_walk.dtype == via_bytes.dtype == np.float64 and via_walk.shape == via_bytes.shape == arr.shape
    assert np.array_equal(via_walk, arr, equal_nan=True)


@given(
    hnp.arrays(
        st.sampled_from([np.float64, np.float32, np.int64, np.uint8]),
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
    )
)
def test_small_and_numpy_encoders_write_the_same_bytes(arr: np.ndarray) -> None:
    small = listvalue.encode(arr)
    saved = listvalue.SMALL_ENCODE_VALUES
    listvalue.SMALL_ENCODE_VALUES = 0  # force the numpy writer
    try:
        assert listvalue.encode(arr) == small
    finally:
        listvalue.SMALL_ENCODE_VALUES = saved


def test_message_decoding_steps_aside_for_what_is_not_a_numeric_array() -> None:
    for items in ([[1.0, 2.0], [3.0]], [[1.0, "a"]], [True, False], [], [[]], [[1.0], 2.0], [None], [1.0, [2.0]]):
        message = struct_pb2.ListValue()
        message.extend(items)
        assert listvalue.decode_message(message) is None, items
