"""Random and mutated byte streams into the gRPC server's HTTP/2 state machine (frame parser, HPACK
decoding, stream bookkeeping), with no socket: whatever arrives, only the protocol's own errors
(``ProtocolError``, which the connection answers with GOAWAY) leave it, and what it holds stays
within its limits. A bounded number of examples, so CI spends a few seconds here."""

from __future__ import annotations

import hpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wharf.grpc_h2 import frames as f
from wharf.grpc_h2.server import GrpcConnection, GrpcServer

HANDLERS = {"/t.T/Echo": lambda data, _: data, "/t.T/Fail": lambda data, _: (_ for _ in ()).throw(ValueError("x"))}


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None: ...


def connection() -> GrpcConnection:
    server = GrpcServer(HANDLERS, {"/t.T/Upper": lambda data: data.upper()}, max_receive_bytes=64 * 1024)
    conn = GrpcConnection(server)
    conn.connection_made(FakeTransport())
    return conn


def feed(conn: GrpcConnection, chunks: list[bytes]) -> None:
    """Feed like data_received does, but let a non-protocol exception through to fail the test."""
    for chunk in chunks:
        conn.out = []
        try:
            conn._receive(chunk)
        except f.ProtocolError:
            return
        conn._flush_out()
        bounded(conn)


def bounded(conn: GrpcConnection) -> None:
    limits = conn.limits
    assert len(conn.buf) < 9 + f.DEFAULT_MAX_FRAME
    if conn.header_block is not None:
        assert conn.header_block_size <= 2 * limits.max_header_list
    assert len(conn.streams) <= limits.max_concurrent_streams
    assert sum(s.held() for s in conn.streams.values()) <= limits.connection_window
    assert len(conn.closed) <= 256


header_names = st.sampled_from(
    [
        ":method",
        ":path",
        ":scheme",
        ":authority",
        ":status",
        ":bogus",
        "content-type",
        "te",
        "grpc-encoding",
        "content-length",
        "connection",
        "X-Upper",
        "x-meta",
        "",
    ]
)
header_values = st.sampled_from(
    [
        "POST",
        "GET",
        "/t.T/Echo",
        "/t.T/Upper",
        "/t.T/Fail",
        "/",
        "",
        "http",
        "application/grpc",
        "trailers",
        "gzip",
        "5",
        "12",
        "x" * 300,
    ]
)


@st.composite
def header_block(draw) -> bytes:
    fields = draw(st.lists(st.tuples(header_names, header_values), max_size=8))
    if draw(st.booleans()):  # most blocks start as a real request would
        fields = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", draw(header_values)),
            ("content-type", "application/grpc"),
        ] + fields
    try:
        return hpack.Encoder().encode(fields, huffman=draw(st.booleans()))
    except Exception:  # noqa: BLE001 - names the encoder refuses: send random bytes instead
        return draw(st.binary(max_size=40))


@st.composite
def a_frame(draw) -> bytes:
    kind = draw(st.integers(0, 11))
    flags = draw(
        st.sampled_from(
            [
                0,
                f.END_STREAM,
                f.END_HEADERS,
                f.END_HEADERS | f.END_STREAM,
                f.PADDED | f.END_HEADERS,
                f.PRIORITY_FLAG | f.END_HEADERS,
                0xFF,
            ]
        )
    )
    stream = draw(st.sampled_from([0, 1, 2, 3, 5, 7, 2**31 - 1]))
    if kind in (f.HEADERS, f.CONTINUATION):
        payload = draw(header_block())
    elif kind == f.DATA:
        payload = draw(
            st.sampled_from([f.grpc_message(b"hi"), b"\x00\x00\x01\x00\x00", b"", b"\x01\x00\x00\x00\x02xx"])
        )
    elif kind == f.WINDOW_UPDATE:
        payload = draw(st.integers(0, 2**32 - 1)).to_bytes(4, "big")
    elif kind == f.SETTINGS:
        payload = b"".join(
            k.to_bytes(2, "big") + v.to_bytes(4, "big")
            for k, v in draw(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 2**32 - 1)), max_size=4))
        )
    else:
        payload = draw(st.binary(max_size=12))
    return f.frame(kind, flags, stream, payload)


@st.composite
def byte_stream(draw) -> list[bytes]:
    data = f.PREFACE + b"".join(draw(st.lists(a_frame(), max_size=12)))
    if draw(st.booleans()):  # mutate: flip bytes, cut, insert junk
        data = bytearray(data)
        for _ in range(draw(st.integers(1, 6))):
            pos = draw(st.integers(len(f.PREFACE), max(len(f.PREFACE), len(data) - 1)))
            if pos < len(data):
                data[pos] = draw(st.integers(0, 255))
        data = bytes(data)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=4)))  # arrives in arbitrary pieces
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(byte_stream())
def test_any_byte_stream_costs_at_most_a_protocol_error(chunks: list[bytes]) -> None:
    feed(connection(), chunks)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=200), max_size=5))
def test_random_bytes_after_the_preface(chunks: list[bytes]) -> None:
    feed(connection(), [f.PREFACE, *chunks])
