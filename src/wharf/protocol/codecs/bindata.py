"""``binData``: bytes, base64 in JSON."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from wharf.protocol.codecs.base import Codec, register
from wharf.protocol.errors import MicroserviceError


@register
class BinDataCodec(Codec):
    kind = "binData"

    @staticmethod
    def from_json(obj: Any, where: str) -> bytes:
        if not isinstance(obj, str):
            raise MicroserviceError(f"{where}: expected a base64 string, got {type(obj).__name__}")
        try:
            return base64.b64decode(obj)
        except binascii.Error as exc:
            raise MicroserviceError(f"{where}: not valid base64: {exc}") from None

    @staticmethod
    def to_json(value: Any) -> str:
        return base64.b64encode(value).decode("ascii")

    @staticmethod
    def from_proto(msg: Any) -> bytes:
        return msg

    @staticmethod
    def to_proto(value: Any, parent: Any) -> None:
        parent.binData = bytes(value)
