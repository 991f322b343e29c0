"""Every object of one predictor: its Deployments (with the orchestrator placed), Services, HPAs
and PDBs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wharf.deployment import names
from wharf.deployment.model import Predictor
from wharf.operator.objects.autoscaling import scaling
from wharf.operator.objects.context import Context
from wharf.operator.objects.deployments import component_deployment
from wharf.operator.objects.engine import place_engine
from wharf.operator.objects.services import predictor_service


@dataclass
class PredictorObjects:
    deployments: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    scaling: list[dict[str, Any]] = field(default_factory=list)


def predictor_objects(ctx: Context, predictor: Predictor) -> PredictorObjects:
    """The objects of one of ``spec.predictors``, in the order they are applied."""
    psvc = names.predictor_service(ctx.name, predictor.name, predictor.annotations)
    out = PredictorObjects()
    unit_services: dict[str, dict[str, Any]] = {}  # a node in several componentSpecs still gets one Service
    for component in predictor.component_specs:
        built = component_deployment(ctx, predictor, component)
        if built is None:
            continue
        deployment, services = built
        for service in services:
            unit_services.setdefault(service["metadata"]["name"], service)
        out.scaling += scaling(ctx, predictor, component, deployment)
        out.deployments.append(deployment)
    ports = place_engine(ctx, predictor, psvc, out.deployments)
    out.services = [*unit_services.values(), predictor_service(ctx, predictor, psvc, ports)]
    return out
