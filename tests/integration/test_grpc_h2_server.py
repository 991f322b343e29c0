"""wharf.grpc_h2's server against two independent HTTP/2 implementations: grpcio's client (what
users call us with) and the ``h2`` library (to send the frames grpcio never sends on its own:
tiny flow-control windows, padding, CONTINUATION, PING, a wrong content type)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import grpc
import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
from grpc_h2_support import MAX_RECEIVE, Running

from wharf.grpc_h2 import frames as f


@pytest.fixture()
def running() -> Iterator[Running]:
    r = Running()
    yield r
    r.close()


@pytest.fixture()
def channel(running: Running) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(running.target, options=[("grpc.max_receive_message_length", 16 * 2**20)]) as ch:
        yield ch


def call(channel: grpc.Channel, method: str, data: bytes, **kwargs) -> bytes:
    return channel.unary_unary(f"/t.T/{method}")(data, timeout=10, **kwargs)


def code_of(channel: grpc.Channel, method: str, data: bytes, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(channel, method, data, **kwargs)
    return info.value


# --- through grpcio's client ------------------------------------------------------------------


def test_concurrent_calls_each_get_their_own_answer(channel) -> None:
    echo = channel.unary_unary("/t.T/Echo")
    futures = [echo.future(f"call {i}".encode() * (i + 1), timeout=10) for i in range(200)]
    assert [fut.result() for fut in futures] == [f"call {i}".encode() * (i + 1) for i in range(200)]


def test_an_answer_bigger_than_every_window_arrives_whole(channel) -> None:
    assert call(channel, "Big", b"5000000") == b"x" * 5_000_000


def test_gzip_compressed_request(channel) -> None:
    payload = b"compress me " * 1000
    assert call(channel, "Echo", payload, compression=grpc.Compression.Gzip) == payload


def test_request_over_the_size_limit_is_resource_exhausted_and_the_connection_lives_on(channel) -> None:
    err = code_of(channel, "Echo", b"y" * (MAX_RECEIVE + 1))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"({MAX_RECEIVE + 1} vs. {MAX_RECEIVE})" in err.details()
    assert call(channel, "Echo", b"still here") == b"still here"


def test_a_gzip_message_small_on_the_wire_but_over_the_limit_inflated_is_resource_exhausted(channel) -> None:
    """A gzip bomb from grpcio's own client: well under the size limit compressed, far over it inflated."""
    err = code_of(channel, "Echo", bytes(50 * MAX_RECEIVE), compression=grpc.Compression.Gzip)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"over {MAX_RECEIVE} bytes once decompressed vs. {MAX_RECEIVE}" in err.details()
    assert call(channel, "Echo", b"still here") == b"still here"


def test_handler_status_and_unicode_message_reach_the_client(channel) -> None:
    err = code_of(channel, "Fail", "précondition: 100% ✗".encode())
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.details() == "précondition: 100% ✗"


def test_handler_exception_is_unknown_and_the_server_keeps_serving(channel) -> None:
    err = code_of(channel, "Crash", b"")
    assert err.code() == grpc.StatusCode.UNKNOWN and err.details() == "ValueError: boom"
    assert call(channel, "Echo", b"ok") == b"ok"


def test_unknown_method_is_unimplemented(channel) -> None:
    err = code_of(channel, "Nope", b"")
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED and "/t.T/Nope" in err.details()


def test_metadata_reaches_the_handler_without_transport_headers(channel) -> None:
    seen = json.loads(call(channel, "Meta", b"", metadata=(("x-tenant", "blue"), ("traceparent", "00-ab-cd-01"))))
    assert seen["x-tenant"] == "blue" and seen["traceparent"] == "00-ab-cd-01"
    assert not any(k.startswith(":") or k in ("te", "content-type", "grpc-timeout") for k in seen)


def test_async_handler_and_client_deadline(channel) -> None:
    assert call(channel, "Slow", b"0.05") == b"slept"
    with pytest.raises(grpc.RpcError) as info:
        channel.unary_unary("/t.T/Slow")(b"1.5", timeout=0.2)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(1.5)  # the late answer goes nowhere and breaks nothing
    assert call(channel, "Echo", b"after") == b"after"


def test_one_answer_per_message_stream(channel) -> None:
    upper = channel.stream_stream("/t.T/Upper")
    assert list(upper(iter([b"a", b"bc", b"def"]), timeout=10)) == [b"A", b"BC", b"DEF"]


