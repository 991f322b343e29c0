"""Argo CD syncs ``examples/gitops`` onto the real node: the operator in its pod, the models' pods
running and answering (issue 26).

The same user steps as ``tests/gitops/test_argocd_live.py`` (the API server with KWOK, where a host
process stands in for the operator's pod), with its helpers (``wharf.testing.argocd_live``): a local
Git repository (``file://``) holding the charts and ``examples/gitops`` with the repoURL made its
own, Argo CD's settings and the example's ``argocd-cm-health-patch.yaml``, then ``project.yaml`` and
``root-app.yaml``; everything else comes from Git. Argo CD's controller and repo server run on the
host, as in upstream's local setup; the cluster they sync is the node's. Here nothing stands in:
the operator is the chart's Deployment running Wharf's operator image (loaded into the node by
the session's fixture, as ``kind load`` does), and the example's model images are the iris
example built here, under the names the example uses.

Its name sorts before the test_e2e_* files on purpose: the runtime Application installs what the
session's ``wharf_core`` chart install does (namespace wharf-system, the CRD, the operator), so this
module installs, checks and removes it before that install exists.
"""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from node_support import get, iris_answer, predict, service_url

from wharf.testing import infra
from wharf.testing.argocd_live import (
    APPS,
    MODELS_NS,
    RUNTIME_NS,
    SDEP,
    SDEP_CRD,
    Live,
    Recorder,
    check_waves,
    install_argocd,
    teardown,
    user_repo,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
# The images examples/gitops names; a user builds them with `invoke build` (docs/gitops.md). 0.2 is
# the same build under the next tag: what the rollout test commits.
IMAGES = ("wharf-examples/iris:0.1", "wharf-examples/iris:0.2")
# An image no registry serves: the registry address refuses connections, so the node's pull fails
# at once (ErrImagePull), without this machine reaching out to any network.
MISSING_IMAGE = "127.0.0.1:1/wharf-examples/iris:missing"


def _watch_model_pods(recorder: Recorder) -> None:
    """Notes the resourceVersion at which a pod of each SeldonDeployment is first Ready."""
    from kubernetes import client

    def pod(kind: str, obj: dict) -> None:
        owner = (obj["metadata"].get("labels") or {}).get("seldon-deployment-id")
        conditions = (obj.get("status") or {}).get("conditions") or []
        if owner and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            recorder.note(obj["metadata"]["resourceVersion"], f"pod ready {owner}")

    recorder.watch(client.CoreV1Api(recorder.api).list_namespaced_pod, pod, namespace=MODELS_NS)


@pytest.fixture(scope="module")
def live(kube_node, wharf_images, example_images, tmp_path_factory):
    from wharf.charts.helm import ensure_helm
    from wharf.testing import argocd

    if not argocd.wait_for_build(timeout=2700):
        infra.unavailable(
            f"Argo CD v{argocd.ARGOCD_VERSION}",
            f"build it with `{argocd.BUILD_COMMAND}` (about 15 min cold, cached by version; "
            f"build log: {argocd.build_dir() / 'build.log'})",
        )
    for leftover in (["namespace", RUNTIME_NS], ["crd", SDEP_CRD]):
        assert kube_node.kubectl("get", *leftover, check=False).returncode != 0, (
            f"{' '.join(leftover)} exists already: the runtime Application is to create it (run this "
            "module before the tests that install wharf-core)"
        )
    started = time.monotonic()
    for tag in IMAGES:
        subprocess.run(["docker", "tag", example_images["iris"], tag], check=True)
    kube_node.load(*IMAGES)
    loaded = time.monotonic()

    tmp = tmp_path_factory.mktemp("argocd-node")
    repo = user_repo(ROOT, tmp / "git")
    install_argocd(kube_node, ROOT)
    argo = argocd.start(kube_node.kubeconfig, ensure_helm(), work=tmp / "argocd", resync_seconds=5)
    print(
        f"\nsetup: example images tagged and loaded {loaded - started:.0f} s, Argo CD {time.monotonic() - loaded:.0f} s"
    )
    api = kube_node.api_client()
    recorder = Recorder(api)
    recorder.watch_gitops()
    _watch_model_pods(recorder)
    state = Live(kube_node, argo, repo, recorder)
    try:
        yield state
    finally:
        recorder.close()
        started = time.monotonic()
        teardown(state, keep_sdep_crd=False)
        # the kustomize overlay and wharf_core install these next: not Terminating then
        for leftover in (["namespace", RUNTIME_NS], ["crd", SDEP_CRD]):
            wait_for(
                f"{' '.join(leftover)} to be gone",
                lambda leftover=leftover: kube_node.kubectl("get", *leftover, check=False).returncode != 0,
                120,
            )
        print(f"\nteardown {time.monotonic() - started:.0f} s")
        api.close()


def test_argocd_syncs_the_example_and_the_model_answers_from_its_pod(live, wharf_images) -> None:
    started = time.monotonic()
    live.apply_user_apps()
    for name in APPS:
        live.wait_app(name, "Synced", "Healthy", timeout=240)
    synced_s = time.monotonic() - started
    check_waves(live.recorder)

    # The operator is the synced Deployment's own pod, from Wharf's operator image.
    operator = get(live.kube, "pods", "-n", RUNTIME_NS, "-l", "app.kubernetes.io/name=wharf-operator")["items"]
    assert len(operator) == 1, [p["metadata"]["name"] for p in operator]
    (status,) = operator[0]["status"]["containerStatuses"]
    assert status["ready"] and "running" in status["state"], status
    assert status["image"].removeprefix("docker.io/") == wharf_images["operator"].removeprefix("docker.io/")

    # Argo CD's health for the SeldonDeployment is the example's Lua (it has none of its own), and it
    # turned Healthy only after a pod of the model was Ready and the operator said Available:
    # resourceVersions of one etcd, so one order across the pod, the SeldonDeployment and the
    # Application. Before that it said Progressing.
    rec = live.recorder
    healthy = rec.first("health wharf-models SeldonDeployment/iris Healthy")
    assert rec.first("pod ready iris") < rec.first("sdep Available iris") < healthy, sorted(rec.events)
    assert rec.first("health wharf-models SeldonDeployment/iris Progressing") < healthy, sorted(rec.events)
    from wharf.gitops.argocd import health_script, run_health_check

    sdep = live.sdep("iris")
    resource = live.resource("wharf-models", "SeldonDeployment", "iris")
    assert resource["health"] == {"status": "Healthy", "message": "SeldonDeployment is Available"}
    assert resource["health"] == run_health_check(sdep, health_script(SDEP[0], "SeldonDeployment"))

    # Both models answer through their Services, from pods that really run the iris example.
    for service in ("iris-default", "iris-chart-default"):
        answer = predict(service_url(live.kube, MODELS_NS, service), ROWS, settle_s=30)
        np.testing.assert_allclose(answer["data"]["ndarray"], iris_answer(ROWS), rtol=1e-9)
    print(f"\nall Applications Synced/Healthy {synced_s:.0f} s after root-app.yaml was applied")


class Prober:
    """One client asking the model every 0.2 s while a rollout runs (bounded in time); every answer
    is checked, every failure kept."""

    def __init__(self, url: str, limit_s: float = 180) -> None:
        self.url, self.limit_s = url, limit_s
        self.answers = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit_s
        expected = iris_answer(ROWS)
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                answer = predict(self.url, ROWS, timeout=10)
                np.testing.assert_allclose(answer["data"]["ndarray"], expected, rtol=1e-9)
                self.answers += 1
            except (AssertionError, urllib.error.URLError, OSError, ValueError, KeyError) as exc:
                self.failures.append(repr(exc)[:300])
            time.sleep(0.2)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)


