"""``data.tensor``: ``{"shape": [...], "values": [...]}``, values flattened in C order."""

from __future__ import annotations

from typing import Any

import numpy as np

from wharf.protocol.codecs.base import Codec, register
from wharf.protocol.codecs.ndarray import json_ready
from wharf.protocol.errors import INTERNAL_ERROR, MicroserviceError, upstream_text


def _reshape(values: Any, shape: Any, where: str) -> np.ndarray:
    try:
        return np.array(values).reshape(shape)
    except (ValueError, TypeError) as exc:
        # Upstream lets numpy's error escape: 500 MICROSERVICE_INTERNAL_ERROR with numpy's text.
        count = len(values) if hasattr(values, "__len__") else "the"
        raise MicroserviceError(
            upstream_text(str(exc), f"{where}: {count} values do not fit shape {shape!r}"), 500, reason=INTERNAL_ERROR
        ) from None


@register
class TensorCodec(Codec):
    kind = "tensor"

    @staticmethod
    def from_json(obj: Any, where: str) -> np.ndarray:
        if not isinstance(obj, dict) or "values" not in obj:
            raise MicroserviceError(f"{where}: expected an object with 'shape' and 'values'")
        values = obj["values"]
        return _reshape(values, obj.get("shape", [len(values)]), where)

    @staticmethod
    def to_json(value: Any) -> dict[str, Any]:
        arr = np.asarray(value)
        return {"shape": list(arr.shape), "values": json_ready(arr.ravel())}

    @staticmethod
    def from_proto(msg: Any) -> np.ndarray:
        values = np.array(msg.values, dtype=np.float64)
        return _reshape(values, list(msg.shape) or [len(values)], "data.tensor")

    @staticmethod
    def to_proto(value: Any, parent: Any) -> None:
        arr = np.asarray(value, dtype=np.float64)
        parent.tensor.shape.extend(arr.shape)
        parent.tensor.values.extend(arr.ravel().tolist())
