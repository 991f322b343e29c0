"""SECURITY.md's table of limits says what the code does: each default and setting below is read
from the code and must appear in the table's row, so a changed default fails here until the
document says it too."""

import inspect
from pathlib import Path

from wharf.grpc_h2.connection import H2Endpoint, Limits
from wharf.grpc_h2.server import DEFAULT_MAX_RECEIVE
from wharf.http_server import error_log
from wharf.http_server.limits import MAX_BODY_ENV, MAX_CONNECTIONS_ENV, READ_TIMEOUT_ENV, HttpLimits
from wharf.http_server.protocol import MAX_HEAD_BYTES, MAX_HEADER_FIELDS
from wharf.orchestrator import serve, transport
from wharf.orchestrator.http1 import DEFAULT_MAX_ANSWER_BYTES
from wharf.server import supervisor

SECURITY = Path(__file__).resolve().parents[2] / "SECURITY.md"
MiB, KiB = 2**20, 2**10


def row(starts: str) -> str:
    rows = [line for line in SECURITY.read_text().splitlines() if line.startswith(f"| {starts}")]
    assert len(rows) == 1, f"SECURITY.md: expected one table row starting {starts!r}, found {len(rows)}"
    return rows[0]


def test_grpc_limits_are_the_code_defaults() -> None:
    limits = Limits()
    assert f"| {DEFAULT_MAX_RECEIVE // MiB} MiB |" in row("gRPC message size, component")
    answer = row("gRPC answer size")
    assert f"| {_size(_default(transport.GrpcTransport.__init__, 'max_message_bytes'))}," in answer
    header = row("gRPC header list")
    assert f"| {limits.max_header_list // KiB} KiB decoded," in header
    assert "limit = 2 * self.limits.max_header_list" in inspect.getsource(H2Endpoint)  # the block as sent
    assert f"; {2 * limits.max_header_list // KiB} KiB as sent |" in header
    assert f"| {limits.max_concurrent_streams}," in row("gRPC concurrent streams")
    window = row("gRPC flow-control windows")
    assert (
        f"{limits.stream_window // MiB} MiB per stream; {limits.connection_window // MiB} MiB per connection" in window
    )
    assert f"| {limits.max_control_frames} per second" in row("gRPC control frames")
    orchestrator = row("gRPC message size, orchestrator")
    assert f"| {_size(_default(serve.serve, 'max_message_bytes'))}," in orchestrator
    for text in (row("gRPC message size, component"), orchestrator, answer):
        assert f"`{transport.MAX_MESSAGE_ANNOTATION}`" in text


def _default(function, parameter: str) -> int:
    return inspect.signature(function).parameters[parameter].default


def _size(n: int) -> str:
    return "2 GiB − 1" if n == 2**31 - 1 else f"{n // MiB} MiB"


def test_rest_limits_are_the_code_defaults_and_settings() -> None:
    limits = HttpLimits()
    assert f"| {MAX_HEADER_FIELDS} |" in row("REST header fields")
    assert f"| {MAX_HEAD_BYTES // KiB} KiB |" in row("REST request line and headers")
    body = row("REST body")
    assert f"| {limits.max_body_bytes // MiB} MiB " in body and f"`{MAX_BODY_ENV}`" in body
    read = row("REST request head")
    assert f"| {limits.read_timeout:g} s to send the head" in read and f"`{READ_TIMEOUT_ENV}`" in read
    connections = row("REST connections per worker")
    assert f"| {limits.max_connections} |" in connections and f"`{MAX_CONNECTIONS_ENV}`" in connections


def test_orchestrator_and_logging_limits_are_the_code_defaults() -> None:
    assert f"| {DEFAULT_MAX_ANSWER_BYTES // MiB} MiB |" in row("HTTP answer size")
    node = row("orchestrator's call to one graph node")
    assert f"| {serve.DEFAULT_NODE_TIMEOUT_S:g} s |" in node and f"`{serve.NODE_TIMEOUT_ENV}`" in node
    log = error_log.ErrorLog.__init__.__defaults__
    rate, burst = log[0], log[1]
    text = row("error log lines")
    assert f"({error_log.MAX_KINDS} kinds remembered)" in text
    assert f"at most {rate:g} lines per second, bursts of {burst}" in text
    restarts = row("worker restarts")
    assert f"more than {supervisor._MAX_RESTARTS_IN_WINDOW} deaths in {supervisor._RESTART_WINDOW_S:g} s" in restarts
