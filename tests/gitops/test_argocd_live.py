"""Argo CD itself (controller + repo server, built from its Go module) syncs ``examples/gitops``.

The Git repository is a local one (``file://``) holding ``charts/`` and ``examples/gitops`` as a user
commits them, with the placeholder repoURL replaced by the repository's own URL, which is what the
example tells a user to do. The user's steps are then: apply Argo CD's settings objects and
``argocd-cm-health-patch.yaml`` (the example's file, not a copy), apply ``project.yaml`` and
``root-app.yaml``; everything else comes from Git.

The cluster is the harness's API server with KWOK fake nodes: Pods never run, KWOK reports them
Running and Ready, so Deployments become Available. Stand-in: the Wharf operator Deployment that
Argo CD syncs cannot run its container here, so once that Deployment is Available the test runs the
same operator (``wharf operator``) as a process on the host, with the Deployment's own environment.

Order of events: every watch event's resourceVersion is the revision of the one etcd behind this
harness, which is global across all kinds, so comparing them orders events of different objects.
The tests in this module run in order and share one Argo CD and one set of Applications.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from wharf.testing import infra

ROOT = Path(__file__).resolve().parents[2]
APP_NS, RUNTIME_NS, MODELS_NS = "argocd", "wharf-system", "models"
APPS = ("wharf-root", "wharf-runtime", "wharf-models", "iris-chart")
SDEP = ("machinelearning.seldon.io", "v1", "seldondeployments")
SDEP_CRD = f"{SDEP[2]}.{SDEP[0]}"
APPLICATION = ("argoproj.io", "v1alpha1", "applications")
KWOK_NODE = "wharf-argocd-kwok-0"


def wait_for(what: str, probe: Callable[[], Any], timeout: float, argo=None, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:  # noqa: BLE001 - polling: the last failure is reported on timeout
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    logs = f"\n{argo.logs(40)}" if argo is not None else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r}{logs}")


class Recorder:
    """Watches (from before the first Application exists) what the wave order is judged by."""

    def __init__(self, api_client) -> None:
        self.api = api_client
        self.events: list[tuple[int, str]] = []
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def note(self, rv: str, what: str) -> None:
        with self.lock:
            if what not in [w for _, w in self.events]:
                self.events.append((int(rv), what))

    def first(self, what: str) -> int:
        found = [rv for rv, w in self.events if w == what]
        assert found, f"never seen: {what}; seen: {sorted(self.events)}"
        return found[0]

    def _watch(self, list_call, handle, **kwargs) -> None:
        """One watch, resumed from the last resourceVersion seen each time the server ends it (every
        5 s, so that close() is quick): no event in between is missed."""
        from kubernetes import watch

        resource_version = None
        while not self.stop.is_set():
            w = watch.Watch()
            resume = {"resource_version": resource_version} if resource_version else {}
            try:
                for event in w.stream(list_call, timeout_seconds=5, **kwargs, **resume):
                    obj = event["object"]
                    obj = obj if isinstance(obj, dict) else self.api.sanitize_for_serialization(obj)
                    if event["type"] == "ERROR":  # e.g. 410 Gone: start over with a fresh list
                        resource_version = None
                        break
                    resource_version = obj["metadata"]["resourceVersion"]
                    handle(event["type"], obj)
                    if self.stop.is_set():
                        w.stop()
            except Exception:  # noqa: BLE001 - a watch that drops is started again, resumed
                time.sleep(0.5)

    def start(self) -> None:
        from kubernetes import client

        ext, apps, custom = (
            client.ApiextensionsV1Api(self.api),
            client.AppsV1Api(self.api),
            client.CustomObjectsApi(self.api),
        )

        def crd(kind: str, obj: dict) -> None:
            name = obj["metadata"]["name"]
            conditions = (obj.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                self.note(obj["metadata"]["resourceVersion"], f"crd established {name}")

        def deployment(kind: str, obj: dict) -> None:
            name, rv = obj["metadata"]["name"], obj["metadata"]["resourceVersion"]
            self.note(rv, f"deployment added {name}")
            conditions = (obj.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Available" and c["status"] == "True" for c in conditions):
                self.note(rv, f"deployment available {name}")

        def application(kind: str, obj: dict) -> None:
            name, rv = obj["metadata"]["name"], obj["metadata"]["resourceVersion"]
            self.note(rv, f"application added {name}")
            status = obj.get("status") or {}
            if (
                (status.get("sync") or {}).get("status") == "Synced"
                and (status.get("health") or {}).get("status") == "Healthy"
                and (status.get("operationState") or {}).get("phase") == "Succeeded"
            ):
                self.note(rv, f"application synced and healthy {name}")

        def added(label: str) -> Callable[[str, dict], None]:
            return lambda kind, obj: self.note(
                obj["metadata"]["resourceVersion"], f"{label} added {obj['metadata']['name']}"
            )

        watches = [
            (ext.list_custom_resource_definition, crd, {}),
            (apps.list_namespaced_deployment, deployment, {"namespace": RUNTIME_NS}),
            (
                custom.list_namespaced_custom_object,
                added("sdep"),
                {"group": SDEP[0], "version": SDEP[1], "plural": SDEP[2], "namespace": MODELS_NS},
            ),
            (
                custom.list_namespaced_custom_object,
                application,
                {"group": APPLICATION[0], "version": APPLICATION[1], "plural": APPLICATION[2], "namespace": APP_NS},
            ),
        ]
        for call, handle, kwargs in watches:
            thread = threading.Thread(target=self._watch, args=(call, handle), kwargs=kwargs, daemon=True)
            thread.start()
            self.threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


class Live:
    """The shared state of this module: the cluster, Argo CD, the Git repository, the operator."""

    def __init__(self, kube_api, argo, repo, recorder) -> None:
        self.kube, self.argo, self.repo, self.recorder = kube_api, argo, repo, recorder
        self.operator: subprocess.Popen | None = None
        self.operator_log: Path | None = None

    def get(self, kind: str, name: str, ns: str | None = None) -> dict | None:
        args = ["get", kind, name, "-o", "json"] + (["-n", ns] if ns else [])
        proc = self.kube.kubectl(*args, check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def app(self, name: str) -> dict:
        return self.get("applications.argoproj.io", name, APP_NS) or {}

    def app_state(self, name: str) -> tuple[str, str]:
        status = self.app(name).get("status") or {}
        return (status.get("sync") or {}).get("status", ""), (status.get("health") or {}).get("status", "")

    def wait_app(self, name: str, sync: str, health: str, timeout: float = 150, revision: str | None = None) -> dict:
        seen: dict = {}

        def reached() -> dict | bool:
            app = self.app(name)
            status = app.get("status") or {}
            seen["last"] = {k: status.get(k) for k in ("sync", "health", "operationState", "conditions")}
            ok = (status.get("sync") or {}).get("status") == sync and (status.get("health") or {}).get(
                "status"
            ) == health
            if revision is not None:
                ok = ok and (status.get("sync") or {}).get("revision") == revision
            return app if ok else False

        try:
            return wait_for(f"Application {name} {sync}/{health}", reached, timeout)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\nlast status: {json.dumps(seen.get('last'))[:3000]}\n{self.argo.logs(40)}"
            ) from None

    def start_operator(self, tmp: Path) -> None:
        """The stand-in for the operator's pod: ``wharf operator`` with the synced Deployment's env."""
        dep = self.get("deployment", "wharf-operator", RUNTIME_NS) or self._operator_deployment()
        container = dep["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        env.update(POD_NAMESPACE=RUNTIME_NS, POD_NAME="wharf-operator-on-host", KUBECONFIG=str(self.kube.kubeconfig))
        assert container["command"] == ["wharf", "operator"], container["command"]
        self.operator_log = tmp / "operator.log"
        with open(self.operator_log, "wb") as log:
            self.operator = subprocess.Popen(
                [str(Path(sys.executable).with_name("wharf")), "operator", "--standalone", "--namespace", MODELS_NS],
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _operator_deployment(self) -> dict:
        deps = json.loads(self.kube.kubectl("get", "deployments", "-n", RUNTIME_NS, "-o", "json").stdout)["items"]
        assert len(deps) == 1, [d["metadata"]["name"] for d in deps]
        return deps[0]

    def stop_operator(self) -> None:
        if self.operator is not None and self.operator.poll() is None:
            os.killpg(self.operator.pid, signal.SIGTERM)
            try:
                self.operator.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.operator.pid, signal.SIGKILL)
                self.operator.wait(5)


@pytest.fixture(scope="module")
def live(kube_api, helm_binary, tmp_path_factory):
    from wharf.testing import argocd

    if not argocd.wait_for_build(timeout=2700):
        infra.unavailable(
            f"Argo CD v{argocd.ARGOCD_VERSION}",
            f"build it with `{argocd.BUILD_COMMAND}` (about 15 min cold, cached by version; "
            f"build log: {argocd.build_dir() / 'build.log'})",
        )
    if not kube_api.fake_nodes:
        infra.unavailable("KWOK fake nodes", "build them with `invoke cluster.build-binaries` (kwok, kube-scheduler)")
    tmp = tmp_path_factory.mktemp("argocd")
    if kube_api.local:
        from wharf.testing.apiserver import fake_node_manifest

        kube_api.kubectl("apply", "-f", "-", input=json.dumps(fake_node_manifest(KWOK_NODE)))
        # Earlier tests of the session installed the SeldonDeployment CRD; the runtime Application
        # is to create it, as on a new cluster (the teardown puts it back if it is missing).
        kube_api.kubectl("delete", "crd", SDEP_CRD, "--ignore-not-found", "--timeout=60s")

    # The Git repository, as a user commits it: the charts and examples/gitops, repoURL made theirs.
    repo = argocd.GitRepo(tmp / "git")
    repo.init()
    for folder in ("charts/wharf-core", "charts/wharf-model", "examples/gitops"):
        repo.copy_in(ROOT, folder)
    assert repo.point_at_self(), "examples/gitops/argocd names no placeholder repoURL to replace"
    repo.commit("Wharf runtime and models for Argo CD")

    argocd.install(lambda *a, **k: kube_api.kubectl(*a, **k))
    # the example's own health configuration, applied as a user applies it
    kube_api.kubectl(
        "apply",
        "--server-side",
        "--field-manager=wharf-user",
        "-n",
        APP_NS,
        "-f",
        str(ROOT / "examples" / "gitops" / "argocd" / "argocd-cm-health-patch.yaml"),
    )
    argo = argocd.start(kube_api.kubeconfig, helm_binary, work=tmp / "argocd", resync_seconds=5)
    api = kube_api.api_client()
    recorder = Recorder(api)
    recorder.start()
    state = Live(kube_api, argo, repo, recorder)
    try:
        yield state
    finally:
        recorder.close()
        _teardown(state)
        api.close()


def _teardown(state: Live) -> None:
    """Leave the session's cluster as other tests expect it: the SeldonDeployment CRD stays (other
    tests share it), everything else the Applications made goes."""
    kube = state.kube
    runtime = (state.app("wharf-runtime").get("status") or {}).get("resources") or []
    state.argo.stop()
    kube.kubectl("delete", "seldondeployments", "--all", "-n", MODELS_NS, "--timeout=30s", check=False)
    state.stop_operator()
    for name in APPS:
        kube.kubectl(
            "patch",
            "applications.argoproj.io",
            name,
            "-n",
            APP_NS,
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
            check=False,
        )
    for item in runtime:
        if not item.get("namespace") and item["kind"] not in ("CustomResourceDefinition", "Namespace"):
            kube.kubectl(
                "delete",
                f"{item['kind'].lower()}.{item.get('group') or ''}".rstrip("."),
                item["name"],
                "--wait=false",
                check=False,
            )
    # waited for: later tests (test_deploy.py) install into wharf-system, which must not be Terminating then
    kube.kubectl("delete", "namespace", APP_NS, MODELS_NS, RUNTIME_NS, "--timeout=120s", check=False, timeout=150)
    if kube.kubectl("get", "crd", SDEP_CRD, check=False).returncode != 0:
        from wharf.gitops.kustomize import BASE

        kube.apply_crd(yaml.safe_load((BASE / "crd" / f"{SDEP[0]}_{SDEP[2]}.yaml").read_text()))
    if kube.local:
        kube.kubectl("delete", "node", KWOK_NODE, "--wait=false", check=False)


def test_app_of_apps_syncs_in_waves_with_the_examples_health_checks(live, tmp_path_factory) -> None:
    checkout = live.repo.checkout / "examples" / "gitops" / "argocd"
    # What the example tells a user to create by hand; the rest comes from Git.
    live.kube.kubectl("apply", "-n", APP_NS, "-f", str(checkout / "project.yaml"))
    live.kube.kubectl("apply", "-n", APP_NS, "-f", str(checkout / "root-app.yaml"))

    live.wait_app("wharf-runtime", "Synced", "Healthy", timeout=180)
    live.start_operator(tmp_path_factory.mktemp("operator"))
    for name in APPS:
        live.wait_app(name, "Synced", "Healthy", timeout=180)

    rec = live.recorder
    crd = rec.first(f"crd established {SDEP_CRD}")
    operator_added, operator_available = (
        rec.first("deployment added wharf-operator"),
        rec.first("deployment available wharf-operator"),
    )
    # wave -1, inside one Application: the CRD is Established before the operator Deployment exists
    assert crd < operator_added, sorted(rec.events)
    # wave 1 starts only once wave -1 is Healthy: the model Applications and SeldonDeployments come later
    for later in (
        "application added wharf-models",
        "application added iris-chart",
        "sdep added iris",
        "sdep added iris-chart",
    ):
        assert operator_available < rec.first(later), (later, sorted(rec.events))
    # the root went on to wave 1 only once the runtime Application had synced (not merely once it
    # read Healthy, which a just-created Application does before its first sync applies anything)
    for later in ("application added wharf-models", "application added iris-chart"):
        assert rec.first("application synced and healthy wharf-runtime") < rec.first(later), (later, sorted(rec.events))

    runtime = live.app("wharf-runtime")["status"]
    assert runtime["operationState"]["phase"] == "Succeeded"
    # the runtime is applied server-side (its sync option), as the controller's field manager
    crd_obj = json.loads(live.kube.kubectl("get", "crd", SDEP_CRD, "-o", "json", "--show-managed-fields").stdout)
    assert ("argocd-controller", "Apply") in [
        (m["manager"], m["operation"]) for m in crd_obj["metadata"]["managedFields"]
    ]

    # The SeldonDeployment's health is the example's Lua, from argocd-cm (Argo CD has none of its own).
    from wharf.gitops.argocd import health_script, run_health_check

    models = live.app("wharf-models")["status"]
    (iris,) = [r for r in models["resources"] if r["kind"] == "SeldonDeployment"]
    sdep = live.get("seldondeployments.machinelearning.seldon.io", "iris", MODELS_NS)
    assert sdep["status"]["state"] == "Available"
    assert iris["health"] == {"status": "Healthy", "message": "SeldonDeployment is Available"}
    assert iris["health"] == run_health_check(sdep, health_script("machinelearning.seldon.io", "SeldonDeployment"))


def test_a_commit_changing_the_image_rolls_out(live) -> None:
    path = live.repo.checkout / "examples" / "gitops" / "models" / "iris.yaml"
    body = yaml.safe_load(path.read_text())
    body["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["image"] = "wharf-examples/iris:0.2"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    sha = live.repo.commit("iris: image 0.2")

    live.wait_app("wharf-models", "Synced", "Healthy", timeout=120, revision=sha)

    def rolled_out() -> dict | bool:
        deps = json.loads(
            live.kube.kubectl(
                "get", "deployments", "-n", MODELS_NS, "-l", "seldon-deployment-id=iris", "-o", "json"
            ).stdout
        )["items"]
        for dep in deps:
            images = [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]]
            st = dep.get("status") or {}
            if (
                "wharf-examples/iris:0.2" in images
                and st.get("updatedReplicas") == dep["spec"]["replicas"] == st.get("availableReplicas")
                and st.get("observedGeneration") == dep["metadata"]["generation"]
            ):
                return dep
        return False

    wait_for("the iris Deployment rolled out with image 0.2", rolled_out, 90, live.argo)
    sdep = wait_for(
        "iris Available again",
        lambda: (
            (s := live.get("seldondeployments.machinelearning.seldon.io", "iris", MODELS_NS))["status"]["state"]
            == "Available"
            and s["status"].get("observedGeneration") == s["metadata"]["generation"]
            and s
        ),
        60,
        live.argo,
    )
    assert sdep["metadata"]["generation"] >= 2


def test_a_commit_the_crd_refuses_leaves_the_app_out_of_sync_and_the_model_untouched(live) -> None:
    before = live.get("seldondeployments.machinelearning.seldon.io", "iris", MODELS_NS)
    path = live.repo.checkout / "examples" / "gitops" / "models" / "iris.yaml"
    good = path.read_text()
    body = yaml.safe_load(good)
    # valid YAML and schema, refused by one of the CRD's CEL rules
    body["spec"]["predictors"][0]["componentSpecs"][0]["pdbSpec"] = {"minAvailable": 1, "maxUnavailable": 1}
    body["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["image"] = "wharf-examples/iris:0.3"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    sha = live.repo.commit("iris: a pdbSpec the CRD refuses")
    refusal = "minAvailable and maxUnavailable are mutually exclusive"

    def failed() -> dict | bool:
        status = live.app("wharf-models").get("status") or {}
        op = status.get("operationState") or {}
        text = json.dumps(op)
        # the automated sync retries (the example's retry policy), so the phase may still be Running
        return (
            status
            if sha in text
            and refusal in text
            and op.get("phase") in ("Running", "Failed", "Error")
            and (status.get("sync") or {}).get("revision") == sha
            else False
        )

    status = wait_for("the sync of the refused commit to fail", failed, 120, live.argo)
    op = status["operationState"]
    assert refusal in op["message"], op["message"]
    (result,) = [r for r in op["syncResult"]["resources"] if r["kind"] == "SeldonDeployment" and r["name"] == "iris"]
    assert result["status"] == "SyncFailed" and refusal in result["message"], result
    assert status["sync"]["status"] == "OutOfSync"
    (iris,) = [r for r in status["resources"] if r["kind"] == "SeldonDeployment" and r["name"] == "iris"]
    assert iris["status"] == "OutOfSync"
    # what runs is unchanged, so its health is still the running model's
    assert iris["health"]["status"] == "Healthy"
    print(f"refused commit: phase {op['phase']}, health {status['health']}, message: {op['message'][:300]}")

    after = live.get("seldondeployments.machinelearning.seldon.io", "iris", MODELS_NS)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]
    assert after["status"]["state"] == "Available"

    path.write_text(good)  # the fix, as a user would push it
    fixed = live.repo.commit("iris: drop the refused pdbSpec")
    live.wait_app("wharf-models", "Synced", "Healthy", timeout=120, revision=fixed)
    # the retrying operation went on with the newest commit (the example's retry.refresh)
    op = wait_for(
        "the sync operation to succeed with the fix",
        lambda: (
            (o := live.app("wharf-models")["status"]["operationState"])["phase"] == "Succeeded"
            and o["syncResult"]["revision"] == fixed
            and o
        ),
        90,
        live.argo,
    )
    assert op["syncResult"]["revision"] == fixed


def test_a_model_whose_pods_cannot_start_shows_degraded_with_the_operators_reason(live) -> None:
    body = yaml.safe_load((live.repo.checkout / "examples" / "gitops" / "models" / "iris.yaml").read_text())
    body["metadata"]["name"] = body["spec"]["name"] = "stuck"
    predictor = body["spec"]["predictors"][0]
    # no node has this label, so the scheduler never places the pods; past the deadline the
    # Deployment stops progressing and the operator says Failed, with the reason
    predictor["progressDeadlineSeconds"] = 2
    predictor["componentSpecs"][0]["spec"]["nodeSelector"] = {"wharf.test/no-such-node": "true"}
    (live.repo.checkout / "examples" / "gitops" / "models" / "stuck.yaml").write_text(
        yaml.safe_dump(body, sort_keys=False)
    )
    sha = live.repo.commit("a model that cannot be scheduled")

    app = live.wait_app("wharf-models", "Synced", "Degraded", timeout=150, revision=sha)
    (stuck,) = [r for r in app["status"]["resources"] if r["kind"] == "SeldonDeployment" and r["name"] == "stuck"]
    sdep = live.get("seldondeployments.machinelearning.seldon.io", "stuck", MODELS_NS)
    assert sdep["status"]["state"] == "Failed"
    assert stuck["health"] == {"status": "Degraded", "message": sdep["status"]["description"]}
    assert stuck["health"]["message"] == "Deployment is no longer progressing and not available."
    # the root Application carries its child's health (the example's Application health check)
    assert live.app_state("wharf-root")[1] == "Degraded"
