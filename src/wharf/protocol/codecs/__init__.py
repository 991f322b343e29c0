"""One module per SeldonMessage payload kind; importing this package registers them all."""

from wharf.protocol.codecs import bindata, jsondata, ndarray, strdata, tensor, tftensor  # noqa: F401
from wharf.protocol.codecs.base import Codec, CodecNotFound, DuplicateCodec, get_codec, register

DATA_KINDS = ("tensor", "ndarray", "tftensor")  # inside "data", in upstream's lookup order
TOP_LEVEL_KINDS = ("jsonData", "strData", "binData")

__all__ = ["Codec", "CodecNotFound", "DuplicateCodec", "get_codec", "register", "DATA_KINDS", "TOP_LEVEL_KINDS"]
