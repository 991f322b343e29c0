"""Run the real seldon-core 1.19.0 microservice and Wharf's side by side on loopback.

The reference lives in its own virtualenv (see ``wharf.testing.reference``); point
``WHARF_REFERENCE_PYTHON`` at that venv's python. Without it the group is skipped, unless
``WHARF_REQUIRE_REFERENCE=1``, which turns the skip into a failure (CI sets it).

Both servers are started as real processes from the same model folder, each in its own process
group so that teardown can stop the whole tree (gunicorn and gRPC children) by that group's id.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from wharf.local.process import free_port, group_alive

WHARF_BIN = Path(sys.executable).with_name("seldon-core-microservice")
STARTUP_SECONDS = 60

# Environment that changes what a server answers: never inherited from the caller's shell.
_SCRUBBED_PREFIXES = ("PREDICTIVE_UNIT_", "SELDON_", "PREDICTOR_", "GUNICORN_", "GRPC_", "FLASK_", "WHARF_")
_SCRUBBED = {
    "MODEL_METADATA",
    "INCLUDE_METRICS_IN_CLIENT_RESPONSE",
    "PAYLOAD_PASSTHROUGH",
    "MODEL_NAME",
    "SERVICE_TYPE",
    "PERSISTENCE",
    "TRACING",
    "PYTHONPATH",
    "PROMETHEUS_MULTIPROC_DIR",
}


def _reference_bin() -> Path:
    """The reference ``seldon-core-microservice``; skips (or fails when required) if not configured."""
    required = os.environ.get("WHARF_REQUIRE_REFERENCE") == "1"
    python = os.environ.get("WHARF_REFERENCE_PYTHON")
    if not python:
        why = (
            "WHARF_REFERENCE_PYTHON is not set: build the reference venv with "
            "`python -m wharf.testing.reference` and set it to that venv's bin/python"
        )
        if required:
            pytest.fail(f"WHARF_REQUIRE_REFERENCE=1 but {why}", pytrace=False)
        pytest.skip(why)
    exe = Path(python).with_name("seldon-core-microservice")
    if not Path(python).exists() or not exe.exists():
        # A set but wrong path is a configuration error, never a reason to skip.
        pytest.fail(
            f"WHARF_REFERENCE_PYTHON={python}: no python or no seldon-core-microservice next to it", pytrace=False
        )
    return exe


@dataclass
class Response:
    status: int
    content_type: str
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Server:
    name: str
    cmd: list[str]
    cwd: Path
    env: dict[str, str]
    log: Path
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        ports = [
            "--http-port",
            str(self.http_port),
            "--grpc-port",
            str(self.grpc_port),
            "--metrics-port",
            str(self.metrics_port),
        ]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                self.cmd + ports,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}", pytrace=False)
            try:
                if self.request("GET", "/health/ping", timeout=2).text == "pong":
                    return
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail(f"{self.name} did not answer /health/ping within {STARTUP_SECONDS}s:\n{self.tail()}", pytrace=False)

    def stop(self) -> None:
        if self.proc is None:
            return
        # The server started its own session: its pid is the group id of all its children.
        pgid = self.proc.pid
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            end = time.monotonic() + 10
            while time.monotonic() < end:
                self.proc.poll()  # reap the leader, or it keeps the group alive as a zombie
                if not group_alive(pgid):
                    break
                time.sleep(0.05)
            else:
                continue
            break
        self.proc.poll()

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None, timeout: float = 30
    ) -> Response:
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=body, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Response(resp.status, resp.headers.get("Content-Type", ""), resp.read().decode())
        except urllib.error.HTTPError as err:
            return Response(err.code, err.headers.get("Content-Type", ""), err.read().decode())


def server_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith(_SCRUBBED_PREFIXES)}
    env.update(extra)
    return env


@dataclass
class Pair:
    reference: Server
    wharf: Server


@pytest.fixture(scope="session")
def reference_bin() -> Path:
    return _reference_bin()


def start_pairs(
    reference_bin: Path, folder: Path, scenarios: dict[str, tuple[str, dict[str, str]]], logs: Path
) -> dict[str, Pair]:
    """Start one reference and one Wharf server per scenario (all at once), wait for all."""
    pairs: dict[str, Pair] = {}
    for name, (model, env) in scenarios.items():
        pairs[name] = Pair(
            Server(
                f"seldon-core {name}",
                [str(reference_bin), model],
                folder,
                server_env(env),
                logs / f"{name}-reference.log",
            ),
            Server(
                f"wharf {name}",
                [str(WHARF_BIN), model, "--host", "127.0.0.1", "--workers", "1"],
                folder,
                server_env(env),
                logs / f"{name}-wharf.log",
            ),
        )
    servers = [s for p in pairs.values() for s in (p.reference, p.wharf)]
    try:
        for s in servers:
            s.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        for s in servers:
            s.wait_ready(deadline)
    except BaseException:
        stop_all(pairs)
        raise
    return pairs


def stop_all(pairs: dict[str, Pair]) -> None:
    for p in pairs.values():
        for s in (p.reference, p.wharf):
            s.stop()


@pytest.fixture(scope="module")
def server_pairs(reference_bin: Path, tmp_path_factory: pytest.TempPathFactory):
    """``start(models, scenarios)``: write the model files into a fresh folder, start a reference
    and a Wharf server per scenario ``{name: (class, env)}``; all are stopped at module end."""
    started: list[dict[str, Pair]] = []

    def start(models: dict[str, str], scenarios: dict[str, tuple[str, dict[str, str]]]) -> dict[str, Pair]:
        folder = tmp_path_factory.mktemp("models")
        for name, source in models.items():
            (folder / f"{name}.py").write_text(source)
        pairs = start_pairs(reference_bin, folder, scenarios, tmp_path_factory.mktemp("logs"))
        started.append(pairs)
        return pairs

    yield start
    for pairs in started:
        stop_all(pairs)
