"""A SeldonDeployment's ``status`` from its rendered objects and its Deployments' status (pure; upstream's states and conditions)."""

from __future__ import annotations

from typing import Any

from wharf.deployment import names

NOT_PROGRESSING = "Deployment is no longer progressing and not available."


def _available(dep_status: dict[str, Any]) -> bool:
    conditions = {c.get("type"): c for c in dep_status.get("conditions") or []}
    available = conditions.get("Available", {}).get("status") == "True"
    return available and int(dep_status.get("availableReplicas") or 0) >= int(dep_status.get("replicas") or 0)


def _stalled(dep_status: dict[str, Any]) -> bool:
    progressing = {c.get("type"): c for c in dep_status.get("conditions") or []}.get("Progressing", {})
    return progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded"


def prediction_path(sdep: dict[str, Any]) -> str:
    protocol = (sdep.get("spec") or {}).get("protocol") or "seldon"
    graph = ((sdep["spec"]["predictors"][0]).get("graph") or {}).get("name", "")
    if protocol == "tensorflow":
        return f"/v1/models/{graph}:predict"
    if protocol in ("v2", "kfserving"):
        return f"/v2/models/{graph}/infer"
    return "/api/v1.0/predictions"


def compute(sdep: dict[str, Any], objects: list[dict[str, Any]],
            observed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``observed`` maps Deployment name -> that Deployment's ``status`` (missing: not created yet)."""
    namespace = sdep["metadata"].get("namespace") or "default"
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    services = [o for o in objects if o["kind"] == "Service"]
    dep_status: dict[str, Any] = {}
    all_ready, stalled = True, []
    replicas = 0
    for dep in deployments:
        name = dep["metadata"]["name"]
        seen = observed.get(name) or {}
        ready = _available(seen) if name in observed else False
        all_ready &= ready
        if _stalled(seen):
            stalled.append(name)
        replicas += int(seen.get("replicas") or 0)
        dep_status[name] = {"name": name, "status": "Available" if ready else "Creating",
                            "replicas": int(seen.get("replicas") or 0),
                            "availableReplicas": int(seen.get("availableReplicas") or 0)}
        if name in stalled:
            dep_status[name]["status"] = "Failed"
            dep_status[name]["description"] = NOT_PROGRESSING
    svc_status = {}
    for svc in services:
        name = svc["metadata"]["name"]
        ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
        svc_status[name] = {"svcName": name, "httpEndpoint": f"{name}.{namespace}:{ports.get('http')}",
                            "grpcEndpoint": f"{name}.{namespace}:{ports.get('grpc')}"}
    first = sdep["spec"]["predictors"][0]
    psvc = names.predictor_service(sdep["metadata"]["name"], first)
    http_port = next((p["port"] for s in services if s["metadata"]["name"] == psvc for p in s["spec"]["ports"]
                      if p["name"] == "http"), 8000)
    if all_ready:
        state, description = "Available", ""
    elif stalled:
        state, description = "Failed", NOT_PROGRESSING
    else:
        state, description = "Creating", ""
    status = {
        "state": state, "description": description, "deploymentStatus": dep_status, "serviceStatus": svc_status,
        "replicas": replicas,
        "address": {"url": f"http://{psvc}.{namespace}.svc.cluster.local:{http_port}{prediction_path(sdep)}"},
        "conditions": [
            {"type": "DeploymentsReady", "status": str(all_ready), "reason": "" if all_ready else "Deployments not ready"},
            {"type": "ServicesReady", "status": "True"},
            {"type": "Ready", "status": str(all_ready)},
        ],
    }
    generation = sdep["metadata"].get("generation")
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def failed(sdep: dict[str, Any], message: str) -> dict[str, Any]:
    status: dict[str, Any] = {"state": "Failed", "description": message,
                              "conditions": [{"type": "Ready", "status": "False", "reason": "RenderFailed",
                                              "message": message}]}
    if sdep["metadata"].get("generation") is not None:
        status["observedGeneration"] = sdep["metadata"]["generation"]
    return status
