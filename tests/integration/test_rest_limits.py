"""What one REST client may cost a server, over raw sockets to real server processes: the body's
size (413), the time to send a request (408, or a silent close before any byte), connections per
worker (503), and answers in order when a valid request is followed by a refused one.

The component server runs with its defaults (``wharf.http_server.limits``); the orchestrator, which
shares the same HTTP protocol, runs with small limits set through its environment, so the tests
that cross a time or connection limit are quick.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support import Server, wait_until
from test_http_wire import ND, Reader, request

from wharf.http_server.limits import HttpLimits
from wharf.local.process import free_port

LIMIT = HttpLimits().max_body_bytes
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(serve_module) -> Server:
    return serve_module("FullModel", workers=1)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def connect(port: int, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def send_and_read(port: int, head: bytes, body_chunks=(), timeout: float = 20) -> bytes:
    """Send ``head``, then the body from a thread (as a client that does not wait for an answer),
    and read everything until the server closes. A reset after the answer is the client's problem."""
    with connect(port, timeout) as sock:
        sock.sendall(head)

        def pump() -> None:
            try:
                for chunk in body_chunks:
                    sock.sendall(chunk)
            except OSError:  # the server closed: it has answered
                pass

        sender = threading.Thread(target=pump, daemon=True)
        sender.start()
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
        sender.join(10)
    return data


def status_of(data: bytes) -> int:
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    return int(data.split(b" ", 2)[1])


def json_body(data: bytes) -> dict:
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


# --- body size: 413, refused before it is read, memory kept flat --------------------------------


