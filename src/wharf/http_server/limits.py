"""What one HTTP/1.1 client may cost a server: body size, read time, connections per worker.

Upstream's stack sets none of these: Flask has no ``MAX_CONTENT_LENGTH`` in seldon-core, gunicorn
has no body limit and its threaded worker reads a request with no deadline, and the Go executor
reads whole bodies with no cap. So one client could make a server buffer any amount or hold a
connection forever. The defaults below are far above what a real Seldon request needs:

- ``max_body_bytes``, 32 MiB: eight times the 4 MiB gRPC message limit Wharf and upstream apply
  by default. The same tensor is about 2.5 times larger as JSON (a double printed as text against
  8 bytes in protobuf; binData's base64 adds a third), so every request the gRPC API accepts by
  default also fits over REST, with room to spare.
- ``read_timeout``, 30 s: gunicorn's ``--timeout`` default. A connection that sends nothing for it
  is closed; a request's head that takes longer, or a body that pauses longer, is answered 408.
  Progress is checked once per timeout, so such a client goes after one to two timeouts. Idle
  keep-alive connections keep their own, shorter timeout (``--keepalive``, gunicorn's 2 s;
  uvicorn's ``timeout_keep_alive``).
- ``max_connections``, 1000: gunicorn's ``worker_connections`` default. A connection beyond it is
  answered 503 and closed, as uvicorn's ``limit_concurrency`` answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

from wharf.protocol.errors import BAD_DATA, INTERNAL_ERROR, error_body

MAX_BODY_ENV = "WHARF_MAX_BODY_BYTES"
READ_TIMEOUT_ENV = "WHARF_READ_TIMEOUT"
MAX_CONNECTIONS_ENV = "WHARF_WORKER_CONNECTIONS"


@dataclass(frozen=True)
class HttpLimits:
    max_body_bytes: int = 32 * 1024 * 1024
    read_timeout: float = 30.0  # seconds
    max_connections: int = 1000  # per worker process

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HttpLimits:
        """The limits, each from its variable when set; ``ValueError`` naming a bad one."""
        default = cls()
        return cls(
            max_body_bytes=int(_number(env, MAX_BODY_ENV, default.max_body_bytes, whole=True)),
            read_timeout=_number(env, READ_TIMEOUT_ENV, default.read_timeout, whole=False),
            max_connections=int(_number(env, MAX_CONNECTIONS_ENV, default.max_connections, whole=True)),
        )


def _number(env: Mapping[str, str], name: str, default: float, whole: bool) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = -1
    if value <= 0 or not math.isfinite(value):
        kind = "a whole number" if whole else "a number of seconds"
        raise ValueError(f"{name}={raw!r}: expected {kind} above 0")
    return value


ErrorBody = Callable[[int, str], bytes]


def seldon_error(status: int, info: str) -> bytes:
    """The component server's error body, as its other errors (``status.reason`` and ``code: -1``)."""
    return orjson.dumps(error_body(info, BAD_DATA if status < 500 else INTERNAL_ERROR))
