"""Driving Argo CD from a test: the user's Git repository and install steps, waiting on Applications,
a watch recorder that orders events, and the teardown.

Shared by the test against the API server with KWOK (``tests/gitops/test_argocd_live.py``) and the
one on the real node (``tests/node/test_b_argocd.py``). ``kube`` is either harness's cluster object:
``.kubectl(*args, input=..., check=...)``, ``.kubeconfig``, ``.api_client()``.

Order of events: every watch event's resourceVersion is a revision of the one etcd behind the
harness, global across all kinds, so comparing them orders events of different objects.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wharf.testing import argocd

APP_NS, RUNTIME_NS, MODELS_NS = argocd.NAMESPACE, "wharf-system", "models"
APPS = ("wharf-root", "wharf-runtime", "wharf-models", "iris-chart")
SDEP = ("machinelearning.seldon.io", "v1", "seldondeployments")
SDEP_CRD = f"{SDEP[2]}.{SDEP[0]}"
APPLICATION = ("argoproj.io", "v1alpha1", "applications")
# what the user commits: the charts the Applications point at, and the example itself
USER_FOLDERS = ("charts/wharf-core", "charts/wharf-model", "examples/gitops")


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


# --- the user's steps ---------------------------------------------------------------------------


def user_repo(source: Path, where: Path) -> argocd.GitRepo:
    """The Git repository as a user commits it: the charts and examples/gitops from ``source`` (a
    checkout of this project), the placeholder repoURL replaced by the repository's own URL."""
    repo = argocd.GitRepo(where)
    repo.init()
    for folder in USER_FOLDERS:
        repo.copy_in(source, folder)
    if not repo.point_at_self():
        raise AssertionError("examples/gitops/argocd names no placeholder repoURL to replace")
    repo.commit("Wharf runtime and models for Argo CD")
    return repo


def install_argocd(kube, source: Path) -> None:
    """Argo CD's CRDs and settings objects, then the example's ``argocd-cm-health-patch.yaml`` (the
    file itself, not a copy), applied server-side as a user applies it."""
    argocd.install(lambda *a, **k: kube.kubectl(*a, **k))
    kube.kubectl(
        "apply",
        "--server-side",
        "--field-manager=wharf-user",
        "-n",
        APP_NS,
        "-f",
        str(source / "examples" / "gitops" / "argocd" / "argocd-cm-health-patch.yaml"),
    )


# --- watching -----------------------------------------------------------------------------------


class Recorder:
    """Watches (started before the first Application exists) and notes, for each thing seen, the
    resourceVersion at which it was first seen."""

    def __init__(self, api_client) -> None:
        self.api = api_client
        self.events: list[tuple[int, str]] = []
        self._seen: set[str] = set()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def note(self, rv: str, what: str) -> None:
        with self.lock:
            if what not in self._seen:
                self._seen.add(what)
                self.events.append((int(rv), what))

    def seen(self, what: str) -> bool:
        with self.lock:
            return what in self._seen

    def first(self, what: str) -> int:
        with self.lock:
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

    def watch(self, list_call, handle: Callable[[str, dict], None], **kwargs) -> None:
        thread = threading.Thread(target=self._watch, args=(list_call, handle), kwargs=kwargs, daemon=True)
        thread.start()
        self.threads.append(thread)

    def watch_gitops(self) -> None:
        """What the wave order and the health checks are judged by: CRDs Established, the runtime's
        Deployments (added, Available), SeldonDeployments (added, each state), Applications (added,
        synced and healthy, and each resource health their status shows)."""
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

        def sdep(kind: str, obj: dict) -> None:
            name, rv = obj["metadata"]["name"], obj["metadata"]["resourceVersion"]
            self.note(rv, f"sdep added {name}")
            state = (obj.get("status") or {}).get("state")
            if state:
                self.note(rv, f"sdep {state} {name}")

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
            for res in status.get("resources") or []:
                health = (res.get("health") or {}).get("status")
                if health:
                    self.note(rv, f"health {name} {res['kind']}/{res['name']} {health}")

        self.watch(ext.list_custom_resource_definition, crd)
        self.watch(apps.list_namespaced_deployment, deployment, namespace=RUNTIME_NS)
        self.watch(
            custom.list_namespaced_custom_object,
            sdep,
            group=SDEP[0],
            version=SDEP[1],
            plural=SDEP[2],
            namespace=MODELS_NS,
        )
        self.watch(
            custom.list_namespaced_custom_object,
            application,
            group=APPLICATION[0],
            version=APPLICATION[1],
            plural=APPLICATION[2],
            namespace=APP_NS,
        )

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


