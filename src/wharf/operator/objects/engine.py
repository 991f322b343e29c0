"""The orchestrator (upstream's executor): its container, and where it runs.

It runs beside the graph node of the first componentSpec, in that node's pod, or in a Deployment of
its own (``seldon.io/engine-separate-pod``); with ``seldon.io/no-engine`` it does not run at all
and the predictor's Service points at the graph's single node.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from wharf.deployment import names
from wharf.deployment.defaults import PODINFO_PATH, PODINFO_VOLUME
from wharf.deployment.model import Predictor
from wharf.deployment.validate import SdepError
from wharf.operator.objects.context import Context
from wharf.operator.objects.meta import LABEL_APP, LABEL_ID, LABEL_SVC_ORCH, MANAGED_BY
from wharf.operator.objects.pods import (
    RESTRICTED_CONTAINER,
    default_seccomp,
    first_set,
    podinfo_volume,
    rolling_update,
    sleep_before_stop,
)

ENGINE_CONTAINER = "seldon-container-engine"
ENGINE_ANNOTATION_PREFIX = "seldon.io/engine-"
NOT_ENGINE_ENV = ("seldon.io/engine-separate-pod",)  # engine-* annotations that are switches, not env
ENGINE_PROBE = {"initialDelaySeconds": 20, "periodSeconds": 5, "failureThreshold": 3, "successThreshold": 1,
                "timeoutSeconds": 60}  # fmt: skip


def engine_predictor(predictor: Predictor) -> str:
    """ENGINE_PREDICTOR: the defaulted PredictorSpec as base64 JSON, with traffic and replicas zeroed,
    creation timestamps blanked and the explainer dropped, as upstream does."""
    spec = copy.deepcopy(dict(predictor.raw))
    spec.pop("traffic", None)
    spec.pop("explainer", None)
    spec["replicas"] = 0
    for component in spec.get("componentSpecs") or []:
        component.setdefault("metadata", {})["creationTimestamp"] = None
    return base64.b64encode(json.dumps(spec, separators=(",", ":")).encode()).decode()


def _engine_env(ctx: Context, predictor: Predictor) -> list[dict[str, Any]]:
    """ENGINE_PREDICTOR, the logger's endpoint, ``svcOrchSpec.env``, then each ``seldon.io/engine-<name>``
    annotation as ``<NAME>`` (a later one replaces an earlier one of the same name)."""
    env: list[dict[str, Any]] = [
        {"name": "ENGINE_PREDICTOR", "value": engine_predictor(predictor)},
        {"name": "REQUEST_LOGGER_DEFAULT_ENDPOINT", "value": ctx.config.executor_logger_endpoint},
    ]
    for item in predictor.svc_orch_spec.env:
        env = [e for e in env if e["name"] != item.get("name")] + [copy.deepcopy(dict(item))]
    annotations = {**ctx.model.annotations, **ctx.model.spec_annotations}
    for key in sorted(annotations):
        if key.startswith(ENGINE_ANNOTATION_PREFIX) and key not in NOT_ENGINE_ENV:
            name = key[len(ENGINE_ANNOTATION_PREFIX) :].replace("-", "_").upper()
            env = [e for e in env if e["name"] != name] + [{"name": name, "value": str(annotations[key])}]
    return env


def _engine_args(ctx: Context, predictor: Predictor) -> list[str]:
    config, sdep = ctx.config, ctx.model
    queue = ctx.annotation("seldon.io/executor-logger-queue-size", config.executor_logger_queue_size)
    timeout = ctx.annotation("seldon.io/executor-logger-write-timeout-ms", config.executor_logger_write_timeout_ms)
    return [
        *("--sdep", ctx.name, "--namespace", ctx.namespace, "--predictor", predictor.name),
        *("--http_port", str(config.executor_http_port), "--grpc_port", str(config.executor_grpc_port)),
        *("--protocol", ctx.protocol, "--transport", sdep.transport),
        *("--prometheus_path", config.executor_prometheus_path, "--server_type", sdep.server_type),
        *("--log_work_buffer_size", queue, "--log_write_timeout_ms", timeout),
        f"--full_health_checks={str(config.executor_full_health_checks).lower()}",
    ]


def _engine_resources(ctx: Context, predictor: Predictor) -> dict[str, Any]:
    config = ctx.config
    resources = predictor.svc_orch_spec.resources or {
        "requests": {"cpu": config.executor_cpu_request, "memory": config.executor_memory_request},
        "limits": {"cpu": config.executor_cpu_limit, "memory": config.executor_memory_limit},
    }
    return copy.deepcopy(dict(resources))


def engine_container(ctx: Context, predictor: Predictor) -> dict[str, Any]:
    config = ctx.config
    http, grpc = config.executor_http_port, config.executor_grpc_port
    scheme = "HTTPS" if predictor.ssl_cert_secret_name else "HTTP"
    container: dict[str, Any] = {
        "name": ENGINE_CONTAINER,
        "image": config.executor_image,
        "imagePullPolicy": config.executor_pull_policy,
        "args": _engine_args(ctx, predictor),
        "env": _engine_env(ctx, predictor),
        # Upstream also lists ``metrics`` on the HTTP port; server-side apply keys container ports by
        # (containerPort, protocol) and rejects that duplicate, so metrics are on the ``http`` port.
        "ports": [
            {"name": "http", "containerPort": http, "protocol": "TCP"},
            {"name": "grpc", "containerPort": grpc, "protocol": "TCP"},
        ],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": http, "scheme": scheme}, **ENGINE_PROBE},
        "livenessProbe": {"httpGet": {"path": "/live", "port": http, "scheme": scheme}, **ENGINE_PROBE},
        "resources": _engine_resources(ctx, predictor),
        # Upstream sets only allowPrivilegeEscalation; the rest makes the orchestrator container pass
        # the `restricted` Pod Security Standard (its image runs as a non-root user and needs no
        # capability).
        "securityContext": copy.deepcopy(RESTRICTED_CONTAINER),  # its own lists, not shared between objects
        "volumeMounts": [{"name": PODINFO_VOLUME, "mountPath": PODINFO_PATH}],
        # Not upstream's (its executor has no hook): without it the orchestrator stops accepting at
        # SIGTERM while kube-proxy still sends it new connections, and a rolling update under load
        # loses requests (measured on a real node: 100 of 38,261).
        "lifecycle": sleep_before_stop(),
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if config.executor_command:
        container["command"] = list(config.executor_command)
    if config.executor_user:
        container["securityContext"]["runAsUser"] = int(config.executor_user)
    return container


def _add_engine(ctx: Context, deployment: dict[str, Any], predictor: Predictor, psvc: str) -> None:
    """The orchestrator beside the graph's first node, in that node's Deployment."""
    spec = deployment["spec"]
    spec["template"]["spec"]["containers"].append(engine_container(ctx, predictor))
    if ctx.config.executor_service_account and not spec["template"]["spec"].get("serviceAccountName"):
        spec["template"]["spec"]["serviceAccountName"] = ctx.config.executor_service_account
    for labels in (deployment["metadata"]["labels"], spec["template"]["metadata"]["labels"]):
        labels[LABEL_APP] = psvc
        labels[LABEL_SVC_ORCH] = "true"
    spec["selector"]["matchLabels"][LABEL_APP] = psvc


def _engine_pod(ctx: Context, predictor: Predictor) -> dict[str, Any]:
    config = ctx.config
    pod: dict[str, Any] = {
        "containers": [engine_container(ctx, predictor)],
        "terminationGracePeriodSeconds": 20,
        "volumes": [podinfo_volume()],
    }
    if config.default_user_id:
        pod["securityContext"] = {"runAsUser": int(config.default_user_id)}
    default_seccomp(pod)
    if config.executor_service_account:
        pod["serviceAccountName"] = config.executor_service_account
    return pod


def _engine_deployment(ctx: Context, predictor: Predictor, psvc: str) -> dict[str, Any]:
    """``seldon.io/engine-separate-pod``: the orchestrator in its own Deployment ``<sdep>-<p>-svc-orch``."""
    name = names.engine_deployment(ctx.name, predictor.name)
    labels = {LABEL_APP: psvc, LABEL_ID: ctx.sid, LABEL_SVC_ORCH: "true", "app": name, **MANAGED_BY}
    pod_labels = {LABEL_APP: psvc, LABEL_ID: ctx.sid, LABEL_SVC_ORCH: "true", "app": name,
                  **predictor.labels}  # fmt: skip
    pod_annotations = {
        "prometheus.io/path": ctx.config.executor_prometheus_path,
        "prometheus.io/scrape": "true",
        **ctx.model.spec_annotations,
        **predictor.annotations,
    }
    replicas = first_set(predictor.svc_orch_spec.replicas, predictor.replicas, ctx.model.replicas)
    out: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": ctx.meta(name, labels),
        "spec": {
            "selector": {"matchLabels": {LABEL_APP: psvc}},
            "strategy": rolling_update(),
            "template": {
                "metadata": {"labels": pod_labels, "annotations": pod_annotations},
                "spec": _engine_pod(ctx, predictor),
            },
        },
    }
    if replicas is not None:
        out["spec"]["replicas"] = replicas
    return out


def place_engine(ctx: Context, predictor: Predictor, psvc: str, deployments: list[dict[str, Any]]) -> tuple[int, int]:
    """Put the orchestrator where it runs (into ``deployments``); returns the (http, grpc) ports the
    predictor's Service targets: the orchestrator's, or with no-engine the graph's single node's."""
    graph = predictor.graph
    if predictor.no_engine:
        if graph.ports is None:
            raise SdepError(
                [
                    f"{predictor.path}.annotations[seldon.io/no-engine]: graph node "
                    f"{graph.name} runs in no container, so nothing would serve the predictor"
                ]
            )
        return graph.ports
    host = next((n for n in graph.walk() if n.endpoint is not None and n.endpoint.service_host == "localhost"), None)
    if ctx.model.engine_separate or host is None:
        # host None: no node runs in the first componentSpec's pod, either because the graph is all
        # built-in implementations (RANDOM_ABTEST, SIMPLE_MODEL, ...) the orchestrator serves itself,
        # or because the node's container is in several componentSpecs. Upstream's operator stops
        # there ("not clear where to inject engine"); the orchestrator gets the pod of its own that
        # seldon.io/engine-separate-pod renders, the one shape that needs no graph container.
        deployments.append(_engine_deployment(ctx, predictor, psvc))
    else:
        target = next((d for d in deployments if any(c["name"] == host.name for c in _containers(d))), None)
        if target is None:
            raise SdepError(
                [
                    f"{predictor.path}.componentSpecs[0]: no graph node runs in the first "
                    "componentSpec, so there is no pod to put the orchestrator in"
                ]
            )
        _add_engine(ctx, target, predictor, psvc)
    return ctx.config.executor_http_port, ctx.config.executor_grpc_port


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return deployment["spec"]["template"]["spec"]["containers"]  # type: ignore[no-any-return]
