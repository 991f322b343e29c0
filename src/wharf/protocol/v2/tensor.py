"""V2 tensors as numpy arrays: datatypes, shape checks, raw bytes, and the request/response model.

Transport-free: ``json_codec`` and ``proto_codec`` turn the two wire forms into these types and
back. Every size the client controls (inputs, rank, elements, BYTES lengths) is checked against
``Limits`` before anything of that size is allocated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# V2 datatype -> numpy dtype. Raw bytes are little-endian, as the protocol says; BYTES elements
# are Python ``bytes`` (or ``str`` when the tensor asks for it, see ``STR_CONTENT_TYPE``).
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
_BY_DTYPE = {dt.newbyteorder("="): name for name, dt in DATATYPES.items() if name != "BYTES"}
# MLServer's convention: a BYTES tensor with parameters {"content_type": "str"} holds UTF-8 text.
STR_CONTENT_TYPE = "str"
# The numpy kinds a decoded value may have for each datatype family (no float into an INT, ...).
_ALLOWED_KINDS = {"b": "b", "u": "ui", "i": "ui", "f": "uif"}


class V2Error(Exception):
    """A failure answered as V2's ``{"error": message}`` with ``status`` (HTTP) and its gRPC code."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status

    def to_dict(self) -> dict[str, str]:
        return {"error": self.message}


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may ask for; the body size limit of the transport comes first."""

    max_inputs: int = 128  # tensors in one request (or response)
    max_rank: int = 32  # dimensions of one tensor
    max_elements: int = 1 << 31  # product of one tensor's shape
    max_parameters: int = 128  # entries in one ``parameters`` object


DEFAULT_LIMITS = Limits()


@dataclass
class Tensor:
    """One named tensor. ``data`` has ``shape`` and the numpy dtype of ``datatype``."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class RequestedOutput:
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class InferRequest:
    inputs: list[Tensor]
    outputs: list[RequestedOutput] = field(default_factory=list)
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    model_name: str = ""
    model_version: str = ""


@dataclass
class InferResponse:
    model_name: str
    outputs: list[Tensor]
    model_version: str = ""
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def check_datatype(where: str, datatype: Any) -> str:
    """``datatype`` when it is one of ``DATATYPES``, else a V2Error naming ``where``."""
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise V2Error(f"{where}: datatype {datatype!r} is not one of {', '.join(DATATYPES)}")
    return datatype


def check_shape(where: str, shape: Any, limits: Limits = DEFAULT_LIMITS) -> tuple[tuple[int, ...], int]:
    """``shape`` as a tuple and its element count, checked as ``element_count`` does."""
    count = element_count(where, shape, limits)
    return tuple(shape), count


def element_count(where: str, shape: Any, limits: Limits = DEFAULT_LIMITS) -> int:
    """The product of ``shape`` after checking it is a list of at most ``max_rank`` sizes >= 0."""
    if not isinstance(shape, (list, tuple)) or any(type(d) is not int for d in shape):
        raise V2Error(f"{where}: shape must be a list of integers, got {_short(shape)}")
    if len(shape) > limits.max_rank:
        raise V2Error(f"{where}: shape has {len(shape)} dimensions, more than the limit of {limits.max_rank}")
    count = 1
    for d in shape:
        if d < 0:
            raise V2Error(f"{where}: shape {list(shape)} has a negative dimension")
        count *= d
    if count > limits.max_elements:
        raise V2Error(
            f"{where}: shape {list(shape)} holds {count} elements, more than the limit of {limits.max_elements}"
        )
    return count


def datatype_of(where: str, array: np.ndarray) -> str:
    """The V2 datatype a numpy array is sent as; text and objects are BYTES."""
    kind = array.dtype.kind
    if kind in "USO":
        return "BYTES"
    name = _BY_DTYPE.get(array.dtype.newbyteorder("="))
    if name is None:
        raise V2Error(f"{where}: numpy dtype {array.dtype} has no V2 datatype", 500)
    return name


def tensor_from_numpy(name: str, value: Any, parameters: dict[str, Any] | None = None) -> Tensor:
    """A tensor holding ``value`` (an array, list or scalar), its datatype chosen by its dtype."""
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    datatype = datatype_of(f"output {name!r}", array)
    if datatype == "BYTES" and array.dtype.kind != "O":
        array = array.astype(object)
    return Tensor(name, datatype, tuple(array.shape), array, dict(parameters or {}))


def cast_values(where: str, values: Sequence[Any], datatype: str, shape: Sequence[int]) -> np.ndarray:
    """A flat list of decoded numbers or booleans, checked against ``datatype``, as an array of ``shape``."""
    dtype = DATATYPES[datatype]
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise V2Error(f"{where}: data is not a list of {datatype} values ({exc})") from None
    if array.size and array.dtype.kind not in _ALLOWED_KINDS[dtype.kind]:
        raise V2Error(f"{where}: data holds {_kind_name(array)}, not {datatype} values")
    if array.dtype != dtype:
        if array.size and dtype.kind in "iu":
            info = np.iinfo(dtype)
            if int(array.min()) < info.min or int(array.max()) > info.max:  # only integer kinds get here
                raise V2Error(f"{where}: a value is out of the range of {datatype} [{info.min}, {info.max}]")
        array = array.astype(dtype)
    return array.reshape(shape)


