"""The storage initializer: an init container copying a graph node's ``modelUri`` to /mnt/models."""

from __future__ import annotations

from typing import Any

from wharf.deployment.defaults import MODEL_MOUNT_PATH
from wharf.deployment.model import Node
from wharf.operator.config import OperatorConfig
from wharf.operator.objects.pods import restricted_defaults

PVC_SOURCE_VOLUME = "kfserving-pvc-source"  # upstream's names (its injector came from KFServing)
PVC_SOURCE_PATH = "/mnt/pvc"


def _mount_pvc(container: dict[str, Any], pod: dict[str, Any], uri: str) -> tuple[str, list[dict[str, Any]]]:
    """``pvc://<claim>/<path>``: the claim mounted read-only at /mnt/pvc in the pod and the model's
    container; returns the path the initializer copies and its own mounts."""
    claim, _, sub_path = uri[len("pvc://") :].partition("/")
    if not any(v.get("name") == PVC_SOURCE_VOLUME for v in pod.get("volumes") or []):
        pod.setdefault("volumes", []).append({"name": PVC_SOURCE_VOLUME, "persistentVolumeClaim": {"claimName": claim}})
    pvc_mount = {"name": PVC_SOURCE_VOLUME, "mountPath": PVC_SOURCE_PATH, "readOnly": True}
    if not any(m.get("name") == PVC_SOURCE_VOLUME for m in container.get("volumeMounts") or []):
        container.setdefault("volumeMounts", []).append(dict(pvc_mount))
    return f"{PVC_SOURCE_PATH}/{sub_path}", [pvc_mount]


def storage_initializer(container: dict[str, Any], pod: dict[str, Any], node: Node, config: OperatorConfig) -> None:
    """The init container copying ``modelUri`` to /mnt/models, on an emptyDir shared with the model's container.

    ``pvc://<claim>/<path>``: the claim is mounted read-only at /mnt/pvc in both containers and
    the initializer copies ``/mnt/pvc/<path>``, as upstream's operator does.
    """
    volume = f"{container['name']}-provision-location"[:63].rstrip("-")
    init_name = f"{container['name']}-model-initializer"[:63].rstrip("-")
    if any(c.get("name") == init_name for c in pod.get("initContainers") or []):
        return
    assert node.model_uri  # the callers' condition
    uri = node.model_uri
    init_mounts: list[dict[str, Any]] = []
    if uri.startswith("pvc://"):
        uri, init_mounts = _mount_pvc(container, pod, uri)
    pod.setdefault("volumes", []).append({"name": volume, "emptyDir": {}})
    container.setdefault("volumeMounts", []).append({"name": volume, "mountPath": MODEL_MOUNT_PATH, "readOnly": True})
    init: dict[str, Any] = {
        "name": init_name,
        "image": node.storage_initializer_image or config.storage_initializer_image,
        "args": [uri, MODEL_MOUNT_PATH],
        "volumeMounts": [*init_mounts, {"name": volume, "mountPath": MODEL_MOUNT_PATH}],
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        # upstream says File, which its rclone image never writes; the log's last lines name the URI
        # and the cause in the pod's status instead (kubectl describe, the operator's events)
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    }
    secret = node.env_secret_ref_name or config.unit_default_env_secret
    if secret:
        init["envFrom"] = [{"secretRef": {"name": secret}}]
    restricted_defaults(init)
    pod.setdefault("initContainers", []).append(init)
