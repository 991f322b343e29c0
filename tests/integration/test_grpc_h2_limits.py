"""What one HTTP/2 client may cost the gRPC server, probed over raw sockets against a real component
server process (default settings): each limit is crossed, the peer sees the code Go's x/net/http2
and nghttp2 give in the same case, the server's memory stays flat and it keeps serving.

The probes live in ``h2_probes`` (the note's figures use them too)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import grpc
import h2.config
import h2.connection
import h2.events
import h2_probes as p
import pytest
from support import Server, wait_until

from wharf.grpc_h2 import frames as f
from wharf.local.process import free_port

GROWTH_KIB = 40 * 1024  # generous: before these limits, each probe grew the server by 190 MB to GBs


@pytest.fixture(scope="module")
def server(serve_module) -> Server:
    return serve_module("FullModel", workers=1)


def worker_of(server: Server) -> int:
    workers = server.workers()
    return workers[0] if workers else server.pid


def still_serves(server: Server) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        answer = channel.unary_unary("/seldon.protos.Model/Metadata")(b"", timeout=10)
    assert answer is not None


def grows_by(pid: int, probe) -> tuple[p.Answer, int]:
    before = p.rss_kib(pid)
    answer = probe()
    time.sleep(0.3)
    return answer, p.rss_kib(pid) - before


def test_endless_continuation_frames_end_the_connection_with_protocol_error(server: Server) -> None:
    pid = worker_of(server)
    answer, growth = grows_by(pid, lambda: p.continuation_flood(server.grpc_port))
    assert answer.closed and answer.goaway_code() == f.PROTOCOL_ERROR
    assert answer.sent_before_goaway < 32 * p.MIB, "the server kept reading CONTINUATION frames"
    assert growth < GROWTH_KIB
    still_serves(server)


def test_a_header_list_over_the_limit_ends_the_connection_with_protocol_error(server: Server) -> None:
    answer, growth = grows_by(worker_of(server), lambda: p.huge_header(server.grpc_port))
    assert answer.closed and answer.goaway_code() == f.PROTOCOL_ERROR
    assert growth < GROWTH_KIB
    still_serves(server)


@pytest.mark.parametrize("kind", ["ping", "settings", "empty-data", "rapid-reset"])
def test_control_frame_floods_get_goaway_enhance_your_calm(server: Server, kind: str) -> None:
    answer, growth = grows_by(worker_of(server), lambda: p.control_flood(server.grpc_port, kind))
    assert answer.closed and answer.goaway_code() == f.ENHANCE_YOUR_CALM, (kind, answer.goaway_code())
    assert answer.sent_before_goaway < 32 * p.MIB  # of 64 MiB; what the sockets' buffers hold, at most
    assert growth < GROWTH_KIB
    still_serves(server)


def test_max_concurrent_streams_is_advertised_and_the_stream_past_it_refused(server: Server) -> None:
    answer = p.open_streams(server.grpc_port, 101)
    settings = answer.settings()
    assert settings[f.MAX_CONCURRENT_STREAMS] == 100
    assert settings[f.INITIAL_WINDOW_SIZE] == 1 << 20  # not 2^31-1: a stream cannot buffer without bound
    assert answer.resets() == {201: f.REFUSED_STREAM}
    assert not answer.closed


def test_unfinished_messages_cannot_buffer_more_than_the_connection_window(server: Server) -> None:
    # 50 x 4 MiB sent without waiting for credit: the connection window (16 MiB) ends it
    answer, growth = grows_by(worker_of(server), lambda: p.unfinished_messages(server.grpc_port))
    assert answer.closed and answer.goaway_code() == f.FLOW_CONTROL_ERROR
    assert answer.sent_before_goaway < 20 * p.MIB
    assert growth < GROWTH_KIB
    still_serves(server)


SERVE_WITHOUT_FLOOD_LIMIT = """
import asyncio, sys
sys.path.insert(0, sys.argv[2])
from grpc_h2_support import HANDLERS
from wharf.grpc_h2.connection import Limits
from wharf.grpc_h2.server import GrpcServer

async def main():
    server = GrpcServer(HANDLERS, limits=Limits(max_control_frames=10**9))
    await server.start("127.0.0.1", int(sys.argv[1]), reuse_port=False)
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_a_client_that_never_reads_is_not_read_from_either(tmp_path) -> None:
    """PINGs within any rate limit, from a client that never reads their ACKs: the server stops
    reading once its output waits (asyncio's pause_writing), so the ACKs cannot pile up."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE_WITHOUT_FLOOD_LIMIT, str(port), str(p.Path(__file__).parent)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        before = p.rss_kib(proc.pid)
        probe = p.Probe(port, read=False)
        probe.sock.settimeout(3)  # sendall times out once the server stops reading
        probe.flood(f.frame(f.PING, 0, 0, b"12345678"), 256 * p.MIB)
        wait_until(lambda: True, 1, "")
        growth = p.rss_kib(proc.pid) - before
        probe.finish(wait=0)
        assert probe.answer.sent < 64 * p.MIB, "the server read everything a non-reading client sent"
        assert growth < GROWTH_KIB
    finally:
        proc.kill()
        proc.wait(10)


def test_a_client_within_flow_control_whose_unfinished_messages_fill_the_window_gets_resource_exhausted(
    server: Server,
) -> None:
    """Five 4 MB messages, each sent but for its last 512 KiB, as fast as flow control allows: they
    fill the 16 MiB the connection may hold, so none could ever finish. The one holding the most is
    answered RESOURCE_EXHAUSTED, which frees room: the client is not stuck waiting forever."""
    sock = socket.create_connection(("127.0.0.1", server.grpc_port), timeout=10)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    size, unsent = 4_000_000, 512 * 1024
    remaining: dict[int, int] = {}
    for _ in range(5):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(
            sid,
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", p.PREDICT),
                (":authority", "t"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
            ],
        )
        conn.send_data(sid, b"\x00" + size.to_bytes(4, "big"))
        remaining[sid] = size - unsent
    sock.sendall(conn.data_to_send())
    statuses: dict[int, dict[str, str]] = {}
    deadline = time.monotonic() + 20
    sock.settimeout(0.2)
    while not statuses and time.monotonic() < deadline:
        for sid, left in remaining.items():
            room = min(left, conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
            while room > 0:
                conn.send_data(sid, b"\x00" * room)
                remaining[sid] = left = left - room
                room = min(left, conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
        sock.sendall(conn.data_to_send())
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.TrailersReceived):
                statuses[event.stream_id] = dict(event.headers)
            elif isinstance(event, h2.events.ResponseReceived) and "grpc-status" in dict(event.headers):
                statuses[event.stream_id] = dict(event.headers)
        sock.sendall(conn.data_to_send())
    sock.close()
    assert len(statuses) == 1, statuses
    (status,) = statuses.values()
    assert status["grpc-status"] == "8" and "receive window" in status["grpc-message"]
    assert sum(remaining.values()) < 5 * (size - unsent) - 15 * p.MIB  # the window was really filled
    still_serves(server)
