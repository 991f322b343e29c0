"""The gRPC server's byte-level pieces, checked against the ``hpack`` and ``h2`` libraries."""

from __future__ import annotations

import urllib.parse

import hpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wharf.grpc_h2 import frames as f


def decode(block: bytes) -> list[tuple[str, str]]:
    return hpack.Decoder().decode(block)


def test_answer_header_blocks_decode_to_what_grpc_clients_expect() -> None:
    assert decode(f.RESPONSE_HEADERS) == [(":status", "200"), ("content-type", "application/grpc")]
    assert decode(f.TRAILERS_OK) == [("grpc-status", "0")]
    assert decode(f.RESPONSE_HEADERS + f.trailers(12, "Method not found: /x/Y")) == [
        (":status", "200"),
        ("content-type", "application/grpc"),
        ("grpc-status", "12"),
        ("grpc-message", "Method not found: /x/Y"),
    ]


def test_answer_header_blocks_leave_the_peers_table_empty() -> None:
    decoder = hpack.Decoder()
    decoder.decode(f.RESPONSE_HEADERS + f.trailers(3, "x" * 300))
    assert len(decoder.header_table.dynamic_entries) == 0


@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=8))
def test_hpack_int_decodes_with_the_reference_decoder(value: int, prefix: int) -> None:
    from hpack.hpack import decode_integer

    assert decode_integer(f.hpack_int(value, prefix), prefix) == (value, len(f.hpack_int(value, prefix)))


@given(st.text(max_size=200))
def test_grpc_message_is_percent_encoded_and_round_trips(message: str) -> None:
    encoded = f.percent_encode(message)
    assert all(0x20 <= b <= 0x7E for b in encoded)
    # grpc-message is percent-encoded UTF-8 (lone surrogates become '?', as on any UTF-8 wire)
    expected = message.encode("utf-8", "replace").decode("utf-8")
    assert urllib.parse.unquote(encoded.decode("ascii"), errors="strict") == expected


def test_percent_encoding_leaves_plain_text_alone_and_escapes_percent() -> None:
    assert f.percent_encode("no data in request") == b"no data in request"
    assert f.percent_encode("100% ✗") == b"100%25 %E2%9C%97"


@given(st.lists(st.binary(max_size=300), max_size=5), st.integers(min_value=0, max_value=6))
def test_split_messages_returns_whole_messages_and_keeps_the_rest(payloads: list[bytes], cut: int) -> None:
    wire = b"".join(f.grpc_message(p) for p in payloads)
    extra = f.grpc_message(b"partial message")[:cut]
    messages, rest = f.split_messages(wire + extra)
    assert [m.payload for m in messages] == payloads
    assert not any(m.compressed for m in messages)
    assert rest == extra


def test_frame_header_layout() -> None:
    raw = f.frame(f.HEADERS, f.END_HEADERS | f.END_STREAM, 7, b"x" * 70_000)
    assert int.from_bytes(raw[:3], "big") == 70_000
    assert raw[3] == f.HEADERS and raw[4] == 0x5 and int.from_bytes(raw[5:9], "big") == 7


def test_settings_round_trip_and_bad_length() -> None:
    payload = f.settings_frame({f.INITIAL_WINDOW_SIZE: 1000, f.MAX_FRAME_SIZE: 20_000})[9:]
    assert f.parse_settings(payload) == {f.INITIAL_WINDOW_SIZE: 1000, f.MAX_FRAME_SIZE: 20_000}
    with pytest.raises(f.ProtocolError, match="multiple of 6"):
        f.parse_settings(payload[:-1])


def test_padding_is_stripped_and_bad_padding_refused() -> None:
    assert f.strip_padding(f.PADDED, b"\x03abc\x00\x00\x00") == b"abc"
    assert f.strip_padding(0, b"\x03abc") == b"\x03abc"
    with pytest.raises(f.ProtocolError, match="padding"):
        f.strip_padding(f.PADDED, b"\x09abc")


