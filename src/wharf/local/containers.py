"""Graph nodes as containers (``wharf run --docker``): each node runs from its image, as in a pod.

Containers share the host's network namespace, so a node listens on the loopback ports the
local runtime hands it through the same ``PREDICTIVE_UNIT_*_PORT`` variables the operator sets,
and the orchestrator (a local process) reaches it exactly as it reaches a process node. A
``ContainerNode`` answers ``poll``/``terminate``/``wait``/``kill`` like ``subprocess.Popen``, so
the runtime treats both kinds of node alike. Every container carries a label with the runtime's
pid, and is removed when stopped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

RUN_LABEL = "io.wharf.run"  # value: pid of the `wharf run` that started the container


class ContainerError(RuntimeError):
    """A node's container could not be created (no engine, no image, ...)."""


def docker_client() -> Any:
    try:
        import docker
    except ImportError as exc:
        raise ContainerError("--docker needs the docker SDK: pip install 'wharf-ml[build]'") from exc
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - docker raises several kinds for "no engine"
        raise ContainerError(f"--docker needs a running Docker engine ({exc})") from exc
    return client


class ContainerNode:
    """One node's container, shaped like ``subprocess.Popen`` for the local runtime."""

    def __init__(
        self,
        client: Any,
        name: str,
        image: str,
        env: dict[str, str],
        out: Callable[[str], None],
        volumes: dict[str, dict[str, str]] | None = None,
    ) -> None:
        import docker.errors

        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            hint = (
                "invoke server-images"
                if image.startswith(
                    ("wharf/sklearnserver", "wharf/xgboostserver", "wharf/mlflowserver", "wharf/mlserver")
                )
                else f"invoke build --source <folder> --image {image}"
            )
            raise ContainerError(
                f"{name}: image {image!r} is not in the local engine; build it first ({hint})"
            ) from None
        self.name = name
        self.returncode: int | None = None
        self.container = client.containers.run(
            image,
            detach=True,
            network_mode="host",
            environment=env,
            volumes=volumes or {},
            name=f"wharf-run-{os.getpid()}-{name}",
            labels={RUN_LABEL: str(os.getpid())},
        )
        threading.Thread(target=self._pump, args=(out,), name=f"log-{name}", daemon=True).start()

    def _pump(self, out: Callable[[str], None]) -> None:
        pending = b""
        for chunk in self.container.logs(stream=True, follow=True):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                out(line.decode("utf-8", "replace"))
        if pending:
            out(pending.decode("utf-8", "replace"))

    def poll(self) -> int | None:
        if self.returncode is None:
            self.container.reload()
            if self.container.status in ("exited", "dead"):
                self.returncode = int(self.container.attrs["State"]["ExitCode"])
        return self.returncode

    def terminate(self) -> None:
        self._signal("SIGTERM")

    def kill(self) -> None:
        self._signal("SIGKILL")

    def _signal(self, sig: str) -> None:
        import docker.errors

        try:
            self.container.kill(signal=sig)
        except docker.errors.APIError:  # it exited between our poll and the signal
            pass

    def wait(self, timeout: float | None = None) -> int:
        import subprocess

        import requests

        try:
            result = self.container.wait(timeout=timeout)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):  # SDK's timeout
            raise subprocess.TimeoutExpired(self.name, timeout or 0) from None
        self.returncode = int(result["StatusCode"])
        self.container.remove(force=True)
        return self.returncode
