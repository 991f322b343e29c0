"""``strData``: a plain string."""

from __future__ import annotations

from typing import Any

from wharf.protocol.codecs.base import Codec, register
from wharf.protocol.errors import MicroserviceError


@register
class StrDataCodec(Codec):
    kind = "strData"

    @staticmethod
    def from_json(obj: Any, where: str) -> str:
        if not isinstance(obj, str):
            raise MicroserviceError(f"{where}: expected a string, got {type(obj).__name__}")
        return obj

    @staticmethod
    def to_json(value: str) -> str:
        return value

    @staticmethod
    def from_proto(msg: str) -> str:
        return msg

    @staticmethod
    def to_proto(value: Any, parent: Any) -> None:
        parent.strData = value
