"""A SeldonDeployment's ``status`` from its rendered objects and its Deployments' status (pure; upstream's states and conditions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wharf.deployment import names
from wharf.deployment.kube import without_nulls
from wharf.deployment.model import SeldonDeployment, parse

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


def prediction_path(sdep: SeldonDeployment) -> str:
    """Where the first predictor answers a prediction, in the SeldonDeployment's protocol."""
    graph = sdep.predictors[0].graph.name
    if sdep.protocol == "tensorflow":
        return f"/v1/models/{graph}:predict"
    if sdep.protocol in ("v2", "kfserving"):
        return f"/v2/models/{graph}/infer"
    return "/api/v1.0/predictions"


@dataclass
class _Deployments:
    """The rendered Deployments as observed: each one's status entry, and what they add up to."""

    status: dict[str, Any] = field(default_factory=dict)
    all_ready: bool = True
    stalled: list[str] = field(default_factory=list)
    replicas: int = 0


def _deployments(
    objects: list[dict[str, Any]], observed: dict[str, dict[str, Any]], failures: dict[str, str]
) -> _Deployments:
    out = _Deployments()
    for dep in (o for o in objects if o["kind"] == "Deployment"):
        name = dep["metadata"]["name"]
        seen = observed.get(name) or {}
        ready = available(seen) if name in observed else False
        out.all_ready &= ready
        if _stalled(seen):
            out.stalled.append(name)
        out.replicas += int(seen.get("replicas") or 0)
        entry = out.status[name] = {
            "name": name,
            "status": "Available" if ready else "Creating",
            "replicas": int(seen.get("replicas") or 0),
            "availableReplicas": int(seen.get("availableReplicas") or 0),
        }
        if not ready and name in failures:
            entry["status"], entry["description"] = "Failed", failures[name]
        elif name in out.stalled:
            entry["status"], entry["description"] = "Failed", NOT_PROGRESSING
    return out


def _address(sdep: SeldonDeployment, services: list[dict[str, Any]]) -> str:
    """The first predictor's Service, on the http port it was rendered with."""
    first = sdep.predictors[0]
    psvc = names.predictor_service(sdep.name, first.name, first.annotations)
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
    return f"http://{psvc}.{sdep.namespace or 'default'}.svc.cluster.local:{http_port}{prediction_path(sdep)}"


def compute(
    sdep: dict[str, Any],
    objects: list[dict[str, Any]],
    observed: dict[str, dict[str, Any]],
    failures: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``observed`` maps Deployment name -> that Deployment's ``status`` (missing: not created yet);
    ``failures`` maps Deployment name -> why its pods cannot start (see :func:`pod_failures`).
    ``sdep`` is one ``objects`` were rendered from: it parses."""
    failures = failures or {}
    model = parse(without_nulls(sdep))
    namespace = model.namespace or "default"
    deployments = _deployments(objects, observed, failures)
    svc_status = {}
    for svc in (o for o in objects if o["kind"] == "Service"):
        name = svc["metadata"]["name"]
        ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
        svc_status[name] = {
            "svcName": name,
            "httpEndpoint": f"{name}.{namespace}:{ports.get('http')}",
            "grpcEndpoint": f"{name}.{namespace}:{ports.get('grpc')}",
        }
    all_ready = deployments.all_ready
    failing = [n for n, d in deployments.status.items() if d.get("description") and n in failures]
    if all_ready:
        state, description = "Available", ""
    elif failing:
        state, description = "Failed", f"Deployment {failing[0]}: {failures[failing[0]]}"
    elif deployments.stalled:
        state, description = "Failed", NOT_PROGRESSING
    else:
        state, description = "Creating", ""
    status = {
        "state": state,
        "description": description,
        "deploymentStatus": deployments.status,
        "serviceStatus": svc_status,
        "replicas": deployments.replicas,
        "address": {"url": _address(model, [o for o in objects if o["kind"] == "Service"])},
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
