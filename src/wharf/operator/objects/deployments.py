"""One Deployment per componentSpec: its pod with the graph nodes' containers wired, and the
Service of each node that runs in it."""

from __future__ import annotations

import copy
from typing import Any

from wharf.deployment import names
from wharf.deployment.defaults import PODINFO_VOLUME
from wharf.deployment.model import ComponentSpec, Predictor
from wharf.operator.objects.context import Context
from wharf.operator.objects.meta import LABEL_APP, LABEL_ID, MANAGED_BY, TYPE_LABELS
from wharf.operator.objects.pods import default_seccomp, podinfo_volume, rolling_update
from wharf.operator.objects.services import unit_service
from wharf.operator.objects.storage import storage_initializer
from wharf.operator.objects.tfserving import tfserving_setup
from wharf.operator.objects.units import unit_container


def _labels(
    ctx: Context, predictor: Predictor, component: ComponentSpec, dep_name: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The Deployment's labels and its pods' labels, before the graph nodes add theirs."""
    labels = {LABEL_ID: ctx.sid, "app": dep_name, "fluentd": "true", **MANAGED_BY}
    pod_labels = {LABEL_ID: ctx.sid, "app": dep_name, "fluentd": "true"}
    if predictor.shadow:
        pod_labels["seldon.io/shadow"] = "true"
        labels["seldon.io/shadow"] = "true"
    for source in (predictor.labels, component.labels):
        labels.update(source)
        pod_labels.update(source)
    return labels, pod_labels


def _annotations(ctx: Context, predictor: Predictor, component: ComponentSpec) -> dict[str, Any]:
    return {**ctx.model.spec_annotations, **predictor.annotations, **component.annotations}


def _pod_defaults(ctx: Context, pod: dict[str, Any]) -> None:
    pod.setdefault("terminationGracePeriodSeconds", 20)
    pod.setdefault("restartPolicy", "Always")
    pod.setdefault("dnsPolicy", "ClusterFirst")
    pod.setdefault("schedulerName", "default-scheduler")
    if ctx.config.default_user_id and not (pod.get("securityContext") or {}).get("runAsUser"):
        pod.setdefault("securityContext", {})["runAsUser"] = int(ctx.config.default_user_id)
    default_seccomp(pod)
    if not any(v.get("name") == PODINFO_VOLUME for v in pod.get("volumes") or []):
        pod.setdefault("volumes", []).append(podinfo_volume())


def _wire_units(
    ctx: Context,
    predictor: Predictor,
    pod: dict[str, Any],
    labels: dict[str, str],
    pod_labels: dict[str, str],
    selector: dict[str, str],
) -> list[dict[str, Any]]:
    """Each graph node's container in the pod completed and its labels added (its type's label not
    to the selector); returns the nodes' Services."""
    psvc = names.predictor_service(ctx.name, predictor.name, predictor.annotations)
    services = []
    for container in pod["containers"]:
        node = predictor.graph.find(container["name"])
        if node is None:
            continue
        type_label = TYPE_LABELS.get(node.type or "")
        if type_label:
            labels[type_label] = pod_labels[type_label] = "true"
        csvc = names.container_service(ctx.name, predictor.name, node.name)
        key = f"seldon-app-svc-{node.name}"
        labels[key] = pod_labels[key] = selector[key] = csvc
        unit_container(ctx, predictor, container, node)
        if node.implementation == "TENSORFLOW_SERVER":
            tfserving_setup(container, pod, node, ctx.protocol, ctx.config)
        elif node.model_uri:
            storage_initializer(container, pod, node, ctx.config)
        services.append(unit_service(ctx, predictor, psvc, node, csvc, type_label))
        if predictor.no_engine:  # the predictor's Service selects the node's pods
            labels[LABEL_APP] = pod_labels[LABEL_APP] = selector[LABEL_APP] = psvc
    return services


def component_deployment(
    ctx: Context, predictor: Predictor, component: ComponentSpec
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The Deployment of one componentSpec and the Services of the graph nodes in it; None for a
    componentSpec with no container."""
    if not component.containers:
        return None
    pod: dict[str, Any] = copy.deepcopy(dict(component.pod))  # the pod as written, completed below
    config = ctx.config
    dep_name = names.deployment_name(ctx.name, predictor.name, component, config.deployment_name_as_prefix)
    labels, pod_labels = _labels(ctx, predictor, component, dep_name)
    annotations = _annotations(ctx, predictor, component)
    pod_annotations = {"prometheus.io/path": config.executor_prometheus_path, "prometheus.io/scrape": "true",
                       **annotations}  # fmt: skip
    selector = {LABEL_ID: ctx.sid}
    services = _wire_units(ctx, predictor, pod, labels, pod_labels, selector)
    _pod_defaults(ctx, pod)
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": ctx.meta(dep_name, labels, annotations),
        "spec": {
            "selector": {"matchLabels": selector},
            "strategy": rolling_update(),
            "template": {"metadata": {"labels": pod_labels, "annotations": pod_annotations}, "spec": pod},
        },
    }
    if predictor.progress_deadline_seconds:
        deployment["spec"]["progressDeadlineSeconds"] = predictor.progress_deadline_seconds
    return deployment, services
