"""A SeldonDeployment's ``status`` from its rendered objects and its Deployments' status (pure; upstream's states and conditions)."""

from __future__ import annotations

from typing import Any

from wharf.deployment import names

NOT_PROGRESSING = "Deployment is no longer progressing and not available."

# A container waiting for one of these reasons will not start until someone removes the cause (a
# missing image or Secret, a crash on every start); the kubelet keeps retrying with back-off, so
# the SeldonDeployment says Failed, with the cause, instead of Creating until the progress deadline.
STUCK_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
MESSAGE_LIMIT = 300  # characters of a container's termination message kept in the status


def _last_line(text: str) -> str:
    """The last non-empty line of a termination message (with FallbackToLogsOnError, the log's tail)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 3] + "..."


def _container_failure(kind: str, status: dict[str, Any]) -> str | None:
    state = status.get("state") or {}
    if state.get("running"):
        return None
    terminated = state.get("terminated")
    waiting = state.get("waiting") or {}
    if terminated is None and waiting.get("reason") == "CrashLoopBackOff":
        terminated = (status.get("lastState") or {}).get("terminated")  # why it keeps failing
    name = status.get("name", "?")
    if terminated and terminated.get("exitCode", 0) != 0:
        why = _last_line(terminated.get("message", "")) or terminated.get("reason", "")
        restarts = int(status.get("restartCount") or 0)
        tries = f", {restarts} restart{'s' if restarts != 1 else ''}" if restarts else ""
        return f"{kind} {name} failed (exit code {terminated['exitCode']}{tries})" + (f": {why}" if why else "")
    if waiting.get("reason") in STUCK_REASONS:
        message = _last_line(waiting.get("message", ""))
        return f"{kind} {name}: {waiting['reason']}" + (f": {message}" if message else "")
    return None


def pod_failure(pod: dict[str, Any]) -> str | None:
    """Why this pod cannot become ready, from the status its kubelet reports; None while it still may.

    Init containers first (they run before the others, so a failed one is the cause): a storage
    initializer that cannot fetch the modelUri exits non-zero and its last log line names the URI.
    """
    status = pod.get("status") or {}
    for kind, key in (("init container", "initContainerStatuses"), ("container", "containerStatuses")):
        for container in status.get(key) or []:
            failure = _container_failure(kind, container)
            if failure:
                return failure
    return None


def pod_failures(pods: list[dict[str, Any]]) -> dict[str, str]:
    """Deployment name (the pods' ``app`` label) -> the first failure among its pods."""
    out: dict[str, str] = {}
    for pod in pods:
        deployment = ((pod.get("metadata") or {}).get("labels") or {}).get("app")
        failure = pod_failure(pod)
        if deployment and failure and deployment not in out:
            out[deployment] = f"pod {pod['metadata'].get('name', '?')}: {failure}"
    return out


def available(dep_status: dict[str, Any]) -> bool:
    conditions = {c.get("type"): c for c in dep_status.get("conditions") or []}
    available = conditions.get("Available", {}).get("status") == "True"
    return available and int(dep_status.get("availableReplicas") or 0) >= int(dep_status.get("replicas") or 0)


def _stalled(dep_status: dict[str, Any]) -> bool:
    conditions: dict[str, dict[str, Any]] = {c.get("type"): c for c in dep_status.get("conditions") or []}
    progressing = conditions.get("Progressing", {})
    return progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded"


def prediction_path(sdep: dict[str, Any]) -> str:
    protocol = (sdep.get("spec") or {}).get("protocol") or "seldon"
    graph = ((sdep["spec"]["predictors"][0]).get("graph") or {}).get("name", "")
    if protocol == "tensorflow":
        return f"/v1/models/{graph}:predict"
    if protocol in ("v2", "kfserving"):
        return f"/v2/models/{graph}/infer"
    return "/api/v1.0/predictions"


def compute(
    sdep: dict[str, Any],
    objects: list[dict[str, Any]],
    observed: dict[str, dict[str, Any]],
    failures: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``observed`` maps Deployment name -> that Deployment's ``status`` (missing: not created yet);
    ``failures`` maps Deployment name -> why its pods cannot start (see :func:`pod_failures`)."""
    failures = failures or {}
    namespace = sdep["metadata"].get("namespace") or "default"
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    services = [o for o in objects if o["kind"] == "Service"]
    dep_status: dict[str, Any] = {}
    all_ready, stalled = True, []
    replicas = 0
    for dep in deployments:
        name = dep["metadata"]["name"]
        seen = observed.get(name) or {}
        ready = available(seen) if name in observed else False
        all_ready &= ready
        if _stalled(seen):
            stalled.append(name)
        replicas += int(seen.get("replicas") or 0)
        dep_status[name] = {
            "name": name,
            "status": "Available" if ready else "Creating",
            "replicas": int(seen.get("replicas") or 0),
            "availableReplicas": int(seen.get("availableReplicas") or 0),
        }
        if not ready and name in failures:
            dep_status[name]["status"] = "Failed"
            dep_status[name]["description"] = failures[name]
        elif name in stalled:
            dep_status[name]["status"] = "Failed"
            dep_status[name]["description"] = NOT_PROGRESSING
    svc_status = {}
    for svc in services:
        name = svc["metadata"]["name"]
        ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
        svc_status[name] = {
            "svcName": name,
            "httpEndpoint": f"{name}.{namespace}:{ports.get('http')}",
            "grpcEndpoint": f"{name}.{namespace}:{ports.get('grpc')}",
        }
    first = sdep["spec"]["predictors"][0]
    psvc = names.predictor_service(sdep["metadata"]["name"], first["name"], first.get("annotations") or {})
    http_port = next(
        (
            p["port"]
            for s in services
            if s["metadata"]["name"] == psvc
            for p in s["spec"]["ports"]
            if p["name"] == "http"
        ),
        8000,
    )
    failing = [n for n, d in dep_status.items() if d.get("description") and n in failures]
    if all_ready:
        state, description = "Available", ""
    elif failing:
        state, description = "Failed", f"Deployment {failing[0]}: {failures[failing[0]]}"
    elif stalled:
        state, description = "Failed", NOT_PROGRESSING
    else:
        state, description = "Creating", ""
    status = {
        "state": state,
        "description": description,
        "deploymentStatus": dep_status,
        "serviceStatus": svc_status,
        "replicas": replicas,
        "address": {"url": f"http://{psvc}.{namespace}.svc.cluster.local:{http_port}{prediction_path(sdep)}"},
        "conditions": [
            {
                "type": "DeploymentsReady",
                "status": str(all_ready),
                "reason": "" if all_ready else "Deployments not ready",
                **({"message": description} if failing else {}),
            },
            {"type": "ServicesReady", "status": "True"},
            {"type": "Ready", "status": str(all_ready)},
        ],
    }
    generation = sdep["metadata"].get("generation")
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def failed(sdep: dict[str, Any], message: str) -> dict[str, Any]:
    status: dict[str, Any] = {
        "state": "Failed",
        "description": message,
        "conditions": [{"type": "Ready", "status": "False", "reason": "RenderFailed", "message": message}],
    }
    if sdep["metadata"].get("generation") is not None:
        status["observedGeneration"] = sdep["metadata"]["generation"]
    return status
