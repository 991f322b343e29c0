"""What every pod and container the operator writes gets: env, probes, hooks, security defaults."""

from __future__ import annotations

import copy
from typing import Any

from wharf.deployment.defaults import PODINFO_VOLUME

# What the `restricted` Pod Security Standard asks of each container, for the containers whose image
# the operator chooses (orchestrator, prepackaged servers, storage initializer): Wharf's images run
# as a non-root user and need no capability. Keys a SeldonDeployment sets itself are kept.
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True}


def rolling_update() -> dict[str, Any]:
    """The Deployments' update strategy (a new dict each time: objects share no structure)."""
    return {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}}


def set_env(container: dict[str, Any], name: str, value: str, overwrite: bool = True) -> None:
    env = container.setdefault("env", [])
    for item in env:
        if item.get("name") == name:
            if overwrite:
                item.pop("valueFrom", None)
                item["value"] = value
            return
    env.append({"name": name, "value": value})


def sleep_before_stop() -> dict[str, Any]:
    """Upstream's preStop hook for graph containers: 10 s in which the pod's endpoints leave every
    Service (and kube-proxy's rules) while the container still serves, before it gets SIGTERM."""
    return {"preStop": {"exec": {"command": ["/bin/sh", "-c", "/bin/sleep 10"]}}}


def restricted_defaults(container: dict[str, Any]) -> None:
    context = container.setdefault("securityContext", {})
    for key, value in RESTRICTED_CONTAINER.items():
        context.setdefault(key, copy.deepcopy(value))


def default_seccomp(pod: dict[str, Any]) -> None:
    """The container runtime's default seccomp profile unless the pod names one (upstream names none).

    The `restricted` Pod Security Standard requires a profile; RuntimeDefault is what most clusters
    apply anyway, so model containers behave the same and the pod is admitted.
    """
    pod.setdefault("securityContext", {}).setdefault("seccompProfile", {"type": "RuntimeDefault"})


def tcp_probe(port: int, delay: int) -> dict[str, Any]:
    return {
        "tcpSocket": {"port": port},
        "initialDelaySeconds": delay,
        "periodSeconds": 5,
        "successThreshold": 1,
        "failureThreshold": 3,
        "timeoutSeconds": 1,
    }


def podinfo_volume() -> dict[str, Any]:
    """The downward-API volume holding the pod's annotations, which the graph's containers read."""
    return {
        "name": PODINFO_VOLUME,
        "downwardAPI": {
            "items": [{"path": "annotations", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"}}],
            "defaultMode": 420,
        },
    }


def first_set(*values: Any) -> Any:
    """The first value that is not None (a replicas count, from the most specific level up)."""
    return next((v for v in values if v is not None), None)