def bytes_array(where: str, values: Iterable[Any], count: int, shape: Sequence[int], as_str: bool) -> np.ndarray:
    """An object array of ``bytes`` (or ``str`` when ``as_str``) from JSON strings or bytes."""
    out = np.empty(count, dtype=object)
    i = 0
    for i, v in enumerate(values):
        if isinstance(v, str):
            out[i] = v if as_str else v.encode()
        elif isinstance(v, (bytes, bytearray)):
            if as_str:
                try:
                    out[i] = bytes(v).decode()
                except UnicodeDecodeError:
                    raise V2Error(f"{where}: element {i} is not UTF-8 text (content_type str)") from None
            else:
                out[i] = bytes(v)
        else:
            raise V2Error(f"{where}: BYTES data must be strings, element {i} is {type(v).__name__}")
    return out.reshape(shape)


def from_raw(
    where: str, datatype: str, shape: Sequence[int], count: int, raw: bytes | memoryview, as_str: bool = False
) -> np.ndarray:
    """A tensor from its raw little-endian bytes (gRPC ``raw_*_contents``, HTTP binary data)."""
    if datatype == "BYTES":
        return bytes_array(where, split_bytes(where, raw, count), count, shape, as_str)
    dtype = DATATYPES[datatype]
    if len(raw) != count * dtype.itemsize:
        raise V2Error(
            f"{where}: shape {list(shape)} of {datatype} needs {count * dtype.itemsize} bytes "
            f"but the raw data has {len(raw)}"
        )
    # A copy: the user's class may change its input in place, and raw points into the request.
    array = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if datatype == "BOOL" and count and int(np.frombuffer(raw, dtype=np.uint8).max()) > 1:
        raise V2Error(f"{where}: BOOL raw data holds a byte other than 0 or 1")
    return array


def split_bytes(where: str, raw: bytes | memoryview, count: int) -> list[bytes]:
    """BYTES elements from their raw form: each a 4-byte little-endian length, then its bytes."""
    size = len(raw)
    if count * 4 > size:
        raise V2Error(
            f"{where}: {count} BYTES elements need at least {count * 4} bytes of length prefixes "
            f"but the raw data has {size}"
        )
    view = memoryview(raw)
    items, pos = [], 0
    for i in range(count):
        if pos + 4 > size:
            raise V2Error(f"{where}: raw BYTES data ends inside the length of element {i}")
        length = int.from_bytes(view[pos : pos + 4], "little")
        pos += 4
        if pos + length > size:
            raise V2Error(f"{where}: raw BYTES element {i} says {length} bytes but only {size - pos} follow")
        items.append(bytes(view[pos : pos + length]))
        pos += length
    if pos != size:
        raise V2Error(f"{where}: raw BYTES data has {size - pos} bytes after its {count} elements")
    return items


def to_raw(where: str, tensor: Tensor) -> bytes:
    """The raw little-endian bytes of a tensor (BYTES: length-prefixed elements)."""
    if tensor.datatype == "BYTES":
        parts = []
        for item in element_bytes(where, tensor.data):
            parts.append(len(item).to_bytes(4, "little"))
            parts.append(item)
        return b"".join(parts)
    return np.ascontiguousarray(tensor.data, dtype=DATATYPES[tensor.datatype]).tobytes()


def element_bytes(where: str, array: np.ndarray) -> list[bytes]:
    """Each element of a BYTES tensor as bytes (text UTF-8 encoded)."""
    out = []
    for i, v in enumerate(array.ravel().tolist()):
        if isinstance(v, bytes):
            out.append(v)
        elif isinstance(v, str):
            out.append(v.encode())
        elif isinstance(v, (bytearray, memoryview)):
            out.append(bytes(v))
        else:
            raise V2Error(f"{where}: BYTES element {i} is {type(v).__name__}, not text or bytes", 500)
    return out


def check_parameters(where: str, parameters: Any, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise V2Error(f"{where}: parameters must be an object, got {_short(parameters)}")
    if len(parameters) > limits.max_parameters:
        raise V2Error(f"{where}: {len(parameters)} parameters, more than the limit of {limits.max_parameters}")
    return parameters


def wants_str(parameters: dict[str, Any]) -> bool:
    return parameters.get("content_type") == STR_CONTENT_TYPE


def _kind_name(array: np.ndarray) -> str:
    return {
        "b": "booleans",
        "i": "integers",
        "u": "integers",
        "f": "floating-point numbers",
        "U": "strings",
        "O": "mixed values",
    }.get(array.dtype.kind, str(array.dtype))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
