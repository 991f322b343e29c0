"""``data.ndarray``: a nested JSON list (a ``google.protobuf.ListValue`` on gRPC)."""

from __future__ import annotations

from typing import Any

import numpy as np
from google.protobuf import json_format

from wharf.protocol.codecs import listvalue
from wharf.protocol.codecs.base import Codec, register
from wharf.protocol.errors import MicroserviceError


def to_array(obj: Any) -> np.ndarray:
    """``np.array`` of a JSON list; ragged lists become an object array as older numpy did."""
    try:
        return np.array(obj)
    except ValueError:
        arr = np.empty(len(obj), dtype=object)
        arr[:] = obj
        return arr


def json_ready(value: Any) -> Any:
    """A value orjson can write with ``OPT_SERIALIZE_NUMPY``, numbers spelled like upstream.

    float16/float32 are widened so the text matches Python's float repr of the same value,
    which is what upstream's ``tolist()`` produces.
    """
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind == "f" and value.dtype.itemsize < 8:
            return np.ascontiguousarray(value, dtype=np.float64)
        if kind in "fiub" and value.dtype.byteorder in "=|":
            return np.ascontiguousarray(value)
        return value.tolist()
    return value


@register
class NdarrayCodec(Codec):
    kind = "ndarray"

    @staticmethod
    def from_json(obj: Any, where: str) -> np.ndarray:
        if not isinstance(obj, list):
            raise MicroserviceError(f"{where}: expected a JSON list, got {type(obj).__name__}")
        return to_array(obj)

    @staticmethod
    def to_json(value: Any) -> Any:
        return json_ready(value) if isinstance(value, np.ndarray) else value

    @staticmethod
    def from_proto(msg: Any) -> np.ndarray:
        fast = listvalue.decode_message(msg)
        return fast if fast is not None else to_array(json_format.MessageToDict(msg))

    @staticmethod
    def to_proto(value: Any, parent: Any) -> None:
        if isinstance(value, np.ndarray):
            fast = listvalue.encode(value)
            if fast is not None:
                parent.ndarray.ParseFromString(fast)
                return
        items = value.tolist() if isinstance(value, np.ndarray) else value
        parent.ndarray.SetInParent()  # an empty list is still an ndarray: mark the oneof as set
        parent.ndarray.extend(items)
