"""Replicas, HorizontalPodAutoscaler and PodDisruptionBudget of a componentSpec's Deployment.

A ``kedaSpec`` leaves the replicas to KEDA: the Deployment gets neither replicas nor an HPA. Wharf
does not render the KEDA ScaledObject itself yet (docs/operator.md, "Not done yet").
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from wharf.deployment.model import ComponentSpec, Predictor
from wharf.operator.objects.context import Context
from wharf.operator.objects.meta import LABEL_ID, MANAGED_BY
from wharf.operator.objects.pods import first_set


def _resource_metric(resource: dict[str, Any]) -> dict[str, Any]:
    if "targetAverageUtilization" in resource:
        target = {"type": "Utilization", "averageUtilization": resource["targetAverageUtilization"]}
    else:
        target = {"type": "AverageValue", "averageValue": resource.get("targetAverageValue")}
    return {"type": "Resource", "resource": {"name": resource.get("name"), "target": target}}


def _pods_metric(pods: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Pods",
        "pods": {
            "metric": {"name": pods.get("metricName")},
            "target": {"type": "AverageValue", "averageValue": pods.get("targetAverageValue")},
        },
    }


def hpa_metrics(hpa: Mapping[str, Any]) -> list[dict[str, Any]]:
    """autoscaling/v2 metrics: ``metricsv2`` as given, else ``metrics`` converted from v2beta1."""
    if hpa.get("metricsv2"):
        return copy.deepcopy(list(hpa["metricsv2"]))
    out = []
    for m in hpa.get("metrics") or []:
        kind = m.get("type")
        if kind == "Resource":
            out.append(_resource_metric(m.get("resource") or {}))
        elif kind == "Pods":
            out.append(_pods_metric(m.get("pods") or {}))
        else:
            out.append(copy.deepcopy(m))
    return out


def _hpa(ctx: Context, name: str, hpa: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "maxReplicas": hpa["maxReplicas"],
        "metrics": hpa_metrics(hpa),
    }
    if hpa.get("minReplicas") is not None:
        spec["minReplicas"] = hpa["minReplicas"]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": ctx.meta(name, {LABEL_ID: ctx.sid, **MANAGED_BY}),
        "spec": spec,
    }


def _pdb(ctx: Context, name: str, pdb_spec: Mapping[str, Any]) -> dict[str, Any]:
    pdb = {k: v for k, v in pdb_spec.items() if k in ("minAvailable", "maxUnavailable")}
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": ctx.meta(name, {LABEL_ID: ctx.sid, **MANAGED_BY}),
        "spec": {**pdb, "selector": {"matchLabels": {LABEL_ID: ctx.sid}}},
    }


def scaling(
    ctx: Context, predictor: Predictor, component: ComponentSpec, deployment: dict[str, Any]
) -> list[dict[str, Any]]:
    """The HPA and PDB of a componentSpec's Deployment; sets its replicas when nothing scales it."""
    name = deployment["metadata"]["name"]
    hpa, keda = component.hpa_spec, component.keda_spec
    out = []
    if hpa and not keda:
        out.append(_hpa(ctx, name, hpa))
    elif not keda:
        replicas = first_set(component.replicas, predictor.replicas, ctx.model.replicas)
        if replicas is not None:
            deployment["spec"]["replicas"] = replicas
    if component.pdb_spec:
        out.append(_pdb(ctx, name, component.pdb_spec))
    return out