def test_a_commit_changing_the_image_rolls_out_new_pods_that_answer(live) -> None:
    def classifier_images() -> dict[str, tuple[str, bool]]:
        pods = get(live.kube, "pods", "-n", MODELS_NS, "-l", "seldon-deployment-id=iris")["items"]
        out = {}
        for pod in pods:
            (c,) = [s for s in pod["status"].get("containerStatuses") or [] if s["name"] == "classifier"]
            spec = next(x["image"] for x in pod["spec"]["containers"] if x["name"] == "classifier")
            out[pod["metadata"]["name"]] = (spec, bool(c["ready"]))
        return out

    before = classifier_images()
    assert {image for image, _ in before.values()} == {IMAGES[0]}, before

    def set_image(body: dict) -> None:
        body["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["image"] = IMAGES[1]

    url = service_url(live.kube, MODELS_NS, "iris-default")
    with Prober(url) as prober:
        started = time.monotonic()
        sha = live.edit_model("iris.yaml", set_image, "iris: image 0.2")
        live.wait_app("wharf-models", "Synced", "Healthy", timeout=120, revision=sha)
        synced_s = time.monotonic() - started
        marks: dict[str, float] = {}

        def rolled_out() -> dict | bool:
            now = classifier_images()
            if (IMAGES[1], True) in now.values():
                marks.setdefault("new pod Ready", time.monotonic() - started)
            return set(now.values()) == {(IMAGES[1], True)} and not set(now) & set(before) and now

        # the old pod is gone, the new one (new image) Ready: what the operator's rolling update does
        after = wait_for("only pods with the new image, Ready", rolled_out, 120, live.argo)
        rollout_s = time.monotonic() - started
        sdep = wait_for(
            "iris Available at its new generation",
            lambda: (
                (s := live.sdep("iris"))["status"]["state"] == "Available"
                and s["status"].get("observedGeneration") == s["metadata"]["generation"]
                and s
            ),
            60,
            live.argo,
        )
        health = wait_for(
            "Argo CD to say Healthy for the new generation",
            lambda: (
                (r := live.resource("wharf-models", "SeldonDeployment", "iris"))["health"]["status"] == "Healthy"
                and r["health"]
            ),
            60,
            live.argo,
        )
        time.sleep(1)
    print(
        f"\nimage commit -> Application synced at it {synced_s:.0f} s, new pod Ready "
        f"{marks.get('new pod Ready', -1):.0f} s, old pod gone {rollout_s:.0f} s; {prober.answers} answers during it, "
        f"{len(prober.failures)} failed {prober.failures[:3]}; pods {after}"
    )
    assert sdep["metadata"]["generation"] >= 2 and health["message"] == "SeldonDeployment is Available"
    assert prober.answers > 0
    assert prober.failures == [], f"{len(prober.failures)} requests failed during the rollout: {prober.failures[:5]}"


def test_a_model_whose_image_cannot_be_pulled_shows_degraded_with_the_operators_reason(live) -> None:
    def broken(body: dict) -> None:
        body["metadata"]["name"] = body["spec"]["name"] = "stuck"
        body["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["image"] = MISSING_IMAGE

    sha = live.edit_model("stuck.yaml", broken, "a model whose image does not exist")
    live.wait_app("wharf-models", "Synced", "Degraded", timeout=150, revision=sha)

    def degraded_with_the_operators_reason() -> tuple[dict, dict] | bool:
        sdep = live.sdep("stuck")
        health = (live.resource("wharf-models", "SeldonDeployment", "stuck") or {}).get("health") or {}
        status = sdep.get("status") or {}
        # the kubelet's reason moves from ErrImagePull to ImagePullBackOff: wait for a moment where
        # Argo CD's message is the operator's current one
        return (
            status.get("state") == "Failed"
            and health == {"status": "Degraded", "message": status.get("description")}
            and (sdep, health)
        )

    sdep, health = wait_for("Degraded with the operator's description", degraded_with_the_operators_reason, 90)
    message = health["message"]
    # the operator's words: which Deployment, which pod and container, the kubelet's reason and message
    assert message.startswith("Deployment stuck-") and ": pod stuck-" in message, message
    assert "container classifier: " in message and MISSING_IMAGE in message, message
    assert "ErrImagePull" in message or "ImagePullBackOff" in message, message
    # the root Application carries its child's health (the example's Application health check)
    wait_for("the root Application Degraded", lambda: live.app_state("wharf-root")[1] == "Degraded", 30, live.argo)
    # and the working model is untouched: it still answers
    answer = predict(service_url(live.kube, MODELS_NS, "iris-default"), ROWS)
    np.testing.assert_allclose(answer["data"]["ndarray"], iris_answer(ROWS), rtol=1e-9)
    print(f"\nstuck: {message}")
