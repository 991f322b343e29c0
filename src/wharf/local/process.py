"""Starting a component server as a child process on loopback, and stopping it by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_HANDED_OUT: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free now and that this process has not handed out before.

    Callers ask for several ports before a server binds any of them; the kernel may give the same
    free port twice in a row, so each one is remembered.
    """
    for _ in range(1000):
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise OSError("no free port found that was not already handed out")


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group ``pgid`` still exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def server_command() -> list[str]:
    """The ``wharf serve`` of the running interpreter, so a venv always serves its own install."""
    return [sys.executable, "-m", "wharf.cli", "serve"]


@dataclass
class RunningServer:
    process: subprocess.Popen
    http_port: int
    grpc_port: int
    metrics_port: int
    log_path: Path
    host: str = "127.0.0.1"
    extra: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> int:
        return stop_process(self.process, timeout)


def stop_process(process: subprocess.Popen, timeout: float = 15.0) -> int:
    """SIGTERM our child (by its pid), SIGKILL if it has not exited within ``timeout``; its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if something already listens on (or holds) ``host:port``: binding it fails."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def wait_http(url: str, timeout: float, process: subprocess.Popen | None = None, status: int = 200) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == status:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer {status} within {timeout:.0f} s")


@contextmanager
def serving(
    args: list[str], log_file: Path, ready_url: str, what: str, timeout: float = 60.0
) -> Iterator[subprocess.Popen]:
    """Run ``args`` (its output in ``log_file``) for the block, stopped by pid at its end; the block
    starts once ``ready_url`` answers 200, and a failure to start shows the log's tail."""
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            wait_http(ready_url, timeout, proc)
        except (RuntimeError, TimeoutError):
            raise RuntimeError(f"{what} did not start; log: {log_file.read_text()[-2000:]}") from None
        yield proc
    finally:
        stop_process(proc, 10)


def start_server(
    model_dir: str | os.PathLike[str],
    model: str,
    *args: str,
    workers: int = 1,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    ready_timeout: float = 30.0,
) -> RunningServer:
    """Start ``wharf serve <model>`` in ``model_dir`` on free loopback ports and wait until ready."""
    http, grpc, metrics = free_port(), free_port(), free_port()
    log_path = log_path or Path(model_dir, f".wharf-{http}.log")
    cmd = [
        *server_command(),
        model,
        "--host",
        "127.0.0.1",
        "--http-port",
        str(http),
        "--grpc-port",
        str(grpc),
        "--metrics-port",
        str(metrics),
        "--workers",
        str(workers),
        *args,
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=model_dir, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    server = RunningServer(proc, http, grpc, metrics, log_path)
    try:
        wait_http(f"{server.url}/ready", ready_timeout, proc)
    except Exception:
        server.stop()
        raise RuntimeError(f"the model server did not become ready; its log:\n{server.log()}") from None
    return server