def test_a_declared_body_over_the_limit_is_413_at_once_and_costs_no_memory(server: Server) -> None:
    worker = server.workers()[0]
    before = rss_mib(worker)
    size = 50 * MIB
    head = (
        f"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    data = send_and_read(server.http_port, head, (b"x" * MIB for _ in range(size // MIB)))
    assert status_of(data) == 413 and b"connection: close" in data.lower()
    status = json_body(data)["status"]
    assert status["reason"] == "MICROSERVICE_BAD_DATA" and status["code"] == -1
    assert status["info"] == f"Content-Length {size} exceeds the limit of {LIMIT} bytes"
    assert time.monotonic() - started < 5
    assert rss_mib(worker) - before < 10, "the refused body was buffered"
    assert server.get("/health/ping").text == "pong"


def test_a_chunked_body_is_cut_at_the_limit_with_413_and_memory_is_given_back(server: Server) -> None:
    worker = server.workers()[0]
    before = rss_mib(worker)
    chunk = b"%x\r\n%s\r\n" % (MIB, b"y" * MIB)
    head = b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    data = send_and_read(server.http_port, head, (chunk for _ in range(LIMIT // MIB + 20)))
    assert status_of(data) == 413
    assert json_body(data)["status"]["info"] == f"the body exceeds the limit of {LIMIT} bytes"
    # at most the limit was held while reading, and given back (today's main kept 150 MiB of 50)
    assert rss_mib(worker) - before < 24
    assert server.predict({"data": {"ndarray": [[1, 2]]}}).json()["data"]["ndarray"] == [[2, 4]]


def test_expect_100_continue_with_a_body_over_the_limit_gets_413_and_no_100(server: Server) -> None:
    with connect(server.http_port) as sock:
        sock.sendall(request("POST", "/predict", headers={"Content-Length": str(LIMIT + 1), "Expect": "100-continue"}))
        status, headers, _ = Reader(sock).response()
    assert status == 413 and headers["connection"] == "close"


# --- pipelining: each request its answer, in order, refused ones included -----------------------


def test_a_valid_request_followed_by_junk_in_one_packet_gets_200_then_400(server: Server) -> None:
    with connect(server.http_port) as sock:
        sock.sendall(
            request("POST", "/predict", ND, {"Content-Type": "application/json"}) + b"GARBAGE \x00\x01\r\n\r\n"
        )
        reader = Reader(sock)
        status, _, body = reader.response()
        assert status == 200 and json.loads(body)["data"]["ndarray"] == [[2, 4]]
        status, headers, _ = reader.response()
        assert status == 400 and headers["connection"] == "close"
        assert reader.closed()


def test_pipelined_requests_before_an_oversized_one_are_answered_first(server: Server) -> None:
    with connect(server.http_port) as sock:
        sock.sendall(
            request("GET", "/health/ping")
            + request("POST", "/predict", ND, {"Content-Type": "application/json"})
            + request("POST", "/predict", headers={"Content-Length": str(LIMIT + 1)})
        )
        reader = Reader(sock)
        assert reader.response()[2] == b"pong"
        assert reader.response()[0] == 200
        assert reader.response()[0] == 413
        assert reader.closed()


# --- the same protocol in the orchestrator, with small limits from the environment -----------------

READ_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def orchestrator(tmp_path_factory: pytest.TempPathFactory):
    """An orchestrator whose one node is not running: refusals happen before the graph is walked."""
    http = free_port()
    predictor = {
        "name": "p",
        "graph": {"name": "m", "endpoint": {"service_host": "127.0.0.1", "httpPort": free_port()}},
    }
    env = {
        **os.environ,
        "ENGINE_PREDICTOR": base64.b64encode(json.dumps(predictor).encode()).decode(),
        "WHARF_MAX_BODY_BYTES": "1000",
        "WHARF_READ_TIMEOUT": str(READ_TIMEOUT_S),
        "WHARF_WORKER_CONNECTIONS": "3",
    }
    log = tmp_path_factory.mktemp("orch") / "orchestrator.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wharf.cli",
                "orchestrator",
                "--host",
                "127.0.0.1",
                "--http-port",
                str(http),
                "--grpc-port",
                str(free_port()),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def live() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                with connect(http, 1) as sock:
                    sock.sendall(request("GET", "/live") + b"")
                    return Reader(sock).response()[0] == 200
            except OSError:
                return False

        wait_until(live, 20, "the orchestrator's /live")
        yield http
    finally:
        proc.terminate()
        proc.wait(15)


def test_body_limit_setting_serves_its_limit_and_refuses_one_byte_more(orchestrator: int) -> None:
    def post(size: int) -> tuple[int, bytes]:
        body = json.dumps({"data": {"strData": "a" * (size - 25)}}).encode()
        assert len(body) == size
        with connect(orchestrator) as sock:
            sock.sendall(request("POST", "/api/v1.0/predictions", body, {"Content-Type": "application/json"}))
            status, _, answer = Reader(sock).response()
        return status, answer

    status, answer = post(1000)
    assert status != 413, answer  # read whole and walked: the node is down, so the walk fails
    status, answer = post(1001)
    assert status == 413
    assert json.loads(answer) == {
        "status": {"code": 413, "info": "Content-Length 1001 exceeds the limit of 1000 bytes", "status": "FAILURE"}
    }


def _dropped_after(port: int, sent: bytes) -> tuple[float, bytes]:
    """Send ``sent``, then wait for the server to close; seconds waited and what it answered."""
    with connect(port, timeout=READ_TIMEOUT_S + 10) as sock:
        started = time.monotonic()
        sock.sendall(sent)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return time.monotonic() - started, data


@pytest.mark.parametrize(
    "sent, part",
    [
        (b"", None),
        (b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Le", "request line and headers"),
        (b'POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{"data":', "body"),
    ],
    ids=["nothing", "partial-head", "partial-body"],
)
def test_a_client_that_stops_sending_is_dropped_after_the_read_timeout(orchestrator: int, sent: bytes, part) -> None:
    waited, data = _dropped_after(orchestrator, sent)
    assert READ_TIMEOUT_S * 0.9 <= waited < READ_TIMEOUT_S + 3
    if part is None:
        assert data == b""  # nothing was asked, nothing is answered
    else:
        assert status_of(data) == 408
        assert json_body(data)["status"]["info"] == f"the request's {part} did not arrive within {READ_TIMEOUT_S:g} s"


def test_a_head_trickled_byte_by_byte_is_still_cut_at_the_read_timeout(orchestrator: int) -> None:
    head = b"GET /live HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 100
    with connect(orchestrator) as sock:
        started = time.monotonic()
        sock.sendall(head[:10])
        got = b""
        for byte in head[10:]:  # every pause far below the timeout: only the head's total time counts
            time.sleep(0.1)
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            sock.setblocking(False)
            try:
                got += sock.recv(65536)
            except BlockingIOError:
                pass
            sock.setblocking(True)
            if got:
                break
        sock.settimeout(5)
        while chunk := sock.recv(65536):
            got += chunk
    assert status_of(got) == 408 and time.monotonic() - started < READ_TIMEOUT_S + 3


def test_a_body_that_keeps_coming_is_not_cut(orchestrator: int) -> None:
    body = json.dumps({"data": {"ndarray": [[1]]}}).encode()
    with connect(orchestrator) as sock:
        sock.sendall(
            request(
                "POST",
                "/api/v1.0/predictions",
                headers={"Content-Length": str(len(body)), "Content-Type": "application/json"},
            )
        )
        for byte in body:  # 2.5 s in all, each pause half the timeout
            time.sleep(READ_TIMEOUT_S / 2 * 2.5 / len(body) * 2)
            sock.sendall(bytes([byte]))
        status, _, _ = Reader(sock).response()
    assert status != 408


def test_connections_beyond_the_limit_get_503_and_the_ones_within_are_served(orchestrator: int) -> None:
    held = [connect(orchestrator) for _ in range(3)]
    try:
        for sock in held:  # a served request each: now idle keep-alive connections (65 s)
            sock.sendall(request("GET", "/live"))
            assert Reader(sock).response()[0] == 200
        with connect(orchestrator) as extra:
            extra.sendall(request("GET", "/live"))
            reader = Reader(extra)
            status, headers, body = reader.response()
            assert status == 503 and headers["connection"] == "close"
            assert json.loads(body)["status"]["info"].startswith("this server has more than 3 connections open")
            assert reader.closed()
        for sock in held:  # the connections within the limit still work
            sock.sendall(request("GET", "/live"))
            assert Reader(sock).response()[0] == 200
        held.pop().close()
        time.sleep(0.2)
        with connect(orchestrator) as again:
            again.sendall(request("GET", "/live"))
            assert Reader(again).response()[0] == 200
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize(
    "name, value", [("WHARF_READ_TIMEOUT", "soon"), ("WHARF_MAX_BODY_BYTES", "0"), ("WHARF_WORKER_CONNECTIONS", "-5")]
)
def test_a_bad_limit_setting_stops_the_server_naming_the_variable(name: str, value: str) -> None:
    models = Path(__file__).resolve().parent / "models"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "seldon-core-microservice"),
            "FullModel",
            "--host",
            "127.0.0.1",
            "--http-port",
            str(free_port()),
            "--grpc-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
        ],
        cwd=models,
        env={**env, name: value},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=30)
    finally:  # a server that started anyway: its group, workers included, goes
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 2, out
    assert f"{name}={value!r}: expected" in out
    assert "Traceback" not in out


def test_the_component_server_serves_the_limits_its_environment_sets(serve_module) -> None:
    """The settings reach the component's workers, not only the CLI's check of them."""
    small = serve_module("FullModel", workers=1, env={"WHARF_MAX_BODY_BYTES": "1000"})

    def post(size: int) -> int:
        body = json.dumps({"data": {"strData": "a" * (size - 25)}}).encode()
        assert len(body) == size
        with connect(small.http_port) as sock:
            sock.sendall(request("POST", "/api/v1.0/predictions", body, {"Content-Type": "application/json"}))
            return Reader(sock).response()[0]

    assert post(1000) == 200
    assert post(1001) == 413