def test_request_header_block_decodes_to_a_grpc_request() -> None:
    block = f.request_headers("/seldon.protos.Model/Predict", "node:5000", 2.5, (("X-Tenant", "blue"),))
    assert decode(block) == [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/seldon.protos.Model/Predict"),
        (":authority", "node:5000"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("grpc-timeout", "2500m"),
        ("x-tenant", "blue"),
    ]


@pytest.mark.parametrize(
    ("seconds", "value"), [(0.0001, b"1m"), (1.5, b"1500m"), (99_999.999, b"99999999m"), (10**6, b"1000000S")]
)
def test_grpc_timeout_fits_eight_digits(seconds: float, value: bytes) -> None:
    assert f.grpc_timeout(seconds) == value


def test_compressed_messages_are_inflated_or_refused() -> None:
    import gzip

    assert f.message_payload(f.Message(True, gzip.compress(b"abc")), "gzip") == b"abc"
    with pytest.raises(f.GrpcError) as err:
        f.message_payload(f.Message(True, b"??"), "snappy")
    assert err.value.code == 12 and "snappy" in err.value.message
    assert f.percent_decode("100%25 %E2%9C%97") == "100% ✗"
    import zlib

    assert f.message_payload(f.Message(True, zlib.compress(b"abc")), "deflate") == b"abc"
    for broken in (b"not gzip", gzip.compress(b"abc" * 100)[:-12]):  # garbage; a stream cut short
        with pytest.raises(f.GrpcError) as err:
            f.message_payload(f.Message(True, broken), "gzip")
        assert err.value.code == 13 and "cannot decompress the gzip message" in err.value.message


def _zeros_gzip(size: int) -> bytes:
    """``size`` zero bytes, gzip-compressed without ever holding them: a decompression bomb."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    return b"".join(packer.compress(chunk) for _ in range(size >> 20)) + packer.flush()


def test_a_decompression_bomb_stops_at_the_limit_without_inflating() -> None:
    """300 MiB of zeros in ~300 KB of gzip: RESOURCE_EXHAUSTED, and never more than the limit in memory."""
    import tracemalloc

    bomb = f.Message(True, _zeros_gzip(300 << 20))
    assert len(bomb.payload) < 400_000
    tracemalloc.start()
    try:
        with pytest.raises(f.GrpcError) as err:
            f.message_payload(bomb, "gzip", limit=4 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.code == 8 and f"over {4 << 20} bytes once decompressed" in err.value.message
    assert peak < 12 << 20, f"peak {peak >> 20} MiB while refusing a bomb"
    # at the limit exactly, the message is whole
    exact = f.Message(True, _zeros_gzip(4 << 20))
    assert f.message_payload(exact, "gzip", limit=4 << 20) == bytes(4 << 20)


def test_remembered_header_blocks_follow_the_peers_table() -> None:
    """The same indexed bytes mean other headers once the peer's table changed: never a stale answer."""
    from wharf.grpc_h2.connection import H2Endpoint

    peer, ours = hpack.Encoder(), H2Endpoint()
    assert ours._decode(peer.encode([("x-a", "1")], huffman=False)) == [("x-a", "1")]
    indexed = peer.encode([("x-a", "1")])  # now a one-byte reference to dynamic entry 62
    assert len(indexed) == 1
    assert ours._decode(indexed) == [("x-a", "1")]
    assert ours.decoded == {indexed: [("x-a", "1")]}  # remembered: the table did not change
    ours._decode(peer.encode([("x-b", "2")]))  # entry 62 is now x-b: 2
    assert ours.decoded == {}
    assert ours._decode(indexed) == [("x-b", "2")]


def test_only_message_takes_exactly_one() -> None:
    assert f.only_message(f.grpc_message(b"abc"), "x").payload == b"abc"
    for wire, got in (
        (b"", "0 messages"),
        (f.grpc_message(b"a") * 2, "2 messages"),
        (f.grpc_message(b"abc")[:-1], "an incomplete message"),
    ):
        with pytest.raises(f.GrpcError) as err:
            f.only_message(wire, "the request")
        assert err.value.code == 13 and err.value.message == f"the request: expected exactly one message, got {got}"
