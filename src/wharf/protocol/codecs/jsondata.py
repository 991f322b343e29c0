"""``jsonData``: any JSON value (a ``google.protobuf.Value`` on gRPC, so numbers are doubles)."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from wharf.protocol.codecs.base import Codec, register


@register
class JsonDataCodec(Codec):
    kind = "jsonData"

    @staticmethod
    def from_json(obj: Any, where: str) -> Any:
        return obj

    @staticmethod
    def to_json(value: Any) -> Any:
        return value

    @staticmethod
    def from_proto(msg: Any) -> Any:
        return json_format.MessageToDict(msg)

    @staticmethod
    def to_proto(value: Any, parent: Any) -> None:
        json_format.ParseDict(value, parent.jsonData)
