"""HTTP/2 frames (RFC 9113) and gRPC's message framing, as bytes in and bytes out. No I/O.

Only what a gRPC server needs: frame headers, SETTINGS, the header blocks of a gRPC answer, and
the 5-byte length prefix of each gRPC message. Our answers' header blocks never touch the HPACK
dynamic table (static-table index or literal "without indexing"), so they are constant bytes and
no encoder state has to be kept per connection.
"""

from __future__ import annotations

import struct
import urllib.parse
import zlib
from typing import NamedTuple

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# frame types
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)

# flags
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# SETTINGS identifiers
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = (
    range(1, 7)
)

# error codes (GOAWAY, RST_STREAM)
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = 0x5, 0x6, 0x7, 0x8, 0x9
ENHANCE_YOUR_CALM = 0xB

DEFAULT_WINDOW = 65_535
DEFAULT_MAX_FRAME = 16_384
MAX_WINDOW = 2**31 - 1

_HEAD = struct.Struct(">HBBBI")  # 24-bit length as 16 + 8 bits, type, flags, stream id


class StreamError(Exception):
    """A stream error (RFC 9113 5.4.2): answered with RST_STREAM carrying ``code``; the connection lives on."""

    def __init__(self, stream_id: int, message: str, code: int = PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.stream_id = stream_id
        self.code = code


class GrpcError(Exception):
    """A call's outcome other than OK: a gRPC status code and its message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ProtocolError(Exception):
    """A connection error: answered with GOAWAY carrying ``code``, then the connection closes."""

    def __init__(self, message: str, code: int = PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.code = code


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return _HEAD.pack(n >> 8, n & 0xFF, kind, flags, stream_id) + payload


def settings_frame(values: dict[int, int]) -> bytes:
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in values.items()))


def parse_settings(payload: bytes) -> dict[int, int]:
    if len(payload) % 6:
        raise ProtocolError(f"SETTINGS payload of {len(payload)} bytes is not a multiple of 6", FRAME_SIZE_ERROR)
    return {k: v for k, v in struct.iter_unpack(">HI", payload)}


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, increment.to_bytes(4, "big"))


def goaway(last_stream_id: int, code: int, debug: str = "") -> bytes:
    return frame(GOAWAY, 0, 0, struct.pack(">II", last_stream_id, code) + debug.encode()[:200])


def rst_stream(stream_id: int, code: int) -> bytes:
    return frame(RST_STREAM, 0, stream_id, code.to_bytes(4, "big"))


def strip_padding(flags: int, payload: bytes) -> bytes:
    if not flags & PADDED:
        return payload
    if not payload or payload[0] >= len(payload):
        raise ProtocolError("padding longer than the frame")
    return payload[1 : len(payload) - payload[0]]


# --- HPACK, encoding side: integers and literals that never enter the dynamic table ----------


def hpack_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """RFC 7541 5.1: ``value`` with an N-bit prefix; ``first`` holds the bits above the prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _literal(name: bytes, value: bytes) -> bytes:
    """Literal header field without indexing, new name (RFC 7541 6.2.2), no Huffman coding."""
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def _literal_indexed_name(index: int, value: bytes) -> bytes:
    return hpack_int(index, 4) + hpack_int(len(value), 7) + value


_STATUS_200 = b"\x88"  # static table entry 8
_CONTENT_TYPE = 31  # static table entry "content-type"
RESPONSE_HEADERS = _STATUS_200 + _literal_indexed_name(_CONTENT_TYPE, b"application/grpc")
TRAILERS_OK = _literal(b"grpc-status", b"0")


def trailers(code: int, message: str = "") -> bytes:
    block = _literal(b"grpc-status", str(code).encode())
    if message:
        block += _literal(b"grpc-message", percent_encode(message))
    return block


def http_error_headers(status: int) -> bytes:
    """A non-gRPC answer (e.g. 415 for a request that is not gRPC), as gRPC's HTTP mapping has it."""
    return _literal(b":status", str(status).encode()) + _literal_indexed_name(_CONTENT_TYPE, b"text/plain")


# Header fields that only HTTP/1.1 uses: a request carrying one is malformed in HTTP/2.
_CONNECTION_SPECIFIC = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"})
_REQUEST_PSEUDO = frozenset({":method", ":scheme", ":path", ":authority"})


def request_header_problem(headers: list[tuple[str, str]], trailers: bool = False) -> str | None:
    """Why a request's header block is malformed (RFC 9113 8.1/8.2), or None when it is not.

    Checked: lowercase names, only the four request pseudo-header fields, each once and before any
    other field, the three a request needs present (:path not empty), no HTTP/1.1 connection
    fields, ``te`` only as "trailers"; trailers carry no pseudo-header field at all.
    """
    seen: set[str] = set()
    regular = False
    for name, value in headers:
        if not name:
            return "an empty header field name"
        if name[0] == ":":
            if trailers:
                return f"pseudo-header field {name} in trailers"
            if regular:
                return f"pseudo-header field {name} after a regular field"
            if name not in _REQUEST_PSEUDO:
                return f"pseudo-header field {name} is not one a request has"
            if name in seen:
                return f"pseudo-header field {name} twice"
            seen.add(name)
            if name == ":path" and not value:
                return "an empty :path"
            continue
        regular = True
        if name != name.lower():
            return f"header field name {name!r} is not lowercase"
        if name in _CONNECTION_SPECIFIC:
            return f"connection-specific header field {name}"
        if name == "te" and value != "trailers":
            return f'te: {value!r} (only "trailers" is allowed)'
    if not trailers:
        for needed in (":method", ":scheme", ":path"):
            if needed not in seen:
                return f"no {needed} pseudo-header field"
    return None


def percent_encode(message: str) -> bytes:
    """grpc-message encoding: printable ASCII except '%' as is, every other byte as %XX."""
    raw = message.encode("utf-8", "replace")
    if all(0x20 <= b <= 0x7E and b != 0x25 for b in raw):
        return raw
    return b"".join(bytes([b]) if 0x20 <= b <= 0x7E and b != 0x25 else b"%%%02X" % b for b in raw)


# --- gRPC messages: 1 byte compressed flag, 4 bytes big-endian length, the message ------------


def grpc_message(payload: bytes) -> bytes:
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


class Message(NamedTuple):
    compressed: bool
    payload: bytes


def split_messages(buffer: bytes) -> tuple[list[Message], bytes]:
    """Complete messages at the start of ``buffer`` and the bytes left over."""
    out: list[Message] = []
    pos, n = 0, len(buffer)
    while n - pos >= 5:
        length = int.from_bytes(buffer[pos + 1 : pos + 5], "big")
        if n - pos - 5 < length:
            break
        out.append(Message(buffer[pos] == 1, buffer[pos + 5 : pos + 5 + length]))
        pos += 5 + length
    return out, buffer[pos:]


def only_message(buffer: bytes, what: str) -> Message:
    """The one message a unary request or answer must be; INTERNAL if ``buffer`` holds another count."""
    messages, rest = split_messages(buffer)
    if len(messages) != 1 or rest:
        got = "an incomplete message" if rest else f"{len(messages)} messages"
        raise GrpcError(13, f"{what}: expected exactly one message, got {got}")
    return messages[0]


def pending_message_size(buffer: bytes) -> int | None:
    """The declared size of the message that ``buffer`` starts, once its prefix has arrived."""
    return int.from_bytes(buffer[1:5], "big") if len(buffer) >= 5 else None


def message_payload(message: Message, encoding: str, limit: int | None = None) -> bytes:
    """The message's bytes, decompressed as its stream's grpc-encoding says.

    ``limit`` bounds the *decompressed* size (RESOURCE_EXHAUSTED past it, as grpcio answers): a few
    hundred KB of gzip can expand to gigabytes, so the size limit on the wire is not enough. The
    decompressor stops one byte past the limit; nothing larger is ever held.
    """
    if not message.compressed:
        return message.payload
    if encoding not in ("gzip", "deflate"):
        # UNIMPLEMENTED for an encoding we do not know; INTERNAL for a compressed flag without one
        raise GrpcError(
            12 if encoding != "identity" else 13, f"compressed message with grpc-encoding {encoding!r}: not supported"
        )
    # gRPC's "deflate" is the zlib format (RFC 1950); 16 + MAX_WBITS reads a gzip member
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(message.payload, 0 if limit is None else limit + 1)
    except zlib.error as exc:
        raise GrpcError(13, f"cannot decompress the {encoding} message: {exc}") from None
    if limit is not None and len(out) > limit:
        raise GrpcError(8, f"Received message larger than max (over {limit} bytes once decompressed vs. {limit})")
    if not inflater.eof:
        raise GrpcError(13, f"cannot decompress the {encoding} message: it ends before its compressed stream does")
    return out


def percent_decode(value: str) -> str:
    return urllib.parse.unquote(value, errors="replace") if "%" in value else value


# --- the client's side: request header blocks and statuses without grpc-status --------------

_TE_TRAILERS = _literal(b"te", b"trailers")
_GRPC_CONTENT_TYPE = _literal_indexed_name(_CONTENT_TYPE, b"application/grpc")


def request_headers(
    path: str, authority: str, timeout_s: float | None = None, metadata: tuple[tuple[str, str], ...] = ()
) -> bytes:
    """POST ``path`` over http with gRPC's headers: static entries 3 (:method POST) and 6
    (:scheme http), the rest literals without indexing, so no encoder state is kept."""
    block = (
        b"\x83\x86"
        + _literal_indexed_name(4, path.encode())
        + _literal_indexed_name(1, authority.encode())
        + _GRPC_CONTENT_TYPE
        + _TE_TRAILERS
    )
    if timeout_s is not None:
        block += _literal(b"grpc-timeout", grpc_timeout(timeout_s))
    for name, value in metadata:
        block += _literal(name.lower().encode(), value.encode())
    return block


def grpc_timeout(seconds: float) -> bytes:
    """The grpc-timeout value: at most 8 digits and a unit."""
    millis = max(1, round(seconds * 1000))
    return b"%dm" % millis if millis < 10**8 else b"%dS" % min(round(seconds), 10**8 - 1)


# gRPC's mapping for an answer that has an HTTP status but no grpc-status (doc/http-grpc-status-mapping)
_CODE_BY_HTTP = {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}


def grpc_code_for_http(status: int) -> int:
    return _CODE_BY_HTTP.get(status, 2)
