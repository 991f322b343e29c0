"""``data.tftensor``: a TensorFlow ``TensorProto``, as proto-JSON over REST.

Converted with our own copy of the message, so TensorFlow is not needed (upstream requires it).
Numeric arrays are written into ``tensor_content`` as TensorFlow's ``make_tensor_proto`` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from google.protobuf import json_format

from wharf.protocol.codecs.base import Codec, register
from wharf.protocol.errors import MicroserviceError
from wharf.protocol.pb import tensor_pb2

DT = tensor_pb2.DataType
# dtype enum -> (numpy dtype, repeated field holding the values when tensor_content is empty)
_BY_ENUM: dict[tensor_pb2.DataType, tuple[np.dtype, str]] = {
    DT.DT_FLOAT: (np.dtype(np.float32), "float_val"),
    DT.DT_DOUBLE: (np.dtype(np.float64), "double_val"),
    DT.DT_INT32: (np.dtype(np.int32), "int_val"),
    DT.DT_UINT8: (np.dtype(np.uint8), "int_val"),
    DT.DT_INT16: (np.dtype(np.int16), "int_val"),
    DT.DT_INT8: (np.dtype(np.int8), "int_val"),
    DT.DT_UINT16: (np.dtype(np.uint16), "int_val"),
    DT.DT_INT64: (np.dtype(np.int64), "int64_val"),
    DT.DT_BOOL: (np.dtype(np.bool_), "bool_val"),
    DT.DT_HALF: (np.dtype(np.float16), "half_val"),
    DT.DT_UINT32: (np.dtype(np.uint32), "uint32_val"),
    DT.DT_UINT64: (np.dtype(np.uint64), "uint64_val"),
    DT.DT_COMPLEX64: (np.dtype(np.complex64), "scomplex_val"),
    DT.DT_COMPLEX128: (np.dtype(np.complex128), "dcomplex_val"),
    DT.DT_STRING: (np.dtype(object), "string_val"),
}
_BY_NUMPY = {np_dtype: enum for enum, (np_dtype, _) in _BY_ENUM.items() if np_dtype != np.dtype(object)}


def to_numpy(proto: tensor_pb2.TensorProto) -> np.ndarray:
    if proto.dtype not in _BY_ENUM:
        raise MicroserviceError(f"data.tftensor.dtype: unsupported {DT.Name(proto.dtype)}")
    dtype, field = _BY_ENUM[proto.dtype]
    shape = [d.size for d in proto.tensor_shape.dim]
    size = int(np.prod(shape)) if shape else 1
    if proto.tensor_content:
        flat = np.frombuffer(proto.tensor_content, dtype=dtype.newbyteorder("<")).astype(dtype)
    elif proto.dtype == DT.DT_HALF:
        flat = np.array(proto.half_val, dtype=np.uint16).view(np.float16)
    elif dtype.kind == "c":
        pairs = np.array(getattr(proto, field), dtype=np.float64)
        flat = (pairs[0::2] + 1j * pairs[1::2]).astype(dtype)
    elif dtype == np.dtype(object):
        flat = np.array(list(proto.string_val), dtype=object)
    else:
        flat = np.array(getattr(proto, field), dtype=dtype)
    if flat.size < size:  # TensorFlow repeats the last value to fill the shape
        if flat.size == 0:
            flat = np.zeros(size, dtype=dtype)
        else:
            flat = np.concatenate([flat, np.repeat(flat[-1:], size - flat.size)])
    try:
        return flat.reshape(shape)
    except ValueError:
        raise MicroserviceError(f"data.tftensor: {flat.size} values do not fit shape {shape}") from None


def from_numpy(arr: np.ndarray) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto()
    for size in arr.shape:
        proto.tensor_shape.dim.add(size=size)
    if arr.dtype.kind in "USO":
        proto.dtype = DT.DT_STRING
        proto.string_val.extend(x if isinstance(x, bytes) else str(x).encode() for x in arr.ravel())
        return proto
    if arr.dtype not in _BY_NUMPY:
        raise MicroserviceError(f"cannot encode dtype {arr.dtype} as tftensor")
    proto.dtype = _BY_NUMPY[arr.dtype]
    proto.tensor_content = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
    return proto


@register
class TfTensorCodec(Codec):
    kind = "tftensor"

    @staticmethod
    def from_json(obj: Any, where: str) -> np.ndarray:
        try:
            proto = json_format.ParseDict(obj, tensor_pb2.TensorProto())
        except (json_format.ParseError, TypeError, AttributeError) as exc:
            raise MicroserviceError(f"{where}: not a TensorProto: {exc}") from None
        return to_numpy(proto)

    @staticmethod
    def to_json(value: Any) -> dict[str, Any]:
        return json_format.MessageToDict(from_numpy(np.asarray(value)))

    @staticmethod
    def from_proto(msg: Any) -> np.ndarray:
        return to_numpy(msg)

    @staticmethod
    def to_proto(value: Any, parent: Any) -> None:
        parent.tftensor.CopyFrom(from_numpy(np.asarray(value)))
