"""Helpers for tests on the real node: wait for conditions, small workloads that pass the restricted PSS."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "models"
GRAPH = ROOT / "examples" / "graphs" / "ab-router.yaml"

RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 1001,
    "runAsGroup": 0,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def wait_for(what: str, check, timeout: float = 180, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def get(kube, *args: str) -> dict:
    return json.loads(kube.kubectl("get", *args, "-o", "json").stdout)


def apply(kube, *objects: dict, namespace: str | None = None) -> None:
    ns = ["-n", namespace] if namespace else []
    kube.kubectl(
        "apply",
        "--server-side",
        "--field-manager=wharf-e2e",
        *ns,
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}),
    )


def container(name: str, image: str, command: list[str], **extra) -> dict:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "Never",
        "command": command,
        "securityContext": RESTRICTED_CONTAINER,
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
        **extra,
    }


def job(name: str, image: str, command: list[str]) -> dict:
    """A Job whose one pod runs ``command`` once (no retries, so a failure shows at once)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "securityContext": RESTRICTED_POD,
                    "containers": [container("main", image, command)],
                }
            },
        },
    }


def job_output(kube, namespace: str, name: str, timeout: float = 180) -> str:
    """Wait for Job ``name`` to finish; return its pod's log, or fail with it."""

    def finished():
        status = get(kube, "job", name, "-n", namespace).get("status", {})
        return "ok" if status.get("succeeded") else "failed" if status.get("failed") else None

    outcome = wait_for(f"job {name}", finished, timeout)
    logs = kube.kubectl("logs", f"job/{name}", "-n", namespace, check=False)
    assert outcome == "ok", f"job {name} failed:\n{logs.stdout}{logs.stderr}"
    return logs.stdout


def python_eval(code: str) -> list[str]:
    return ["python3", "-c", code]


def helm(kube, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    from wharf.charts.helm import ensure_helm

    proc = subprocess.run(
        [str(ensure_helm()), f"--kubeconfig={kube.kubeconfig}", *args], capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert proc.returncode == 0, f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def chart_repo(target: Path, charts: tuple[str, ...], drop: tuple[str, ...] = ()) -> Path:
    """A git repository at ``target`` holding ``charts`` (without the files in ``drop``, relative to
    charts/), committed on main at their current versions, then bumped one patch version in the work
    tree: what `ct install --upgrade` sees on a pull request that changes a chart."""
    for chart in charts:
        shutil.copytree(ROOT / "charts" / chart, target / "charts" / chart)
    for name in ("ct.yaml", ".yamllint.yaml"):
        shutil.copy(ROOT / name, target / name)
    for path in drop:
        (target / "charts" / path).unlink()

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(target), "-c", "user.email=e2e@wharf.invalid", "-c", "user.name=e2e", *args],
            check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "charts at their released versions")
    for chart in charts:
        meta = target / "charts" / chart / "Chart.yaml"
        text = meta.read_text()
        major, minor, patch = re.search(r"^version: (\d+)\.(\d+)\.(\d+)$", text, re.M).groups()
        meta.write_text(
            text.replace(f"version: {major}.{minor}.{patch}", f"version: {major}.{minor}.{int(patch) + 1}", 1)
        )
    return target


def restricted_namespace(kube, name: str) -> str:
    """Create ``name`` enforcing the restricted Pod Security Standard (pods that break it are refused)."""
    kube.kubectl("create", "namespace", name)
    kube.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")
    return name


def cluster_report(kube, namespace: str) -> str:
    """Pods and events of ``namespace``: what a failed wait should show."""
    events = kube.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False).stdout
    pods = kube.kubectl("get", "pods", "-n", namespace, "-o", "wide", check=False).stdout
    return f"pods:\n{pods}\nevents:\n{events[-4000:]}"


