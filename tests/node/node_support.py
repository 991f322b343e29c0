"""Helpers for tests on the real node: wait for conditions, small workloads that pass the restricted PSS."""

from __future__ import annotations

import json
import time

RESTRICTED_POD = {"runAsNonRoot": True, "runAsUser": 1001, "runAsGroup": 0,
                  "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]}}


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
    kube.kubectl("apply", "--server-side", "--field-manager=wharf-e2e", *ns, "-f", "-",
                 input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))


def container(name: str, image: str, command: list[str], **extra) -> dict:
    return {"name": name, "image": image, "imagePullPolicy": "Never", "command": command,
            "securityContext": RESTRICTED_CONTAINER,
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}}, **extra}


def job(name: str, image: str, command: list[str]) -> dict:
    """A Job whose one pod runs ``command`` once (no retries, so a failure shows at once)."""
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "securityContext": RESTRICTED_POD,
                "containers": [container("main", image, command)]}}}}


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