def test_stop_finishes_calls_in_flight_then_refuses(running, channel) -> None:
    slow = channel.unary_unary("/t.T/Slow").future(b"0.5", timeout=10)
    time.sleep(0.2)  # the call is in the handler
    started = time.monotonic()
    running.run(running.server.stop(5))
    assert slow.result() == b"slept"
    assert time.monotonic() - started < 3
    with pytest.raises(grpc.RpcError) as info:
        call(channel, "Echo", b"late", wait_for_ready=False)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


# --- frame by frame, through the h2 library -------------------------------------------------------


class RawClient:
    def __init__(self, port: int, settings: dict | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.flush()

    def flush(self) -> None:
        self.sock.sendall(self.conn.data_to_send())

    def request(
        self,
        path: str,
        message: bytes,
        content_type: str = "application/grpc",
        extra: list[tuple[str, str]] = (),
        pad: int = 0,
    ) -> int:
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(
            sid,
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", path),
                (":authority", "test"),
                ("content-type", content_type),
                ("te", "trailers"),
                *extra,
            ],
        )
        self.conn.send_data(sid, f.grpc_message(message), end_stream=True, pad_length=pad or None)
        self.flush()
        return sid

    def events(self, until: float = 0.5) -> list[h2.events.Event]:
        """Events until the socket has been quiet for ``until`` seconds."""
        out: list[h2.events.Event] = []
        self.sock.settimeout(until)
        while True:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return out
            if not data:
                return out
            out += self.conn.receive_data(data)
            self.flush()

    def close(self) -> None:
        self.sock.close()


def _data(events, sid: int) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived) and e.stream_id == sid)


def _trailers(events, sid: int) -> dict[str, str]:
    for e in events:
        if isinstance(e, h2.events.TrailersReceived) and e.stream_id == sid:
            return dict(e.headers)
    return {}


def test_answer_waits_for_the_clients_window_update(running) -> None:
    client = RawClient(running.port, {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 100})
    sid = client.request("/t.T/Big", b"1000")
    first = client.events()
    assert len(_data(first, sid)) == 100  # exactly the stream's window, no byte more
    assert not _trailers(first, sid)
    client.conn.increment_flow_control_window(10_000, stream_id=sid)
    client.flush()
    rest = client.events()
    body = _data(first, sid) + _data(rest, sid)
    assert body == f.grpc_message(b"x" * 1000)
    assert _trailers(rest, sid) == {"grpc-status": "0"}
    client.close()


def test_padding_and_header_blocks_split_over_continuation_frames(running) -> None:
    client = RawClient(running.port)
    big = "v" * 40_000  # larger than two 16 KB frames: HEADERS + CONTINUATION + CONTINUATION
    sid = client.request("/t.T/Meta", b"", extra=[("x-big", big)], pad=50)
    events = client.events()
    assert json.loads(f.split_messages(_data(events, sid))[0][0].payload)["x-big"] == big
    assert _trailers(events, sid) == {"grpc-status": "0"}
    client.close()


def test_ping_is_acknowledged(running) -> None:
    client = RawClient(running.port)
    client.conn.ping(b"wharf-01")
    client.flush()
    acks = [e for e in client.events() if isinstance(e, h2.events.PingAckReceived)]
    assert [a.ping_data for a in acks] == [b"wharf-01"]
    client.close()


def test_a_request_that_is_not_grpc_gets_http_415(running) -> None:
    client = RawClient(running.port)
    sid = client.request("/t.T/Echo", b"{}", content_type="application/json")
    statuses = [
        dict(e.headers).get(":status")
        for e in client.events()
        if isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid
    ]
    assert statuses == ["415"]
    client.close()


def test_http1_client_gets_goaway_and_the_connection_closes(running) -> None:
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    kinds = []
    pos = 0
    while pos + 9 <= len(received):
        length = int.from_bytes(received[pos : pos + 3], "big")
        kinds.append((received[pos + 3], received[pos + 9 : pos + 9 + length]))
        pos += 9 + length
    goaways = [payload for kind, payload in kinds if kind == f.GOAWAY]
    assert goaways and int.from_bytes(goaways[0][4:8], "big") == f.PROTOCOL_ERROR
    assert b"HTTP/2" in goaways[0][8:]
