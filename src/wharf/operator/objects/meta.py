"""Labels and metadata every rendered object shares."""

from __future__ import annotations

import copy
from typing import Any

from wharf.deployment.model import SeldonDeployment

MANAGED_BY = {"app.kubernetes.io/managed-by": "seldon-core"}
LABEL_ID = "seldon-deployment-id"
LABEL_APP = "seldon-app"
LABEL_SVC_ORCH = "seldon-deployment-contains-svcorch"
# graph node type -> the label its pod and Service carry
TYPE_LABELS = {
    "MODEL": "seldon.io/model",
    "ROUTER": "seldon.io/router",
    "COMBINER": "seldon.io/combiner",
    "TRANSFORMER": "seldon.io/transformer",
    "OUTPUT_TRANSFORMER": "seldon.io/output-transformer",
}


def owner_reference(sdep: SeldonDeployment) -> list[dict[str, Any]]:
    """The SeldonDeployment as controller of its objects; none when it has no ``metadata.uid``
    (it did not come from a cluster)."""
    if not sdep.uid:
        return []
    return [
        {
            "apiVersion": sdep.api_version or "machinelearning.seldon.io/v1",
            "kind": "SeldonDeployment",
            "name": sdep.name,
            "uid": sdep.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def object_meta(
    name: str,
    namespace: str,
    labels: dict[str, str],
    owners: list[dict[str, Any]],
    annotations: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``metadata`` with its own copies of the labels, annotations and owner references."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    if owners:
        meta["ownerReferences"] = copy.deepcopy(owners)
    return meta
