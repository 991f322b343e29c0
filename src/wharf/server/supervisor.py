"""The parent process: owns the listening socket and the metrics endpoint, forks the workers,
replaces any that die, and shuts them all down in order on SIGTERM/SIGINT.

Like uvicorn's multiprocess supervisor, signal handlers only note the signal; a loop acts on it.
The user's object is built once here, before forking, so workers share it copy-on-write.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from wharf.component.model import Component
from wharf.server.config import ServerConfig
from wharf.server.worker import EXIT_BIND_FAILED, EXIT_LOAD_FAILED, run_worker

log = logging.getLogger(__name__)

_RESTART_WINDOW_S = 60.0
_MAX_RESTARTS_IN_WINDOW = 10


def bind_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def start_metrics_server(host: str, port: int, path: str) -> ThreadingHTTPServer:
    """Serve the merged multiprocess metrics of all workers on ``path`` only."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.split("?", 1)[0] != path:
                self.send_error(404, f"metrics are served on {path}")
                return
            body = generate_latest(registry)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("metrics: " + fmt, *args)

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port} for metrics: {exc.strerror}") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="wharf-metrics", daemon=True).start()
    return server


class Supervisor:
    def __init__(self, config: ServerConfig, component: Component) -> None:
        self.config = config
        self.component = component
        self._ctx = multiprocessing.get_context("fork")
        self._workers: list[Any] = []
        self._signals: list[int] = []
        self._wake = threading.Event()
        self._restarts: list[float] = []

    def _on_signal(self, sig: int, _frame: Any) -> None:
        self._signals.append(sig)
        self._wake.set()

    def _spawn(self, http_socket: socket.socket) -> Any:
        proc = self._ctx.Process(
            target=run_worker, args=(self.config, self.component, http_socket), name="wharf-worker", daemon=False
        )
        proc.start()
        return proc

    def run(self) -> int:
        cfg = self.config
        http_socket = bind_socket(cfg.host, cfg.http_port)
        metrics = start_metrics_server(cfg.host, cfg.metrics_port, cfg.metrics_path)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        log.info(
            "serving REST on :%d, gRPC on :%s, metrics on :%d%s with %d worker(s)",
            cfg.http_port,
            cfg.grpc_port if cfg.grpc_enabled else "off",
            cfg.metrics_port,
            cfg.metrics_path,
            cfg.workers,
        )
        try:
            self._workers = [self._spawn(http_socket) for _ in range(cfg.workers)]
            return self._loop(http_socket)
        finally:
            # Our copy of the shared socket goes first: once the draining workers have closed
            # theirs, new connections are refused at once instead of queueing in a backlog that
            # nobody accepts from (and that the kernel resets when the last copy closes).
            http_socket.close()
            self._stop_workers()
            metrics.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _loop(self, http_socket: socket.socket) -> int:
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            if self._signals:
                log.info("received %s: shutting down", signal.Signals(self._signals[0]).name)
                return 0
            for i, proc in enumerate(self._workers):
                if proc.is_alive():
                    continue
                proc.join()
                if proc.exitcode == EXIT_LOAD_FAILED:
                    log.error("worker %d: the model's load() failed; stopping the server", proc.pid)
                    return 1
                if proc.exitcode == EXIT_BIND_FAILED:
                    log.error("worker %d could not open the gRPC port; stopping the server", proc.pid)
                    return 1
                if proc.exitcode == 0:  # drained on purpose (--max-requests): not a crash
                    log.info("worker %d retired; starting a new one", proc.pid)
                else:
                    now = time.monotonic()
                    self._restarts = [t for t in self._restarts if now - t < _RESTART_WINDOW_S] + [now]
                    if len(self._restarts) > _MAX_RESTARTS_IN_WINDOW:
                        log.error("workers died %d times in %.0f s; giving up", len(self._restarts), _RESTART_WINDOW_S)
                        return 1
                    log.warning("worker %d exited with code %s; starting a new one", proc.pid, proc.exitcode)
                self._mark_dead(proc.pid)
                self._workers[i] = self._spawn(http_socket)

    def _stop_workers(self) -> None:
        alive = [p for p in self._workers if p.is_alive()]
        for proc in alive:
            os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.config.graceful_timeout + 5
        for proc in alive:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                log.warning("worker %d did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.join()
            self._mark_dead(proc.pid)

    @staticmethod
    def _mark_dead(pid: int | None) -> None:
        if pid is None or not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
