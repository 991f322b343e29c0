"""``binData``: bytes, base64 in JSON."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from wharf.protocol.codecs.base import Codec, register
from wharf.protocol.errors import INTERNAL_ERROR, MicroserviceError, upstream_text


@register
class BinDataCodec(Codec):
    kind = "binData"

    @staticmethod
    def from_json(obj: Any, where: str) -> bytes:
        # Upstream lets base64's error escape: 500 MICROSERVICE_INTERNAL_ERROR with its text.
        try:
            return base64.b64decode(obj)
        except (binascii.Error, TypeError, ValueError) as exc:
            raise MicroserviceError(
                upstream_text(str(exc), f"{where} is not a valid base64 string"), 500, reason=INTERNAL_ERROR
            ) from None

    @staticmethod
    def to_json(value: Any) -> str:
        return base64.b64encode(value).decode("ascii")

    @staticmethod
    def from_proto(msg: bytes) -> bytes:
        return msg

    @staticmethod
    def to_proto(value: Any, parent: Any) -> None:
        parent.binData = bytes(value)
