"""HTTP/1.1 on the wire, over a raw socket to the real server: keep-alive, pipelining, chunked
request bodies, ``Expect: 100-continue``, HEAD, ``Connection: close`` and a malformed request.

Responses leave the worker in one write per event-loop turn (``wharf.http_server.protocol``);
these tests pin down that buffering changes nothing a client can see.
"""

from __future__ import annotations

import json
import socket

import pytest
from support import Server

ND = b'{"data":{"ndarray":[[1,2]]}}'


@pytest.fixture(scope="module")
def server(serve_module) -> Server:
    return serve_module("FullModel", workers=1)


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.http_port), timeout=10)


def request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test"]
    all_headers = {"Content-Length": str(len(body)), **(headers or {})} if body else dict(headers or {})
    lines += [f"{k}: {v}" for k, v in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Reader:
    """Reads HTTP/1.1 responses off one socket, keeping whatever arrived after the last one."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed by the server; unread: {self.buf!r}")
        self.buf += chunk

    def head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *header_lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), headers

    def response(self, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        status, headers = self.head()
        length = 0 if head_only else int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body

    def closed(self) -> bool:
        """True when the server has closed the connection and sent nothing more."""
        return not self.buf and self.sock.recv(1) == b""


def doubled(body: bytes) -> list:
    return json.loads(body)["data"]["ndarray"]


def test_keep_alive_serves_many_requests_on_one_connection(server: Server) -> None:
    with connect(server) as s:
        reader = Reader(s)
        for i in range(1, 6):
            s.sendall(
                request(
                    "POST",
                    "/predict",
                    f'{{"data":{{"ndarray":[[{i}]]}}}}'.encode(),
                    {"Content-Type": "application/json"},
                )
            )
            status, headers, body = reader.response()
            assert status == 200 and headers["content-type"] == "application/json"
            assert doubled(body) == [[2 * i]]
            assert headers.get("connection") != "close"


def test_pipelined_requests_are_answered_in_order(server: Server) -> None:
    with connect(server) as s:
        s.sendall(
            request("GET", "/health/ping")
            + request("POST", "/predict", ND)
            + request("GET", "/live")
            + request("POST", "/predict", b'{"data":{"ndarray":[[7]]}}')
        )
        reader = Reader(s)
        assert reader.response()[2] == b"pong"
        assert doubled(reader.response()[2]) == [[2, 4]]
        assert reader.response()[2] == b"alive"
        assert doubled(reader.response()[2]) == [[14]]


def test_chunked_request_body(server: Server) -> None:
    chunks = [ND[:10], ND[10:]]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    with connect(server) as s:
        s.sendall(
            request("POST", "/predict", headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"})
            + body
        )
        status, _, out = Reader(s).response()
    assert status == 200 and doubled(out) == [[2, 4]]


def test_expect_100_continue(server: Server) -> None:
    with connect(server) as s:
        s.sendall(
            request(
                "POST",
                "/predict",
                headers={"Content-Length": str(len(ND)), "Expect": "100-continue", "Content-Type": "application/json"},
            )
        )
        reader = Reader(s)
        status, _ = reader.head()  # the interim answer comes before the client sends the body
        assert status == 100
        s.sendall(ND)
        status, _, out = reader.response()
    assert status == 200 and doubled(out) == [[2, 4]]


def test_head_has_headers_and_no_body_and_keeps_the_connection(server: Server) -> None:
    with connect(server) as s:
        reader = Reader(s)
        s.sendall(request("HEAD", "/health/ping"))
        status, headers, body = reader.response(head_only=True)
        assert status == 200 and headers["content-length"] == "4"  # the length a GET body would have
        assert body == b""
        s.sendall(request("GET", "/live"))  # a body of the HEAD answer would be read here instead
        assert reader.response()[2] == b"alive"


def test_connection_close_is_honoured_after_the_whole_response(server: Server) -> None:
    with connect(server) as s:
        s.sendall(request("POST", "/predict", ND, {"Connection": "close"}))
        reader = Reader(s)
        status, headers, out = reader.response()
        assert status == 200 and headers["connection"] == "close" and doubled(out) == [[2, 4]]
        assert reader.closed()


def test_malformed_request_gets_400_and_the_worker_keeps_serving(server: Server) -> None:
    with connect(server) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        status, _, _ = Reader(s).response()
    assert status == 400
    assert server.get("/health/ping").text == "pong"


def test_large_response_arrives_whole(server: Server) -> None:
    rows = [[float(i * 100 + j) for j in range(100)] for i in range(100)]
    body = json.dumps({"data": {"ndarray": rows}}).encode()
    with connect(server) as s:
        s.sendall(request("POST", "/predict", body, {"Content-Type": "application/json"}))
        status, _, out = Reader(s).response()
    assert status == 200 and doubled(out) == [[2 * v for v in row] for row in rows]


# --- the request head is bounded (431), as gunicorn bounds it for seldon-core ---------------------


def _refused_head(server: Server, raw: bytes) -> tuple[int, bytes]:
    """Send ``raw`` (ignoring a reset once the server has answered) and read the answer to the close."""
    with connect(server) as sock:
        try:
            sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    return int(data.split(b" ", 2)[1]), data


def test_too_many_header_fields_are_431_and_the_connection_closes(server) -> None:
    from wharf.http_server.protocol import MAX_HEADER_FIELDS

    many = {f"X-H{i}": "v" for i in range(MAX_HEADER_FIELDS + 1)}
    status, data = _refused_head(server, request("POST", "/predict", ND, {"Content-Type": "application/json", **many}))
    assert status == 431 and b"more than 100 header fields" in data
    # at the limit, the request is served
    with connect(server) as sock:
        fields = {f"X-H{i}": "v" for i in range(MAX_HEADER_FIELDS - 3)}  # + Host, Content-Length, Content-Type
        sock.sendall(request("POST", "/predict", ND, {"Content-Type": "application/json", **fields}))
        assert Reader(sock).response()[0] == 200


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /predict HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n",  # one 1 MB header
        b"POST /predict HTTP/1.1\r\nHost: t\r\nX-Endless: " + b"a" * (1 << 20),  # a line that never ends
    ],
    ids=["one-megabyte-header", "header-line-that-never-ends"],
)
def test_a_head_over_the_byte_limit_is_431_without_waiting_for_its_end(server, raw) -> None:
    status, data = _refused_head(server, raw)
    assert status == 431 and b"exceed 65536 bytes" in data


def test_a_big_body_in_the_same_packet_as_its_head_is_not_mistaken_for_a_big_head(server) -> None:
    body = json.dumps({"data": {"ndarray": [[0.5] * 100] * 300}}).encode()  # ~150 KB
    assert len(body) > 2 * 65536
    with connect(server) as sock:
        sock.sendall(request("POST", "/predict", body, {"Content-Type": "application/json"}))
        status, _, answer = Reader(sock).response()
    assert status == 200 and len(json.loads(answer)["data"]["ndarray"]) == 300