def iris_sdep(name: str, image: str, replicas: int = 1, **component: object) -> dict:
    """A one-model SeldonDeployment of the iris example image (restricted-PSS-compatible container)."""
    container = {
        "name": "classifier",
        "image": image,
        "imagePullPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        # the root filesystem is read-only; the server keeps its metrics files in /tmp
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod = {"containers": [container], "volumes": [{"name": "tmp", "emptyDir": {}}]}
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": name},
        "spec": {
            "predictors": [
                {
                    "name": "default",
                    "replicas": replicas,
                    "graph": {"name": "classifier", "type": "MODEL"},
                    "componentSpecs": [{"spec": pod, **component}],
                }
            ]
        },
    }


def wait_available(kube, namespace: str, name: str, timeout: float = 300) -> dict:
    def available():
        sdep = get(kube, "sdep", name, "-n", namespace)
        return sdep if sdep.get("status", {}).get("state") == "Available" else None

    try:
        return wait_for(f"SeldonDeployment {name} to be Available", available, timeout=timeout)
    except AssertionError as exc:
        status = get(kube, "sdep", name, "-n", namespace).get("status") or {}
        raise AssertionError(
            f"{exc}\nstatus: {status.get('state')}: {status.get('description')}\n{cluster_report(kube, namespace)}"
        ) from None


def service_url(kube, namespace: str, service: str, port: str = "http") -> str:
    spec = get(kube, "service", service, "-n", namespace)["spec"]
    return f"http://{spec['clusterIP']}:{next(p['port'] for p in spec['ports'] if p['name'] == port)}"


def predict(
    url: str,
    rows: list,
    timeout: float = 30,
    settle_s: float = 0,
    path: str = "/api/v1.0/predictions",
    payload: dict | None = None,
) -> dict:
    """POST ``rows`` (or ``payload``, a V2 request say) to ``url`` + ``path``; with ``settle_s``, retry
    "not there yet" that long.

    A Service's endpoints reach kube-proxy's rules a moment after its pods turn Ready (and so after
    the SeldonDeployment turns Available); clients of a new deployment see the same: the connection
    refused, or, with the orchestrator in its own pod, its 503 naming the node it cannot reach yet.
    """
    import urllib.error
    import urllib.request

    body = payload if payload is not None else {"data": {"ndarray": rows}}
    request = urllib.request.Request(
        f"{url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    deadline = time.monotonic() + settle_s
    while True:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:  # the body says which server answered, and why
            body = exc.read()[:2000]
            if exc.code != 503 or time.monotonic() > deadline:
                raise AssertionError(f"POST {url}{path}: HTTP {exc.code}: {body!r}") from None
            time.sleep(0.5)
        except OSError as exc:  # urllib's URLError too; its reason is the socket's error
            refused = isinstance(getattr(exc, "reason", exc), ConnectionRefusedError)
            if not refused or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def example_sdep(images: dict[str, str], name: str, separate: bool) -> dict:
    """examples/graphs/ab-router.yaml with the images built here; ``separate`` puts the orchestrator in its own pod."""
    sdep = copy.deepcopy(yaml.safe_load(GRAPH.read_text()))
    sdep["metadata"] = {"name": name}
    predictor = sdep["spec"]["predictors"][0]
    for container in predictor["componentSpecs"][0]["spec"]["containers"]:
        kind = {"scaler": "scaler", "router": "router"}.get(container["name"], "iris")
        container["image"] = images[kind]
        container["imagePullPolicy"] = "Never"
        # what a user adds for a namespace that enforces the restricted Pod Security Standard
        container["securityContext"] = {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        }
    if separate:
        sdep["spec"]["annotations"] = {"seldon.io/engine-separate-pod": "true"}
        predictor["svcOrchSpec"] = {"env": [{"name": "SELDON_LOG_LEVEL", "value": "INFO"}]}
    return sdep


def iris_answer(rows: list, temperature: float = 1.0):
    """The iris example model's own answer, computed in this process: what the deployed one must give."""
    import sys

    import numpy as np

    sys.path.insert(0, str(EXAMPLES / "iris"))
    try:
        from IrisClassifier import IrisClassifier
    finally:
        sys.path.remove(str(EXAMPLES / "iris"))
    return IrisClassifier(temperature).predict(np.array(rows), [])
