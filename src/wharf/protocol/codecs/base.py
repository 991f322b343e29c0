"""The codec interface and its registry.

A codec turns one payload kind (``ndarray``, ``tensor``, ``strData``...) into the Python value a
user method receives, and a returned value back into that kind, for both JSON and protobuf.
Only the directions the servers use exist; there are no do-nothing stubs.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CodecNotFound(LookupError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"no codec for payload kind {kind!r}; known: {', '.join(sorted(_REGISTRY))}")
        self.kind = kind


class DuplicateCodec(ValueError):
    pass


class Codec:
    """Base of all codecs. ``kind`` is the JSON key and the protobuf field name."""

    kind: ClassVar[str]

    @staticmethod
    def from_json(obj: Any, where: str) -> Any:
        raise NotImplementedError

    @staticmethod
    def to_json(value: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def from_proto(msg: Any) -> Any:
        """``msg`` is the field's value (``DefaultData.tensor``, ``SeldonMessage.strData``...)."""
        raise NotImplementedError

    @staticmethod
    def to_proto(value: Any, parent: Any) -> None:
        """Set this kind's field on ``parent`` (a ``DefaultData`` or ``SeldonMessage``)."""
        raise NotImplementedError


_REGISTRY: dict[str, type[Codec]] = {}


def register(cls: type[Codec]) -> type[Codec]:
    """Class decorator: file the codec under its ``kind``; a second codec for a kind is a bug."""
    if cls.kind in _REGISTRY:
        raise DuplicateCodec(f"payload kind {cls.kind!r} already has codec {_REGISTRY[cls.kind].__qualname__}")
    _REGISTRY[cls.kind] = cls
    return cls


def get_codec(kind: str) -> type[Codec]:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise CodecNotFound(kind) from None
