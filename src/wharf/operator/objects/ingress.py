"""How traffic reaches the predictors: Ambassador v1 Mappings (an annotation on the predictor's
Service) and Istio's VirtualService with one DestinationRule per predictor."""

from __future__ import annotations

from typing import Any

from wharf.deployment import names
from wharf.deployment.model import Predictor
from wharf.operator.objects.context import Context
from wharf.operator.objects.meta import LABEL_ID, MANAGED_BY

GRPC_ISTIO_REGEX = ".*tensorflow.*|.*seldon.protos.*|.*inference.*"
RETRY_ON = "gateway-error,connect-failure,refused-stream"


# --- Ambassador ----------------------------------------------------------------------------------


def _mappings(
    ctx: Context, predictor: Predictor, psvc: str, ports: tuple[int, int], prefix: str, suffix: str
) -> list[dict[str, Any]]:
    """The REST and gRPC Mapping of one predictor under one prefix."""
    name, namespace, p_name = ctx.name, ctx.namespace, predictor.name
    rest: dict[str, Any] = {
        "apiVersion": "ambassador/v1",
        "kind": "Mapping",
        "name": f"seldon_{namespace}_{name}_{p_name}_rest_mapping{suffix}",
        "prefix": prefix,
        "rewrite": "/",
        "service": f"{psvc}.{namespace}:{ports[0]}",
        "timeout_ms": int(ctx.annotation("seldon.io/rest-timeout", "3000")),
    }
    grpc: dict[str, Any] = {
        "apiVersion": "ambassador/v1",
        "kind": "Mapping",
        "name": f"seldon_{namespace}_{name}_{p_name}_grpc_mapping{suffix}",
        "grpc": True,
        "prefix": "/(seldon.protos.*|tensorflow.serving.*|inference.*)/.*",
        "prefix_regex": True,
        "rewrite": "",
        "headers": {"seldon": name},
        "service": f"{psvc}.{namespace}:{ports[1]}",
        "timeout_ms": int(ctx.annotation("seldon.io/grpc-timeout", "3000")),
    }
    first = ctx.model.predictors[0].name == p_name
    for m in (rest, grpc):
        if predictor.shadow:
            m["shadow"] = True
        elif not first:
            m["weight"] = predictor.traffic or 0
    return [rest, grpc]


def ambassador_config(ctx: Context, predictor: Predictor, psvc: str, ports: tuple[int, int]) -> str:
    """Ambassador v1 Mappings as the ``getambassador.io/config`` annotation (YAML documents)."""
    import yaml

    custom = ctx.annotation("seldon.io/ambassador-config")
    if custom:
        return custom
    prefixes = [f"/seldon/{ctx.namespace}/{ctx.name}/"]
    if ctx.config.ambassador_single_namespace:
        prefixes.append(f"/seldon/{ctx.name}/")
    docs = []
    for i, prefix in enumerate(prefixes):
        docs += _mappings(ctx, predictor, psvc, ports, prefix, "" if i == 0 else "_single")
    return "---\n" + yaml.safe_dump_all(docs, sort_keys=False)


# --- Istio ---------------------------------------------------------------------------------------


def _routes(ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
    """The VirtualService's HTTP and gRPC routes, with no destination yet."""
    http_route: dict[str, Any] = {
        "match": [{"uri": {"prefix": f"/seldon/{ctx.namespace}/{ctx.name}/"}}],
        "rewrite": {"uri": "/"},
        "route": [],
    }
    headers = {"seldon": {"exact": ctx.name}, "namespace": {"exact": ctx.namespace}}
    grpc_route: dict[str, Any] = {"match": [{"uri": {"regex": GRPC_ISTIO_REGEX}, "headers": headers}], "route": []}
    retries = ctx.annotation("seldon.io/istio-retries")
    if retries and int(retries) > 0:
        retry = {
            "attempts": int(retries),
            "perTryTimeout": f"{int(ctx.annotation('seldon.io/istio-retries-timeout', '1'))}s",
            "retryOn": RETRY_ON,
        }
        http_route["retries"] = dict(retry)
        grpc_route["retries"] = dict(retry)
    return http_route, grpc_route


def _destination_rule(ctx: Context, predictor: Predictor, psvc: str) -> dict[str, Any]:
    config = ctx.config
    rule: dict[str, Any] = {
        "host": psvc,
        "subsets": [{"name": predictor.name, "labels": {"version": predictor.labels["version"]}}],
        "trafficPolicy": {"tls": {"mode": config.istio_tls_mode}}
        if config.istio_tls_mode
        else {"connectionPool": {"http": {"idleTimeout": "60s"}}},
    }
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "DestinationRule",
        "metadata": ctx.meta(psvc, {LABEL_ID: ctx.sid, **MANAGED_BY}),
        "spec": rule,
    }


def _route_to(route: dict[str, Any], predictor: Predictor, psvc: str, port: int) -> None:
    """The predictor as a weighted destination of the route, or as its mirror when it is a shadow."""
    destination = {"host": psvc, "subset": predictor.name, "port": {"number": port}}
    if predictor.shadow:
        route["mirror"] = destination
        if predictor.traffic:
            route["mirrorPercentage"] = {"value": float(predictor.traffic)}
    else:
        route["route"].append({"destination": destination, "weight": predictor.traffic or 0})


def istio_objects(ctx: Context) -> list[dict[str, Any]]:
    """The VirtualService routing ``/seldon/<namespace>/<name>/`` (and gRPC with the ``seldon`` and
    ``namespace`` headers) to the predictors, then each predictor's DestinationRule."""
    http_route, grpc_route = _routes(ctx)
    rules = []
    for p in ctx.model.predictors:
        psvc = names.predictor_service(ctx.name, p.name, p.annotations)
        ports = (ctx.config.executor_http_port, ctx.config.executor_grpc_port)
        if p.no_engine and p.graph.ports is not None:  # place_engine refused one with no ports
            ports = p.graph.ports
        rules.append(_destination_rule(ctx, p, psvc))
        _route_to(http_route, p, psvc, ports[0])
        _route_to(grpc_route, p, psvc, ports[1])
    hosts = [h.strip() for h in ctx.annotation("seldon.io/istio-host", "*").split(",")]
    vs = {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": ctx.meta(ctx.sid, {LABEL_ID: ctx.sid, **MANAGED_BY}),
        "spec": {
            "hosts": hosts,
            "gateways": [ctx.annotation("seldon.io/istio-gateway", ctx.config.istio_gateway)],
            "http": [http_route, grpc_route],
        },
    }
    return [vs, *rules]
