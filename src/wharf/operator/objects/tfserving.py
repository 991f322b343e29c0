"""TENSORFLOW_SERVER: TF Serving as the node's container, or beside Wharf's Seldon-protocol proxy."""

from __future__ import annotations

from typing import Any

from wharf.deployment.defaults import MODEL_MOUNT_PATH
from wharf.deployment.model import Node
from wharf.deployment.validate import SdepError
from wharf.operator.config import OperatorConfig
from wharf.operator.objects.storage import storage_initializer

# With the Seldon protocol: TF Serving in a container of upstream's name beside the proxy, on
# upstream's fixed ports (the proxy reaches it on the pod's loopback).
TFSERVING_CONTAINER = "tfserving"
TFSERVING_GRPC_PORT, TFSERVING_REST_PORT = 2000, 2001


def tfserving_proxy_parameters(node: Node) -> list[dict[str, Any]]:
    """The proxy's parameters as upstream sets them: the user's (signature_name, model_input,
    model_output, ...), TF Serving's endpoints unless the user named either, and ``model_name`` =
    the node's name, which is TF Serving's ``--model_name`` (upstream appends it after the user's, so
    the node's name wins there too)."""
    params = [dict(p.raw) for p in node.parameters if p.name != "model_name"]
    if not any(p["name"] in ("rest_endpoint", "grpc_endpoint") for p in params):
        params += [
            {"name": "rest_endpoint", "value": f"http://0.0.0.0:{TFSERVING_REST_PORT}", "type": "STRING"},
            {"name": "grpc_endpoint", "value": f"0.0.0.0:{TFSERVING_GRPC_PORT}", "type": "STRING"},
        ]
    return params + [{"name": "model_name", "value": node.name, "type": "STRING"}]


def _tfserving_args(node: Node, grpc: int, rest: int) -> list[str]:
    return [
        f"--port={grpc}",
        f"--rest_api_port={rest}",
        f"--model_name={node.name}",
        f"--model_base_path={MODEL_MOUNT_PATH}",
    ]


def _beside_proxy(pod: dict[str, Any], node: Node, config: OperatorConfig) -> dict[str, Any]:
    """The ``tfserving`` container beside the proxy: added, or a user's one completed (image, args and
    ports only where missing)."""
    image = (config.predictor_servers.get("TENSORFLOW_SERVER") or {}).get("tensorflow")
    if not image:
        raise SdepError(
            [
                f"graph node {node.name}: TENSORFLOW_SERVER needs TF Serving's image, and "
                "predictor_servers has no TENSORFLOW_SERVER.protocols.tensorflow entry"
            ]
        )
    wanted: dict[str, Any] = {
        "name": TFSERVING_CONTAINER,
        "image": image,
        "args": _tfserving_args(node, TFSERVING_GRPC_PORT, TFSERVING_REST_PORT),
        "imagePullPolicy": "IfNotPresent",
        "ports": [
            {"containerPort": TFSERVING_GRPC_PORT, "protocol": "TCP"},
            {"containerPort": TFSERVING_REST_PORT, "protocol": "TCP"},
        ],
    }
    found: dict[str, Any] | None = next((c for c in pod["containers"] if c.get("name") == TFSERVING_CONTAINER), None)
    if found is None:
        pod["containers"].append(wanted)  # no graph node has this name, so the loop passes over it
        return wanted
    for key in ("image", "args", "ports"):
        if not found.get(key):
            found[key] = wanted[key]
    return found


def tfserving_setup(
    container: dict[str, Any], pod: dict[str, Any], node: Node, protocol: str, config: OperatorConfig
) -> None:
    """TENSORFLOW_SERVER: TF Serving reads the model from /mnt/models, where the initializer puts it.

    Protocol ``tensorflow``: the node's container is TF Serving, on the node's ports. Protocol
    ``seldon``: the node's container is the proxy, and a ``tfserving`` container is added (or a
    user's one completed). TF Serving's image is left as Google ships it: no security defaults are
    added to it.
    """
    if protocol == "tensorflow":
        served = container
        assert node.ports is not None  # apply_defaults set them: the node runs in this container
        if not served.get("args"):
            http, grpc = node.ports
            served["args"] = _tfserving_args(node, grpc, http)
    else:
        served = _beside_proxy(pod, node, config)
    if node.model_uri:
        storage_initializer(served, pod, node, config)