def check_waves(rec: Recorder) -> None:
    """The app of apps' sync waves, in the order the recorder saw them."""
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


# --- the shared state of a module's tests ----------------------------------------------------------


class Live:
    """The cluster, Argo CD, the Git repository and the recorder one test module shares."""

    def __init__(self, kube, argo: argocd.ArgoCD, repo: argocd.GitRepo, recorder: Recorder) -> None:
        self.kube, self.argo, self.repo, self.recorder = kube, argo, repo, recorder

    def get(self, kind: str, name: str, ns: str | None = None) -> dict | None:
        args = ["get", kind, name, "-o", "json"] + (["-n", ns] if ns else [])
        proc = self.kube.kubectl(*args, check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def sdep(self, name: str) -> dict | None:
        return self.get(f"{SDEP[2]}.{SDEP[0]}", name, MODELS_NS)

    def app(self, name: str) -> dict:
        return self.get("applications.argoproj.io", name, APP_NS) or {}

    def app_state(self, name: str) -> tuple[str, str]:
        status = self.app(name).get("status") or {}
        return (status.get("sync") or {}).get("status", ""), (status.get("health") or {}).get("status", "")

    def resource(self, app: str, kind: str, name: str) -> dict | None:
        """The entry for one resource in an Application's status (its sync status and health)."""
        found = [
            r
            for r in (self.app(app).get("status") or {}).get("resources") or []
            if (r["kind"], r["name"]) == (kind, name)
        ]
        return found[0] if found else None

    def apply_user_apps(self) -> None:
        """What the example tells a user to create by hand; everything else comes from Git."""
        folder = self.repo.checkout / "examples" / "gitops" / "argocd"
        self.kube.kubectl("apply", "-n", APP_NS, "-f", str(folder / "project.yaml"))
        self.kube.kubectl("apply", "-n", APP_NS, "-f", str(folder / "root-app.yaml"))

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

    def edit_model(self, file: str, change: Callable[[dict], None], message: str) -> str:
        """Change one SeldonDeployment file of examples/gitops/models (a new file when it is not
        there: ``change`` gets iris.yaml's content), commit and push; the commit's sha."""
        import yaml

        models = self.repo.checkout / "examples" / "gitops" / "models"
        path = models / file
        body = yaml.safe_load((path if path.exists() else models / "iris.yaml").read_text())
        change(body)
        path.write_text(yaml.safe_dump(body, sort_keys=False))
        return self.repo.commit(message)

    def stop_operator(self) -> None:
        """Where the operator is a stand-in process, the teardown stops it once the models are gone
        (a subclass says how); where it runs in its pod there is nothing to do."""


def teardown(live: Live, keep_sdep_crd: bool) -> None:
    """Remove what the Applications made, quickly (not through Argo CD's cascading deletion): Argo
    CD stops, the SeldonDeployments go while their operator still runs, the Applications lose their
    finalizers, the runtime's cluster-scoped objects and the namespaces are deleted (waited for:
    later tests install into wharf-system, which must not be Terminating then). The SeldonDeployment
    CRD goes too unless ``keep_sdep_crd``."""
    kube = live.kube
    runtime = (live.app("wharf-runtime").get("status") or {}).get("resources") or []
    live.argo.stop()
    kube.kubectl("delete", SDEP[2], "--all", "-n", MODELS_NS, "--timeout=60s", check=False, timeout=90)
    live.stop_operator()
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
        if item.get("namespace") or item["kind"] == "Namespace":
            continue
        if item["kind"] == "CustomResourceDefinition" and keep_sdep_crd:
            continue
        kube.kubectl(
            "delete",
            f"{item['kind'].lower()}.{item.get('group') or ''}".rstrip("."),
            item["name"],
            "--wait=false",
            check=False,
        )
    kube.kubectl("delete", "namespace", APP_NS, MODELS_NS, RUNTIME_NS, "--timeout=120s", check=False, timeout=150)
