"""Hostile HTTP/2 clients over raw sockets, for the limit tests and the figures of the note.

Each probe connects, does one hostile thing and returns what the server answered: the frames it
sent (type, flags, stream, payload) until it closed or went quiet, and whether it closed.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import hpack

from wharf.grpc_h2 import frames as f

PREDICT = "/seldon.protos.Model/Predict"
MIB = 1024 * 1024


def rss_kib(pid: int, key: str = "VmRSS") -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} for pid {pid}")


def request_block(encoder: hpack.Encoder, path: str = PREDICT, extra: list[tuple[str, str]] = ()) -> bytes:
    return encoder.encode(
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "t"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            *extra,
        ],
        huffman=False,
    )


@dataclass
class Answer:
    frames: list[tuple[int, int, int, bytes]] = field(default_factory=list)
    closed: bool = False
    sent: int = 0  # bytes the probe managed to send
    sent_before_goaway: int | None = None  # what it had sent when the server's GOAWAY arrived

    def goaway_code(self) -> int | None:
        codes = [int.from_bytes(p[4:8], "big") for kind, _, _, p in self.frames if kind == f.GOAWAY]
        return codes[-1] if codes else None

    def resets(self) -> dict[int, int]:
        return {sid: int.from_bytes(p, "big") for kind, _, sid, p in self.frames if kind == f.RST_STREAM}

    def settings(self) -> dict[int, int]:
        for kind, flags, _, payload in self.frames:
            if kind == f.SETTINGS and not flags & f.ACK:
                return f.parse_settings(payload)
        return {}


class Probe:
    """One connection: a reader thread collects the server's frames while the probe sends."""

    def __init__(self, port: int, read: bool = True) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.encoder = hpack.Encoder()
        self.answer = Answer()
        self._buf = b""
        self.sock.sendall(f.PREFACE + f.settings_frame({}))
        self.reader = threading.Thread(target=self._read, daemon=True) if read else None
        if self.reader:
            self.reader.start()

    def _read(self) -> None:
        try:
            while chunk := self.sock.recv(65536):
                self._buf += chunk
                while len(self._buf) >= 9:
                    length = int.from_bytes(self._buf[:3], "big")
                    if len(self._buf) < 9 + length:
                        break
                    head, self._buf = self._buf[: 9 + length], self._buf[9 + length :]
                    if head[3] == f.GOAWAY and self.answer.sent_before_goaway is None:
                        self.answer.sent_before_goaway = self.answer.sent
                    self.answer.frames.append(
                        (head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, head[9:])
                    )
        except OSError:
            pass
        self.answer.closed = True

    def send(self, data: bytes) -> bool:
        """False once the server has closed (or stopped reading for ``timeout`` s)."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        self.answer.sent += len(data)
        return True

    def flood(self, unit: bytes, total: int) -> None:
        """Send ``unit`` again and again, in 64 KiB writes, up to ``total`` bytes or until refused."""
        batch = unit * max(1, 65536 // len(unit))
        while (
            self.answer.sent < total
            and not self.answer.closed
            and self.answer.sent_before_goaway is None
            and self.send(batch)
        ):
            pass

    def finish(self, wait: float = 5.0) -> Answer:
        """Stop sending, give the server ``wait`` s to answer or close, then close our end."""
        deadline = time.monotonic() + wait
        while self.reader and not self.answer.closed and time.monotonic() < deadline:
            time.sleep(0.05)
        self.sock.close()
        if self.reader:
            self.reader.join(5)
        return self.answer


# --- the probes: each returns the server's answer ---------------------------------------------


def continuation_flood(port: int, total: int = 64 * MIB) -> Answer:
    """HEADERS without END_HEADERS, then CONTINUATION frames of 16 KiB, endlessly."""
    probe = Probe(port)
    probe.send(f.frame(f.HEADERS, 0, 1, request_block(probe.encoder)))
    probe.flood(f.frame(f.CONTINUATION, 0, 1, b"\x00" * 16384), total)
    return probe.finish()


def huge_header(port: int, size: int = 200_000) -> Answer:
    """One valid header block whose decoded list is far over the limit, over CONTINUATION frames."""
    probe = Probe(port)
    block = request_block(probe.encoder, extra=[("x-big", "v" * size)])
    pieces = [block[i : i + 16384] for i in range(0, len(block), 16384)]
    data = f.frame(f.HEADERS, f.END_HEADERS if len(pieces) == 1 else 0, 1, pieces[0])
    for i, piece in enumerate(pieces[1:], 2):
        data += f.frame(f.CONTINUATION, f.END_HEADERS if i == len(pieces) else 0, 1, piece)
    probe.send(data)
    return probe.finish()


def control_flood(port: int, kind: str, total: int = 64 * MIB, read: bool = True) -> Answer:
    """PING, SETTINGS, empty DATA or HEADERS+RST_STREAM (rapid reset) frames, as fast as they go."""
    probe = Probe(port, read=read)
    if kind == "ping":
        unit = f.frame(f.PING, 0, 0, b"12345678")
    elif kind == "settings":
        unit = f.settings_frame({f.ENABLE_PUSH: 0})
    elif kind == "empty-data":
        probe.send(f.frame(f.HEADERS, f.END_HEADERS, 1, request_block(probe.encoder)))
        unit = f.frame(f.DATA, 0, 1)
    elif kind == "rapid-reset":
        block = request_block(probe.encoder)  # now in the table: the next ones are the same few bytes
        probe.send(f.frame(f.HEADERS, f.END_HEADERS, 1, block) + f.rst_stream(1, f.CANCEL))
        block = request_block(probe.encoder)
        pair = len(f.frame(f.HEADERS, f.END_HEADERS, 3, block) + f.rst_stream(3, f.CANCEL))
        for start in range(3, 2 * (total // pair), 2 * 4096):  # 4096 streams opened and reset per write
            ids = range(start, start + 2 * 4096, 2)
            if probe.answer.sent_before_goaway is not None or not probe.send(
                b"".join(f.frame(f.HEADERS, f.END_HEADERS, sid, block) + f.rst_stream(sid, f.CANCEL) for sid in ids)
            ):
                break
        return probe.finish()
    else:
        raise ValueError(kind)
    probe.flood(unit, total)
    return probe.finish()


def open_streams(port: int, count: int) -> Answer:
    """``count`` requests whose HEADERS arrive and whose message never does."""
    probe = Probe(port)
    block = request_block(probe.encoder)
    probe.send(
        b"".join(
            f.frame(f.HEADERS, f.END_HEADERS, 2 * i + 1, request_block(probe.encoder) if i else block)
            for i in range(count)
        )
    )
    return probe.finish(wait=2)


def unfinished_messages(port: int, streams: int = 50, each: int = 4 * MIB) -> Answer:
    """``streams`` requests each announcing a message of ``each`` bytes and sending all but its
    last byte, without waiting for flow-control credit."""
    probe = Probe(port)
    chunk = b"\x00" * 16384
    for i in range(streams):
        sid = 2 * i + 1
        data = f.frame(f.HEADERS, f.END_HEADERS, sid, request_block(probe.encoder))
        data += f.frame(f.DATA, 0, sid, b"\x00" + each.to_bytes(4, "big"))
        data += f.frame(f.DATA, 0, sid, chunk) * ((each - 1) // len(chunk))
        if not probe.send(data) or probe.answer.sent_before_goaway is not None:
            break
    return probe.finish()
