"""Helpers of the docker build tests: run a built image as OpenShift would, contract-test it."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from wharf.build import smoke

WHARF = Path(sys.executable).with_name("wharf")


@contextmanager
def running(client, image, user="123456:0"):
    """The image started as an arbitrary UID in group 0 (as OpenShift does), read-only root fs."""
    container = client.containers.run(
        image,
        detach=True,
        user=user,
        read_only=True,
        tmpfs={"/tmp": ""},
        ports={"9000/tcp": ("127.0.0.1", None), "5000/tcp": ("127.0.0.1", None)},
    )
    try:
        problem = smoke._wait_ready(container, 9000, 60)
        assert problem is None, f"{problem}\n{container.logs(tail=30).decode()}"
        yield smoke._host_port(container, 9000), smoke._host_port(container, 5000)
    finally:
        container.remove(force=True)


def contract_test(contract, port, *extra):
    """The contract tester CLI (`wharf test`), as a user would run it."""
    proc = subprocess.run(
        [str(WHARF), "test", str(contract), "127.0.0.1", str(port), "-n", "5", "-b", "3", "--seed", "1", *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def contract_test_image(client, image: str, contract: Path) -> None:
    """Start ``image`` (arbitrary UID, read-only root) and pass ``contract`` over REST and gRPC."""
    with running(client, image) as (http, grpc):
        contract_test(contract, http)
        contract_test(contract, grpc, "--grpc")
