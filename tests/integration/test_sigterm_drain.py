"""SIGTERM under load loses nothing: 32 keep-alive clients send requests back to back to a real
server process on 127.0.0.1; the server is stopped in the middle. Every request a client managed to
send is answered (in flight, or queued behind the model thread); a client is told to leave with
``Connection: close`` and then finds the port closed (connection refused: nothing sent, nothing
lost). A read error is a request sent and never answered: the count must be 0."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import json_format

from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as rpc

CLIENTS = 32
BODY = b'{"jsonData": {"sleep": 0.002}}'


@dataclass
class Tally:
    answered: int = 0
    read_errors: int = 0
    told_to_close: int = 0
    refused: int = 0
    first_error: str = ""


def _read_answer(sock: socket.socket) -> tuple[int, bool]:
    """(status, connection: close) of one response; ConnectionError if it never comes whole."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} bytes of the response head")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {len(rest)} of {length} body bytes")
        rest += chunk
    return int(lines[0].split()[1]), headers.get("connection", "").lower() == "close"


def _client(port: int, tally: Tally, lock: threading.Lock, until: float) -> None:
    request = (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
    )
    while time.monotonic() < until:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        except ConnectionRefusedError:
            with lock:
                tally.refused += 1
            return  # the server is gone: the client stops, as a load balancer's would move on
        with sock:
            while time.monotonic() < until:
                try:
                    sock.sendall(request)
                    status, close = _read_answer(sock)
                except OSError as exc:  # reset, EOF, timeout: a request sent and not answered
                    with lock:
                        tally.read_errors += 1
                        tally.first_error = tally.first_error or repr(exc)
                    break
                with lock:
                    tally.answered += 1
                assert status == 200, status
                if close:
                    with lock:
                        tally.told_to_close += 1
                    break


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_under_keep_alive_load_loses_no_request(serve, workers):
    server = serve("SlowPredictModel", workers=workers)
    tally, lock = Tally(), threading.Lock()
    until = time.monotonic() + 20
    threads = [threading.Thread(target=_client, args=(server.http_port, tally, lock, until)) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    with lock:
        before = tally.answered
    os.kill(server.pid, signal.SIGTERM)
    assert server.wait_exit(30) == 0, server.log()
    for t in threads:
        t.join(30)
    print(f"SIGTERM drain: {tally}")
    assert before > 100, tally  # it was under load when the signal came
    assert tally.read_errors == 0, tally
    assert tally.told_to_close >= 1, tally  # clients were told to leave, not cut off
    assert tally.refused == CLIENTS, tally  # and then every one of them found the port closed


def test_sigterm_lets_grpc_calls_in_flight_finish(serve):
    """In-flight gRPC calls on several channels finish OK after SIGTERM (GOAWAY, then close)."""
    server = serve("SlowPredictModel")
    request = json_format.ParseDict({"jsonData": {"sleep": 0.3}}, pb.SeldonMessage())
    channels = [grpc.insecure_channel(server.grpc_target) for _ in range(4)]
    try:
        for ch in channels:
            grpc.channel_ready_future(ch).result(timeout=10)
        futures = [rpc.ModelStub(ch).Predict.future(request, timeout=30) for ch in channels for _ in range(2)]
        time.sleep(0.2)  # all sent; they run one after another on the model thread (2.4 s in all)
        os.kill(server.pid, signal.SIGTERM)
        answers = [f.result() for f in futures]
        assert all(json_format.MessageToDict(a)["jsonData"]["slept"] == 0.3 for a in answers)
        assert server.wait_exit(30) == 0, server.log()
    finally:
        for ch in channels:
            ch.close()
