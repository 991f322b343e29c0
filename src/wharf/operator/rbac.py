"""The operator's RBAC rules: the one list the kustomize ClusterRole and the chart's Role/ClusterRole use.

Least privilege: the kinds ``render()`` can produce (write), SeldonDeployments (read, status
write), events (create), and what kopf needs to discover and watch resources.
"""

from __future__ import annotations

from typing import Any

WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]
READ = ["get", "list", "watch"]


def rules() -> list[dict[str, Any]]:
    return [
        {
            "apiGroups": ["machinelearning.seldon.io"],
            "resources": ["seldondeployments"],
            "verbs": ["get", "list", "watch", "patch", "update"],
        },
        {
            "apiGroups": ["machinelearning.seldon.io"],
            "resources": ["seldondeployments/status"],
            "verbs": ["get", "patch", "update"],
        },
        # blockOwnerDeletion on owned objects needs update on the owner's finalizers subresource.
        {
            "apiGroups": ["machinelearning.seldon.io"],
            "resources": ["seldondeployments/finalizers"],
            "verbs": ["update"],
        },
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": WRITE},
        {"apiGroups": [""], "resources": ["services"], "verbs": WRITE},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": WRITE},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": WRITE},
        {"apiGroups": ["networking.istio.io"], "resources": ["virtualservices", "destinationrules"], "verbs": WRITE},
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
        # Read-only: a pod that cannot start (storage initializer, image pull) makes the status Failed.
        {"apiGroups": [""], "resources": ["pods"], "verbs": READ},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": READ},
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": READ},
    ]


def leader_election_rules() -> list[dict[str, Any]]:
    """The Lease replicas elect a leader with (operator/leader.py): only in the operator's namespace."""
    return [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}]


def cluster_role(name: str = "wharf-operator") -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "wharf"}},
        "rules": rules(),
    }
