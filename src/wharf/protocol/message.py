"""Decoding requests into the parts a user method receives, and building responses.

Both transports share the rules (which payload kind a response takes, how ``meta`` is merged);
only the container differs: a JSON dict for REST, a ``SeldonMessage`` proto for gRPC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf import json_format

from wharf.protocol.codecs import DATA_KINDS, TOP_LEVEL_KINDS, get_codec
from wharf.protocol.codecs.ndarray import to_array
from wharf.protocol.errors import INVALID_REQUEST, UNKNOWN_RETURN, MicroserviceError, upstream_text
from wharf.protocol.pb import prediction_pb2 as pb

# dtype kinds that np.issubdtype(kind, np.number) accepts (ints, floats, complex, timedelta), without
# its per-call cost on the request path.
_NUMBER_KINDS = frozenset("iufcm")
# Request kind "data" means a ``data`` block with none of tensor/ndarray/tftensor in it.
EMPTY_DATA = "data"


@dataclass(slots=True)
class Payload:
    """One decoded SeldonMessage: the value for the user method and what came with it."""

    kind: str  # tensor | ndarray | tftensor | data | strData | binData | jsonData | customData
    value: Any
    names: list[str]
    meta: dict[str, Any] | None

    @property
    def has_data(self) -> bool:
        return self.kind in DATA_KINDS or self.kind == EMPTY_DATA


# --- decoding -------------------------------------------------------------------------------


def decode_json(msg: Any, where: str = "request") -> Payload:
    if not isinstance(msg, dict):
        raise MicroserviceError(
            upstream_text(
                INVALID_REQUEST.format(request=msg),
                f"{where}: expected a JSON object (SeldonMessage), got {type(msg).__name__}",
            )
        )
    meta = msg.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise MicroserviceError(f"{where}.meta: expected an object")
    if "data" in msg:
        data = msg["data"]
        if not isinstance(data, dict):
            raise MicroserviceError(f"{where}.data: expected an object with one of {', '.join(DATA_KINDS)}")
        names = data.get("names") or []
        for kind in DATA_KINDS:
            if kind in data:
                return Payload(kind, get_codec(kind).from_json(data[kind], f"{where}.data.{kind}"), names, meta)
        return Payload(EMPTY_DATA, np.array([]), names, meta)
    for kind in TOP_LEVEL_KINDS:
        if kind in msg:
            return Payload(kind, get_codec(kind).from_json(msg[kind], f"{where}.{kind}"), [], meta)
    raise MicroserviceError(
        upstream_text(
            INVALID_REQUEST.format(request=msg),
            f"{where} has none of data, jsonData, strData, binData (keys: {', '.join(sorted(msg)) or 'none'})",
        )
    )


def meta_to_dict(meta: pb.Meta) -> dict[str, Any]:
    return json_format.MessageToDict(meta)


def decode_proto(msg: pb.SeldonMessage) -> Payload:
    meta = meta_to_dict(msg.meta) if msg.HasField("meta") else None
    which = msg.WhichOneof("data_oneof")
    if which == "data":
        names = list(msg.data.names)
        kind = msg.data.WhichOneof("data_oneof")
        if kind is None:
            return Payload(EMPTY_DATA, np.array([]), names, meta)
        return Payload(kind, get_codec(kind).from_proto(getattr(msg.data, kind)), names, meta)
    if which in TOP_LEVEL_KINDS:
        return Payload(which, get_codec(which).from_proto(getattr(msg, which)), [], meta)
    if which == "customData":
        return Payload(which, msg.customData, [], meta)
    raise MicroserviceError("Invalid request data type: SeldonMessage has no data, jsonData, strData or binData")


def decode_feedback_part(msg: pb.SeldonMessage) -> Payload:
    """``Feedback.request`` or ``.truth``: only a ``data`` block is decoded, as upstream does.

    Any other kind gives an empty array, but keeps its kind so that the response built from the
    request still follows the mirroring rules (``tensor`` for numeric results of non-data requests).
    """
    which = msg.WhichOneof("data_oneof")
    if which == "data":
        return decode_proto(msg)
    meta = meta_to_dict(msg.meta) if msg.HasField("meta") else None
    return Payload(which or "none", np.array([]), [], meta)


def decode_json_list(msg: Any) -> list[Payload]:
    """A SeldonMessageList; REST ``/aggregate`` also takes a bare list of messages."""
    items = msg.get("seldonMessages") if isinstance(msg, dict) else msg
    if not isinstance(items, list):
        raise MicroserviceError(
            upstream_text(
                INVALID_REQUEST.format(request=msg),
                "request: expected {'seldonMessages': [...]} or a list of SeldonMessages",
            )
        )
    return [decode_json(m, f"seldonMessages[{i}]") for i, m in enumerate(items)]


# --- the response rules ---------------------------------------------------------------------

Namer = Callable[[np.ndarray], list[str]]


def default_names(arr: np.ndarray) -> list[str]:
    return [f"t:{i}" for i in range(arr.shape[1])] if arr.ndim > 1 else []


def response_kind(result: Any, request: Payload) -> tuple[str, Any]:
    """Which payload kind a returned value is sent back as, and the value to encode.

    dict -> jsonData, bytes -> binData, str -> strData; arrays and lists -> a ``data`` block that
    mirrors the request's kind when numeric (tensor stays tensor, tftensor stays tftensor),
    ``ndarray`` when not, and ``tensor`` for numeric results of non-``data`` requests.
    """
    if isinstance(result, dict):
        return "jsonData", result
    if isinstance(result, (bytes, bytearray)):
        return "binData", bytes(result)
    if isinstance(result, str):
        return "strData", result
    if isinstance(result, (np.ndarray, list)):
        arr = result if isinstance(result, np.ndarray) else to_array(result)
        numeric = arr.dtype.kind in _NUMBER_KINDS
        if not request.has_data:
            return ("tensor", arr) if numeric else ("ndarray", arr)
        if numeric and request.kind in ("tensor", "tftensor"):
            return request.kind, arr
        return "ndarray", (arr if numeric else result)
    # Upstream answers 400 MICROSERVICE_BAD_DATA here (checked against seldon-core 1.19.0).
    raise MicroserviceError(
        upstream_text(UNKNOWN_RETURN.format(result=result), f"the method returned {type(result).__name__}")
    )


def encode_json(result: Any, request: Payload, names: Namer = default_names) -> dict[str, Any]:
    kind, value = response_kind(result, request)
    if kind in TOP_LEVEL_KINDS:
        return {kind: get_codec(kind).to_json(value)}
    arr = value if isinstance(value, np.ndarray) else to_array(value)
    return {"data": {"names": names(arr), kind: get_codec(kind).to_json(value)}}


def encode_proto(result: Any, request: Payload, names: Namer = default_names) -> pb.SeldonMessage:
    out = pb.SeldonMessage()
    if _is_any(result):
        out.customData.CopyFrom(result)
        return out
    kind, value = response_kind(result, request)
    if kind in TOP_LEVEL_KINDS:
        get_codec(kind).to_proto(value, out)
        return out
    arr = value if isinstance(value, np.ndarray) else to_array(value)
    out.data.names.extend(names(arr))
    get_codec(kind).to_proto(value, out.data)
    return out


def _is_any(value: Any) -> bool:
    return getattr(value, "DESCRIPTOR", None) is not None and value.DESCRIPTOR.full_name == "google.protobuf.Any"


def response_meta(
    request_meta: dict[str, Any] | None,
    *,
    tags: list[dict[str, Any] | None],
    metrics: list[dict[str, Any]],
    request_path: dict[str, str] | None,
) -> dict[str, Any]:
    """The response ``meta``: puid copied, tags and metrics merged, requestPath extended.

    ``tags`` are applied in order over the request's tags (user ``tags()``, then runtime tags);
    ``metrics`` (already filtered by the caller) follow the request's. ``routing`` is dropped.
    ``requestPath`` is this unit's entry (None when PREDICTIVE_UNIT_ID is unset) under the
    request's entries; like upstream, the request's entries are kept even without a unit entry.
    """
    request_meta = request_meta or {}
    meta: dict[str, Any] = {}
    if request_meta.get("puid"):
        meta["puid"] = request_meta["puid"]
    merged = dict(request_meta.get("tags") or {})
    for extra in tags:
        if extra:
            merged.update(extra)
    if merged:
        meta["tags"] = merged
    all_metrics = list(request_meta.get("metrics") or []) + metrics
    if all_metrics:
        meta["metrics"] = all_metrics
    path = {**(request_path or {}), **(request_meta.get("requestPath") or {})}
    if path:
        meta["requestPath"] = path
    return meta
