"""Black-box helpers: start the real ``seldon-core-microservice`` process and talk to it.

Every server binds loopback only, on ports picked free at start. The ``serve`` factories start a
process with a model class from ``tests/integration/models`` (or any folder given), wait until it
answers ``/health/ping`` (and ``/ready`` when asked), and stop it on teardown: SIGTERM to the pid
started here, a wait, then SIGKILL to it and to its own children if it is still there.

When a test fails, the log of every server still running is attached to the report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from wharf.local.process import free_port

MODELS = Path(__file__).resolve().parent / "models"
BIN = Path(sys.executable).parent
MICROSERVICE = str(BIN / "seldon-core-microservice")

# Environment the server reads; cleared so the developer's shell cannot change a test.
_SERVER_ENV = (
    "PREDICTIVE_UNIT_",
    "GUNICORN_",
    "GRPC_",
    "SELDON_",
    "MODEL_",
    "PROMETHEUS_MULTIPROC_DIR",
    "WHARF_",
    "INCLUDE_METRICS_IN_CLIENT_RESPONSE",
    "PAYLOAD_PASSTHROUGH",
    "PREDICTOR_",
    "TRACING",
    "FLASK_",
    "PERSISTENCE",
    "SERVICE_TYPE",
)
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0

LIVE_SERVERS: list[Server] = []


def wait_until(predicate, timeout: float, what: str) -> None:
    """Poll ``predicate`` every 50 ms until it is true; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SERVER_ENV)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` from /proc (every thread's ``children`` file)."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    return sorted(set(kids))


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Server:
    model: str
    proc: subprocess.Popen
    http_port: int
    grpc_port: int
    metrics_port: int
    log_path: Path
    args: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def workers(self) -> list[int]:
        return children_of(self.pid)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.post(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def predict(self, message: Any, path: str = "/predict") -> httpx.Response:
        return self.post(path, json=message)

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> int | None:
        """SIGTERM, wait, SIGKILL; leaves no child behind. Returns the exit code."""
        if self.proc.poll() is None:
            kids = self.workers()
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                for pid in [self.pid, *kids]:
                    if pid_alive(pid):
                        os.kill(pid, signal.SIGKILL)
                self.proc.wait(5)
            for pid in kids:  # workers are the server's own children; never leave one running
                if pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)
        return self.proc.returncode


def _wait_http(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited with {server.proc.returncode} before {path} answered:\n{server.log()}")
        try:
            r = httpx.get(server.url + path, timeout=2)
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.05)
    raise RuntimeError(f"{path} did not answer 200 in {timeout:.0f}s (last: {last}):\n{server.log()}")


class ServerFactory:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.servers: list[Server] = []

    def __call__(
        self,
        model: str,
        *extra_args: str,
        env: dict[str, str] | None = None,
        workers: int | None = 1,
        wait: str | None = "ready",
        cwd: Path | str = MODELS,
        positionals: Sequence[str] = (),
    ) -> Server:
        """Start a server for ``model``; ``wait`` is "ready", "ping" or None (do not wait).

        ``workers=None`` leaves ``--workers`` out, so the server's own default (or the environment) applies.

        ``positionals`` come right after the model name (the legacy ``MODEL REST`` form)."""
        http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
        argv = [
            MICROSERVICE,
            model,
            *positionals,
            "--host",
            "127.0.0.1",
            "--http-port",
            str(http_port),
            "--grpc-port",
            str(grpc_port),
            "--metrics-port",
            str(metrics_port),
            *(["--workers", str(workers)] if workers is not None else []),
            *extra_args,
        ]
        log_path = self.tmp / f"{model}-{http_port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                argv, cwd=str(cwd), env=server_env(env), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        server = Server(model, proc, http_port, grpc_port, metrics_port, log_path, argv)
        self.servers.append(server)
        LIVE_SERVERS.append(server)
        try:
            if wait:
                _wait_http(server, "/health/ping", START_TIMEOUT_S)
            if wait == "ready":
                _wait_http(server, "/ready", START_TIMEOUT_S)
        except BaseException:
            server.stop()
            raise
        return server

    def close(self) -> None:
        for server in reversed(self.servers):
            server.stop()


def run_to_exit(
    args: Sequence[str], env: dict[str, str] | None = None, timeout: float = 30, cwd: Path | str = MODELS
) -> subprocess.CompletedProcess:
    """Run the CLI expecting it to stop by itself (start-up failures); output merged."""
    return subprocess.run(
        [MICROSERVICE, *args],
        cwd=str(cwd),
        env=server_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def ports_args() -> list[str]:
    return [
        "--host",
        "127.0.0.1",
        "--http-port",
        str(free_port()),
        "--grpc-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
    ]


def failure_body(r: httpx.Response) -> dict[str, Any]:
    """The upstream error body ``{"status": {"status": 1, "code": -1, "info", "reason"}}``."""
    body = r.json()
    status = body["status"]
    assert status["status"] == 1 and status["code"] == -1, body
    return status


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def docker_client():
    """The local Docker engine, or the test unavailable (a failure when CI=true) without one."""
    from wharf.testing.infra import unavailable

    try:
        import docker

        client = docker.from_env()
        client.ping()
        return client
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine means "no engine"
        unavailable("a Docker engine", f"start dockerd ({exc})")


def service_image(image) -> str:
    """``image`` (a wharf.build.service_images.ServiceImage) built from this checkout; needs the engine."""
    from wharf.build.service_images import build_service_image

    docker_client()
    return build_service_image(image, progress=None)
