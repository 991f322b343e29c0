"""A graph node's container: the ports, probes, hooks and env the operator gives it, and the
setup of the prepackaged servers (model path, MLServer settings, security defaults)."""

from __future__ import annotations

import json
from typing import Any

from wharf.deployment.defaults import MODEL_MOUNT_PATH
from wharf.deployment.model import Node, Predictor, parse, writable
from wharf.deployment.servers import MLSERVER_IMPLEMENTATIONS
from wharf.operator.config import OperatorConfig
from wharf.operator.objects.context import Context
from wharf.operator.objects.pods import restricted_defaults, set_env, sleep_before_stop, tcp_probe
from wharf.operator.objects.tfserving import tfserving_proxy_parameters


def _compact(value: Any, sort_keys: bool = False) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=sort_keys)


def _unit_ports(container: dict[str, Any], http: int, grpc: int, metrics_port: int, config: OperatorConfig) -> str:
    """The node's http, grpc and metrics ports where the container does not name them; returns the
    metrics port the container ends up with."""
    ports = container.setdefault("ports", [])
    have = {p.get("name") for p in ports}
    if "http" not in have:
        ports.append({"name": "http", "containerPort": http, "protocol": "TCP"})
    if "grpc" not in have:
        ports.append({"name": "grpc", "containerPort": grpc, "protocol": "TCP"})
    if config.unit_metrics_port_name not in have:
        ports.append({"name": config.unit_metrics_port_name, "containerPort": metrics_port, "protocol": "TCP"})
    return str(next(p["containerPort"] for p in ports if p.get("name") == config.unit_metrics_port_name))


def _user_env(container: dict[str, Any], node: Node, probe_port: int, http: int, grpc: int) -> None:
    """The env a user may set otherwise: kept where the container has it."""
    set_env(container, "PREDICTIVE_UNIT_SERVICE_PORT", str(probe_port), overwrite=False)
    for name in ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "MLSERVER_HTTP_PORT"):
        set_env(container, name, str(http), overwrite=False)
    for name in ("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "MLSERVER_GRPC_PORT"):
        set_env(container, name, str(grpc), overwrite=False)
    if node.parameters:
        set_env(container, "PREDICTIVE_UNIT_PARAMETERS", _compact([p.raw for p in node.parameters]), overwrite=False)
    if node.model_uri:
        set_env(container, "MLSERVER_MODEL_URI", MODEL_MOUNT_PATH, overwrite=False)


def _operator_env(ctx: Context, predictor: Predictor, container: dict[str, Any], metrics: str) -> None:
    """The env the operator always sets, over the container's own."""
    path = ctx.config.executor_prometheus_path
    for name, value in (
        ("PREDICTIVE_UNIT_ID", container["name"]),
        ("MLSERVER_MODEL_NAME", container["name"]),
        ("PREDICTIVE_UNIT_IMAGE", container.get("image", "")),
        ("PREDICTOR_ID", predictor.name),
        ("PREDICTOR_LABELS", _compact(predictor.labels, sort_keys=True)),
        ("SELDON_DEPLOYMENT_ID", ctx.name),
        ("SELDON_EXECUTOR_ENABLED", "true"),
        ("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", metrics),
        ("MLSERVER_METRICS_PORT", metrics),
        ("PREDICTIVE_UNIT_METRICS_ENDPOINT", path),
        ("MLSERVER_METRICS_ENDPOINT", path),
    ):
        set_env(container, name, value)


def unit_container(ctx: Context, predictor: Predictor, container: dict[str, Any], node: Node) -> None:
    """Ports, probes, lifecycle and env the operator gives a graph node's container (in place)."""
    assert node.endpoint is not None and node.ports is not None  # apply_defaults set them: it runs here
    http, grpc = node.ports
    grpc_transport = ctx.model.transport == "grpc" or node.endpoint.type == "GRPC"
    metrics = _unit_ports(container, http, grpc, ctx.metrics[container["name"]], ctx.config)
    probe_port = grpc if grpc_transport else http
    container.setdefault("livenessProbe", tcp_probe(probe_port, 60))
    container.setdefault("readinessProbe", tcp_probe(probe_port, 20))
    container.setdefault("lifecycle", sleep_before_stop())
    _user_env(container, node, probe_port, http, grpc)
    _operator_env(ctx, predictor, container, metrics)


def _prepackaged_setup(container: dict[str, Any], node: Node, protocol: str) -> None:
    """The Seldon-protocol Python servers read their model from /mnt/models, where the initializer put it.

    Those are the component server's images (Wharf's by default), which run as a non-root user
    with no capability; other servers' images (TF Serving, Triton) are left as their makers ship them.
    """
    if protocol == "seldon" and node.implementation == "TENSORFLOW_SERVER":
        restricted_defaults(container)  # Wharf's proxy image; TF Serving itself is in its own container
        writable(node.raw)["parameters"] = tfserving_proxy_parameters(node)
    elif protocol == "seldon":
        restricted_defaults(container)
        params = [dict(p.raw) for p in node.parameters if p.name != "model_uri"]
        writable(node.raw)["parameters"] = params + [{"name": "model_uri", "value": MODEL_MOUNT_PATH, "type": "STRING"}]
    elif protocol in ("v2", "kfserving"):
        set_env(container, "MLSERVER_PARALLEL_WORKERS", "0", overwrite=False)
        # the runtime MLServer loads for a model folder without model-settings.json, and the version
        # upstream names every model with (/v2/models/<name>/versions/v1/...); the user's env wins
        implementation = MLSERVER_IMPLEMENTATIONS.get(node.implementation_or_default)
        if implementation:
            set_env(container, "MLSERVER_MODEL_IMPLEMENTATION", implementation, overwrite=False)
            set_env(container, "MLSERVER_MODEL_VERSION", "v1", overwrite=False)
            # MLServer images run as a numeric non-root user (Wharf's: 1001, upstream's: 1000)
            restricted_defaults(container)


def prepare_prepackaged(defaulted: dict[str, Any]) -> None:
    """Each prepackaged server's setup, in the (defaulted) SeldonDeployment itself: the parameters it
    adds to a node must be in ENGINE_PREDICTOR, which is built from the predictor afterwards."""
    sdep = parse(defaulted)
    for predictor in sdep.predictors:
        for _, container in predictor.containers():
            node = predictor.graph.find(container.name)
            if node is not None and node.prepackaged:
                _prepackaged_setup(writable(container.raw), node, sdep.protocol)
