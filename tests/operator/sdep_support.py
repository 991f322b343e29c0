"""Helpers for the operator's API-server tests: install the generated CRD, build sdeps, poll."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "kustomize" / "base" / "crd" / "machinelearning.seldon.io_seldondeployments.yaml"


def install_crd(kube_api) -> None:
    kube_api.apply_crd(yaml.safe_load(CRD_FILE.read_text()))


@contextlib.contextmanager
def running_operator(namespace: str) -> Iterator[None]:
    """The Wharf operator (kopf, in a thread of this process) watching ``namespace``; KUBECONFIG and
    EXECUTOR_CONTAINER_IMAGE_AND_VERSION must be set by the caller."""
    import kopf

    from wharf.operator import handlers

    handlers._state.clear()
    stop, ready = threading.Event(), threading.Event()

    def main() -> None:
        asyncio.run(
            kopf.operator(standalone=True, namespaces=[namespace], clusterwide=False, stop_flag=stop, ready_flag=ready)
        )

    thread = threading.Thread(target=main, name="kopf-operator", daemon=True)
    thread.start()
    assert ready.wait(60), "the operator did not start within 60 s"
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        handlers._state.clear()


def sdep(
    name: str, namespace: str, graph: dict | None = None, containers: list[str] | None = None, **spec: Any
) -> dict[str, Any]:
    graph = graph or {"name": "model"}
    containers = containers or ["model"]
    predictor = {
        "name": "main",
        "graph": graph,
        "componentSpecs": [{"spec": {"containers": [{"name": c, "image": f"example/{c}:1.0"} for c in containers]}}],
    }
    body: dict[str, Any] = {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"predictors": [predictor]},
    }
    body["spec"].update(copy.deepcopy(spec))
    return body


def apply(kube_api, obj: dict, check: bool = True):
    return kube_api.kubectl(
        "apply", "--server-side", "--field-manager=wharf-tests", "-f", "-", input=yaml.safe_dump(obj), check=check
    )


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:  # noqa: BLE001 - polling: report the last failure on timeout
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last!r}")
