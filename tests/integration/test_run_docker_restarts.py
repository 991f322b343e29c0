"""``wharf run --docker``: a node's container that dies is removed and started again from its
image, the other nodes serving meanwhile; the real console script on the example graph."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from support import wait_until

from wharf.local.process import free_port

pytestmark = pytest.mark.docker

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WHARF = str(Path(sys.executable).parent / "wharf")


def predict(port: int) -> int:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1.0/predictions",
        data=json.dumps({"data": {"ndarray": [[51, 35, 14, 2]]}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except OSError:
        return 0


def test_a_killed_container_is_started_again_from_its_image(engine, example_images) -> None:
    from wharf.local.containers import RUN_LABEL

    port = free_port()
    proc = subprocess.Popen(
        [
            WHARF,
            "run",
            "--docker",
            str(EXAMPLES / "graphs" / "ab-router.yaml"),
            "--http-port",
            str(port),
            "--grpc-port",
            str(free_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    try:
        wait_until(
            lambda: any(" ready: POST " in line for line in lines) or proc.poll() is not None,
            180,
            "the graph to be ready",
        )
        assert proc.poll() is None, "".join(lines)[-3000:]
        name = f"wharf-run-{proc.pid}-iris-b"
        first = engine.containers.get(name).id
        engine.containers.get(name).kill()  # SIGKILL to the container's process
        wait_until(
            lambda: any("wharf run: node iris-b exit code 137 after " in line for line in lines),
            30,
            "the runtime to see the container die",
        )
        wait_until(lambda: _running(engine, name) not in (None, first), 60, "a new iris-b container")
        started = time.monotonic()
        wait_until(lambda: all(predict(port) == 200 for _ in range(6)), 60, "the graph to answer again")
        print(
            f"\n--docker, docker kill of iris-b: serving again {time.monotonic() - started:.1f} s after its new "
            f"container started"
        )
        assert any(line.rstrip().endswith("restart 1 now") for line in lines if "wharf run: node iris-b" in line)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        code = proc.wait(120)
    assert code == 0, "".join(lines)[-3000:]
    assert engine.containers.list(all=True, filters={"label": f"{RUN_LABEL}={proc.pid}"}) == []


def _running(engine, name: str) -> str | None:
    import docker.errors

    try:
        container = engine.containers.get(name)
    except docker.errors.NotFound:
        return None
    return container.id if container.status == "running" else None
