"""The turn-buffered transport under uvicorn's protocol: one ``write`` per response.

``RecordingTransport`` stands in for the socket transport and only records calls, so the test can
count writes; the HTTP behaviour itself is tested over real sockets in
tests/integration/test_http_wire.py.
"""

from __future__ import annotations

import asyncio

from wharf.http_server.protocol import _TurnBufferedTransport


class RecordingTransport:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 1) if name == "peername" else default


def run(body) -> RecordingTransport:
    async def main() -> RecordingTransport:
        real = RecordingTransport()
        body(_TurnBufferedTransport(real, asyncio.get_running_loop()))
        await asyncio.sleep(0)  # one loop turn: the flush callback runs
        await asyncio.sleep(0)
        return real

    return asyncio.run(main())


def test_head_and_body_of_one_turn_leave_in_one_write() -> None:
    real = run(lambda t: (t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"), t.write(b"ok")))
    assert real.calls == [("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")]


def test_close_sends_what_is_pending_before_closing() -> None:
    real = run(lambda t: (t.write(b"HTTP/1.1 200 OK\r\n\r\n"), t.write(b"bye"), t.close()))
    assert real.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\nbye"), ("close", b"")]


def test_nothing_written_means_no_write_and_empty_writes_are_dropped() -> None:
    assert run(lambda t: t.write(b"")).calls == []


def test_other_attributes_reach_the_real_transport() -> None:
    real = run(lambda t: None)
    t = _TurnBufferedTransport(real, asyncio.new_event_loop())
    assert t.get_extra_info("peername") == ("127.0.0.1", 1)
    assert t.is_closing() is False
    t._loop.close()
