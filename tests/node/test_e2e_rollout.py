"""Changing the model under load, and losing a pod under load, on the real node (issue 17, part f).

The load runs against a loopback gateway (wharf.testing.gateway) that forwards to the predictor's
ClusterIP Service, so its target is 127.0.0.1 and every request still crosses kube-proxy to a pod.
It is bounded in time. Every answer is classified as the v1 or the v2 model's (their outputs
differ), and every failure is counted. The figures are printed for the issue's report.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from node_support import (
    EXAMPLES,
    get,
    iris_answer,
    iris_sdep,
    predict,
    restricted_namespace,
    service_url,
    wait_available,
    wait_for,
)

from wharf.testing.gateway import Gateway

ROW = [6.0, 2.9, 4.5, 1.5]
THREADS = 4


@pytest.fixture(scope="module")
def iris_v2(kube_node, example_images, tmp_path_factory):
    """The iris example with a temperature of 4 as its default: same API, visibly different answers."""
    from wharf.build.builder import build_builder
    from wharf.build.model import build_model

    source = tmp_path_factory.mktemp("iris-v2") / "iris"
    shutil.copytree(EXAMPLES / "iris", source)
    code = (source / "IrisClassifier.py").read_text()
    (source / "IrisClassifier.py").write_text(code.replace("temperature=1.0", "temperature=4.0"))
    image = build_model(
        source, "wharf-e2e/iris:2", builder=build_builder("3.12", progress=None)[0], progress=None
    ).tags[0]
    kube_node.load(image)
    return image


class Load:
    """THREADS clients posting the same row in a loop until stopped (or ``limit_s`` passed)."""

    def __init__(self, url: str, limit_s: float = 240) -> None:
        self.url, self.limit_s = url, limit_s
        self.answers: list[tuple[float, list[float]]] = []
        self.failures: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(THREADS)]

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit_s
        body = json.dumps({"data": {"ndarray": [ROW]}}).encode()
        while not self._stop.is_set() and time.monotonic() < deadline:
            request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    self.answers.append((time.monotonic(), json.loads(answer.read())["data"]["ndarray"][0]))
            except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
                self.failures.append((time.monotonic(), repr(exc)[:200]))
                time.sleep(0.05)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


def version_of(answer: list[float], v1: list[float], v2: list[float]) -> int:
    if np.allclose(answer, v1, rtol=1e-9):
        return 1
    assert np.allclose(answer, v2, rtol=1e-9), f"an answer from neither model: {answer}"
    return 2


def test_rolling_update_and_pod_loss_under_load(kube_node, wharf_core, example_images, iris_v2):
    ns = restricted_namespace(kube_node, "rollout")
    v1, v2 = (iris_answer([ROW], t)[0].tolist() for t in (1.0, 4.0))
    assert not np.allclose(v1, v2)
    try:
        sdep = iris_sdep("iris", example_images["iris"], replicas=2)
        kube_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(sdep))
        wait_available(kube_node, ns, "iris")
        predict(service_url(kube_node, ns, "iris-default"), [ROW], settle_s=30)  # kube-proxy has the endpoints
        with Gateway(ns, "iris", service_url(kube_node, ns, "iris-default")) as gateway:
            url = f"http://127.0.0.1:{gateway.port}/seldon/{ns}/iris/api/v1.0/predictions"

            # 1. the image changes from v1 to v2 while the load runs
            with Load(url) as load:
                time.sleep(3)
                started = time.monotonic()
                sdep["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["image"] = iris_v2
                kube_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(sdep))

                def rolled_out():
                    pods = get(kube_node, "pods", "-n", ns, "-l", "seldon-deployment-id=iris")["items"]
                    images = {c["image"] for p in pods for c in p["spec"]["containers"] if c["name"] == "classifier"}
                    recent = [a for t, a in load.answers[-20:]]
                    return (
                        images == {iris_v2}
                        and len(pods) == 2
                        and recent
                        and all(version_of(a, v1, v2) == 2 for a in recent)
                    )

                wait_for("every pod to run v2 and every answer to come from v2", rolled_out, timeout=300)
                rollout_s = time.monotonic() - started
                time.sleep(2)
            versions = [version_of(a, v1, v2) for _, a in load.answers]
            switch = versions.index(2)
            print(
                f"\nrolling update v1 -> v2 under load: {len(load.answers)} answers, "
                f"{len(load.failures)} failed, rollout {rollout_s:.1f} s; "
                f"first v2 answer after {switch} v1 answers; failures: {load.failures[:3]}"
            )
            assert versions[0] == 1 and versions[-1] == 2
            assert load.failures == [], f"{len(load.failures)} requests failed during the rollout"

            # 2. one of the two pods is deleted while the load runs
            with Load(url) as load:
                time.sleep(3)
                victim = get(kube_node, "pods", "-n", ns, "-l", "seldon-deployment-id=iris")["items"][0]
                deleted = time.monotonic()
                kube_node.kubectl("delete", "pod", "-n", ns, victim["metadata"]["name"], "--wait=false")

                def replaced():
                    pods = get(kube_node, "pods", "-n", ns, "-l", "seldon-deployment-id=iris")["items"]
                    ready = [
                        p
                        for p in pods
                        if p["metadata"].get("deletionTimestamp") is None
                        and all(c["ready"] for c in p["status"].get("containerStatuses", []))
                        and p["status"].get("containerStatuses")
                    ]
                    return len(ready) == 2

                wait_for("a replacement pod to be Ready", replaced, timeout=300)
                recovered_s = time.monotonic() - deleted
                time.sleep(2)
            answered_after = [t - deleted for t, _ in load.answers if t > deleted]
            gap = max((b - a for a, b in zip(answered_after, answered_after[1:])), default=float("inf"))
            print(
                f"pod deleted under load: {len(load.answers)} answers, {len(load.failures)} failed, "
                f"longest pause between answers after the delete {gap:.2f} s, two Ready pods again after "
                f"{recovered_s:.1f} s; failures: {load.failures[:3]}"
            )
            assert all(version_of(a, v1, v2) == 2 for _, a in load.answers)
            # the other pod serves on, and the deleted one finishes what it was sent (preStop sleep)
            assert load.failures == [], f"{len(load.failures)} requests failed after the pod was deleted"
    finally:
        kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)
