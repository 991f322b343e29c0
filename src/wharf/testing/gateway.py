"""A loopback stand-in for an ingress gateway (Ambassador, Istio), which cannot run in tests here.

It routes ``/seldon/<namespace>/<deployment>/...`` to one deployment's orchestrator, strips the
prefix, and answers 404 for any other path: the part of a gateway that clients such as
``seldon-core-api-tester`` depend on. Every path it was asked for is recorded.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from wharf.local.process import free_port


class Gateway:
    def __init__(self, namespace: str, deployment: str, upstream: str) -> None:
        prefix = f"/seldon/{namespace}/{deployment}"
        self.paths: list[str] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                gateway.paths.append(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self.path.startswith(prefix + "/"):
                    self._answer(404, b"no route")
                    return
                req = urllib.request.Request(
                    upstream + self.path[len(prefix) :],
                    data=body,
                    headers={"Content-Type": self.headers.get("Content-Type", "")},
                )
                try:
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        self._answer(resp.status, resp.read())
                except urllib.error.HTTPError as exc:
                    self._answer(exc.code, exc.read())

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
