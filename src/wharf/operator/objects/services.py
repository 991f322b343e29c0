"""Services: one per graph node that runs in a container, and the predictor's (``<sdep>-<predictor>``)."""

from __future__ import annotations

from typing import Any

from wharf.deployment.model import Node, Predictor
from wharf.operator.objects.context import Context
from wharf.operator.objects.ingress import ambassador_config
from wharf.operator.objects.meta import LABEL_APP, LABEL_ID, MANAGED_BY


def _service_spec(selector: dict[str, str], http: int, grpc: int) -> dict[str, Any]:
    return {
        "type": "ClusterIP",
        "sessionAffinity": "None",
        "selector": selector,
        "ports": [
            {"name": "http", "protocol": "TCP", "port": http, "targetPort": http},
            {"name": "grpc", "protocol": "TCP", "port": grpc, "targetPort": grpc},
        ],
    }


def unit_service(
    ctx: Context, predictor: Predictor, psvc: str, node: Node, csvc: str, type_label: str | None
) -> dict[str, Any]:
    """The Service ``csvc`` of one graph node, selecting the pods that run its container."""
    assert node.ports is not None  # apply_defaults set them: the node runs in a container
    key = f"seldon-app-svc-{node.name}"
    labels = {key: csvc, LABEL_ID: ctx.sid, LABEL_APP: psvc, **MANAGED_BY}
    if type_label:
        labels[type_label] = "true"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": ctx.meta(csvc, labels, dict(predictor.annotations)),
        "spec": _service_spec({key: csvc}, *node.ports),
    }


def predictor_service(ctx: Context, predictor: Predictor, psvc: str, ports: tuple[int, int]) -> dict[str, Any]:
    """The predictor's Service: to the orchestrator, or with no-engine to the graph's node; headless
    with ``seldon.io/headless-svc``, Ambassador's Mappings in an annotation when Ambassador is on."""
    spec = _service_spec({LABEL_APP: psvc}, *ports)
    if ctx.annotation("seldon.io/headless-svc", "false") != "false":
        spec["clusterIP"] = "None"
    annotations: dict[str, Any] = dict(predictor.annotations)
    if ctx.config.ambassador_enabled:
        annotations["getambassador.io/config"] = ambassador_config(ctx, predictor, psvc, ports)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": ctx.meta(psvc, {LABEL_APP: psvc, LABEL_ID: ctx.sid, **MANAGED_BY}, annotations),
        "spec": spec,
    }
