"""Thin kopf handlers: render, server-side apply, prune, status. All decisions are in render/status.

A SeldonDeployment that cannot be rendered gets ``status.state: Failed`` with a description naming
the field, and a Warning event; the handler does not raise, so kopf goes on with the others.
API errors raise ``kopf.TemporaryError`` and kopf retries with backoff.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypedDict

import kopf
from kubernetes import client
from kubernetes import config as kube_config

from wharf.deployment import names
from wharf.deployment.crd import GROUP, PLURAL
from wharf.deployment.validate import SdepError
from wharf.operator import status as status_mod
from wharf.operator.config import OperatorConfig
from wharf.operator.render import LABEL_ID, render

FIELD_MANAGER = "wharf-operator"
ANNOTATION_PREFIX = "wharf.seldon.io"
log = logging.getLogger(__name__)

# apiVersion, kind -> (URL prefix, plural): every kind render() can produce, for apply and prune.
KINDS = {
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments"),
    ("v1", "Service"): ("/api/v1", "services"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ("/apis/autoscaling/v2", "horizontalpodautoscalers"),
    ("policy/v1", "PodDisruptionBudget"): ("/apis/policy/v1", "poddisruptionbudgets"),
    ("networking.istio.io/v1alpha3", "VirtualService"): ("/apis/networking.istio.io/v1alpha3", "virtualservices"),
    ("networking.istio.io/v1alpha3", "DestinationRule"): ("/apis/networking.istio.io/v1alpha3", "destinationrules"),
}


class Cluster:
    """The few API calls the handlers make, on one kubernetes ApiClient."""

    def __init__(self, api: client.ApiClient):
        self.api = api

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """The response's JSON (None when empty): Kubernetes objects and lists, read as plain dicts."""
        method, url, headers, body, _ = self.api.param_serialize(
            method,
            path,
            query_params=query or [],
            body=body,
            auth_settings=["BearerToken"],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
        )
        response = self.api.call_api(method, url, header_params=headers, body=body)
        raw = response.read()
        if not 200 <= response.status < 300:
            raise client.ApiException(http_resp=response)
        return json.loads(raw) if raw else None

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        prefix, plural = KINDS[(obj["apiVersion"], obj["kind"])]
        meta = obj["metadata"]
        path = f"{prefix}/namespaces/{meta['namespace']}/{plural}/{meta['name']}"
        # The client serialises JSON and apply-patch+yaml bodies itself (JSON is YAML).
        applied: dict[str, Any] = self._call(
            "PATCH", path, obj, [("fieldManager", FIELD_MANAGER), ("force", "true")], "application/apply-patch+yaml"
        )
        return applied

    def owned(self, namespace: str, sid: str, uid: str, kinds: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        out = []
        for key in kinds:
            prefix, plural = KINDS[key]
            try:
                items = self._call(
                    "GET", f"{prefix}/namespaces/{namespace}/{plural}", query=[("labelSelector", f"{LABEL_ID}={sid}")]
                )["items"]
            except client.ApiException as exc:
                if exc.status == 404:  # that API (e.g. Istio) is not installed
                    continue
                raise
            for item in items:
                if any(ref.get("uid") == uid for ref in item["metadata"].get("ownerReferences") or []):
                    item.setdefault("apiVersion", key[0])
                    item.setdefault("kind", key[1])
                    out.append(item)
        return out

    def delete(self, obj: dict[str, Any]) -> None:
        prefix, plural = KINDS[(obj["apiVersion"], obj["kind"])]
        meta = obj["metadata"]
        try:
            self._call(
                "DELETE",
                f"{prefix}/namespaces/{meta['namespace']}/{plural}/{meta['name']}",
                {"propagationPolicy": "Background"},
            )
        except client.ApiException as exc:
            if exc.status != 404:
                raise

    def deployment_status(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}").get("status") or {}
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def pods(self, namespace: str, sid: str) -> list[dict[str, Any]]:
        """The pods of one SeldonDeployment (all its Deployments share its ``seldon-deployment-id``)."""
        pods: list[dict[str, Any]] = self._call(
            "GET", f"/api/v1/namespaces/{namespace}/pods", query=[("labelSelector", f"{LABEL_ID}={sid}")]
        )["items"]
        return pods

    def sdep(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            sdep: dict[str, Any] = self._call("GET", f"/apis/{GROUP}/v1/namespaces/{namespace}/{PLURAL}/{name}")
            return sdep
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def patch_sdep_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self._call(
            "PATCH",
            f"/apis/{GROUP}/v1/namespaces/{namespace}/{PLURAL}/{name}/status",
            {"status": status},
            content_type="application/merge-patch+json",
        )


class StatusWriter:
    """Every status write of one SeldonDeployment, one at a time, each from a fresh look.

    Three handlers write the status (the sdep's own, its Deployments', its pods') and kopf runs them
    in a thread pool. Unserialized, a reconcile that looked while the pods were starting could patch
    ``Creating`` after the Deployment handler had patched ``Available`` for the ready pods, and no
    later event would come to correct it. Holding one lock per sdep while reading the cluster and
    patching means the last write is always made from the latest observation.
    """

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    def lock(self, namespace: str, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((namespace, name), threading.Lock())

    def write(
        self, namespace: str, name: str, compute: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        """Under this sdep's lock: read it, ``compute(sdep)`` its new status (None: leave it), patch."""
        with self.lock(namespace, name):
            sdep = self.cluster.sdep(namespace, name)
            if sdep is None:
                return None
            new = compute(sdep)
            if new is not None:
                self.cluster.patch_sdep_status(namespace, name, with_removals(sdep.get("status"), new))
            return new


def reconcile(sdep: dict[str, Any], cluster: Cluster, config: OperatorConfig, event: Any = None) -> dict[str, Any]:
    """Apply what ``render`` gives, delete what it no longer gives, and return the new status."""
    event = event or (lambda *a, **k: None)
    try:
        objects = render(sdep, config)
    except SdepError as exc:
        message = f"cannot render: {exc}"
        event("Warning", "RenderFailed", message)
        return status_mod.failed(sdep, message)
    for obj in objects:
        try:
            cluster.apply(obj)
        except client.ApiException as exc:
            # A Deployment's selector is immutable: when the containers change it, replace the object.
            if exc.status != 422 or obj["kind"] != "Deployment" or "selector" not in str(exc.body):
                raise
            cluster.delete(obj)
            event("Normal", "Replaced", f"recreated Deployment {obj['metadata']['name']}: its selector changed")
            cluster.apply(obj)
    meta = sdep["metadata"]
    wanted = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for existing in cluster.owned(meta["namespace"], names.seldon_id(meta["name"]), meta["uid"], KINDS):
        if (existing["kind"], existing["metadata"]["name"]) not in wanted:
            cluster.delete(existing)
            event(
                "Normal", "Deleted", f"deleted {existing['kind']} {existing['metadata']['name']} (no longer rendered)"
            )
    return current_status(sdep, objects, cluster)


def current_status(sdep: dict[str, Any], objects: list[dict[str, Any]], cluster: Cluster) -> dict[str, Any]:
    observed = {}
    for dep in (o for o in objects if o["kind"] == "Deployment"):
        found = cluster.deployment_status(dep["metadata"]["namespace"], dep["metadata"]["name"])
        if found is not None:
            observed[dep["metadata"]["name"]] = found
    failures: dict[str, str] = {}
    if len(observed) < sum(o["kind"] == "Deployment" for o in objects) or not all(
        status_mod.available(s) for s in observed.values()
    ):
        # Only while something is not ready: a pod that cannot start says why (a storage
        # initializer that cannot fetch the modelUri, an image that cannot be pulled).
        meta = sdep["metadata"]
        failures = status_mod.pod_failures(cluster.pods(meta["namespace"], names.seldon_id(meta["name"])))
    return status_mod.compute(sdep, objects, observed, failures)


def with_removals(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch keeps map entries it does not mention: null out the ones that are gone."""
    out = dict(new)
    for key in ("deploymentStatus", "serviceStatus"):
        gone = set((old or {}).get(key) or {}) - set(new.get(key) or {})
        if gone:
            out[key] = {**(new.get(key) or {}), **{name: None for name in gone}}
    return out


# --- kopf wiring ------------------------------------------------------------------------------------


class _Shared(TypedDict, total=False):
    """What the handlers share in one operator process, each made on first use (tests clear it)."""

    cluster: Cluster
    writer: StatusWriter
    config: OperatorConfig


_state: _Shared = {}


def _api_client() -> client.ApiClient:
    """A Kubernetes client from the pod's service account, else KUBECONFIG (local runs, tests)."""
    try:
        kube_config.load_incluster_config()
    except kube_config.ConfigException:
        kube_config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    return client.ApiClient()


def _cluster() -> Cluster:
    if "cluster" not in _state:
        _state["cluster"] = Cluster(_api_client())
    return _state["cluster"]


def _writer() -> StatusWriter:
    if "writer" not in _state:
        _state["writer"] = StatusWriter(_cluster())
    return _state["writer"]


def _config() -> OperatorConfig:
    if "config" not in _state:
        _state["config"] = OperatorConfig.from_env()
    return _state["config"]


def _namespace(body: kopf.Body) -> str:
    """The namespace of a namespaced object (the ones these handlers watch always have one)."""
    namespace = body.metadata.namespace
    if namespace is None:
        raise kopf.PermanentError(f"{body.get('kind')} {body.metadata.name} names no namespace")
    return namespace


def _mine(labels: Mapping[str, str], **_: Any) -> bool:
    """``seldon.io/controller-id``: an operator with CONTROLLER_ID handles only sdeps labelled with it."""
    return (labels or {}).get("seldon.io/controller-id", "") == _config().controller_id


@kopf.on.login()
def login(**kwargs: Any) -> Any:
    """In a pod: its service account; elsewhere: $KUBECONFIG (or ~/.kube/config)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Keep kopf's bookkeeping in annotations: the CRD's structural schema would prune status.kopf.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 60
    settings.execution.max_workers = 4


@kopf.on.resume(GROUP, "v1", PLURAL, when=_mine, id="reconcile")
@kopf.on.create(GROUP, "v1", PLURAL, when=_mine, id="reconcile")
@kopf.on.update(GROUP, "v1", PLURAL, when=_mine, id="reconcile")
def reconcile_sdep(body: kopf.Body, **_: Any) -> None:
    sdep = json.loads(json.dumps(dict(body)))  # a plain, mutable copy
    sdep.pop("status", None)

    def event(kind: str, reason: str, message: str) -> None:
        kopf.event(body, type=kind, reason=reason, message=message[:1024])

    meta = sdep["metadata"]
    try:
        _writer().write(meta["namespace"], meta["name"], lambda _live: reconcile(sdep, _cluster(), _config(), event))
    except client.ApiException as exc:
        detail = (exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body or ""))[:500]
        raise kopf.TemporaryError(f"API error {exc.status} {exc.reason}: {detail}", delay=10) from exc


def _observed_status(sdep: dict[str, Any], only_if_changed: bool = False) -> dict[str, Any] | None:
    """The status the cluster now shows for a live sdep; None if it is not this operator's or cannot
    be rendered (its own handler has said why), or, with ``only_if_changed``, if state and description
    are what the sdep already says."""
    if not _mine(sdep["metadata"].get("labels") or {}):
        return None
    try:
        objects = render({k: v for k, v in sdep.items() if k != "status"}, _config())
    except SdepError:
        return None
    new = current_status(sdep, objects, _cluster())
    old = sdep.get("status") or {}
    if only_if_changed and (new.get("state"), new.get("description")) == (old.get("state"), old.get("description")):
        return None
    return new


@kopf.on.event("apps", "v1", "deployments", labels={LABEL_ID: kopf.PRESENT}, id="deployment-status")
def deployment_changed(body: kopf.Body, **_: Any) -> None:
    """A Deployment we own changed: refresh its SeldonDeployment's status (what the kubelet reports)."""
    owner = next((r for r in body.metadata.get("ownerReferences") or [] if r.get("kind") == "SeldonDeployment"), None)
    if owner is not None:
        _writer().write(_namespace(body), owner["name"], _observed_status)


@kopf.on.event("", "v1", "pods", labels={LABEL_ID: kopf.PRESENT}, id="pod-failure")
def pod_changed(body: kopf.Body, **_: Any) -> None:
    """A pod of ours cannot start (its storage initializer failed, its image cannot be pulled): say so
    in its SeldonDeployment's status now, not when the Deployment's progress deadline passes.

    Pods that are fine are left to the Deployment handler (a pod becoming ready changes its
    Deployment's status), so a healthy rollout costs no extra API calls here.
    """
    if status_mod.pod_failure(dict(body)) is None:
        return
    namespace, sid = _namespace(body), body.metadata.labels[LABEL_ID]
    sdeps = _cluster()._call("GET", f"/apis/{GROUP}/v1/namespaces/{namespace}/{PLURAL}")["items"]
    sdep = next((d for d in sdeps if names.seldon_id(d["metadata"]["name"]) == sid), None)
    if sdep is not None:
        _writer().write(namespace, sdep["metadata"]["name"], lambda live: _observed_status(live, only_if_changed=True))


@kopf.timer(GROUP, "v1", PLURAL, when=_mine, interval=30, initial_delay=30, id="status-resync")
def resync_status(body: kopf.Body, **_: Any) -> None:
    """Every 30 s, look again at an sdep that is not Available. Watches can drop an event (a
    reconnect, an apiserver restart); this bounds how long the status can lag what the cluster
    shows, as controller-runtime's periodic resync does for upstream's operator."""
    if (body.get("status") or {}).get("state") == "Available":
        return
    new = _writer().write(
        _namespace(body), body.metadata.name, lambda live: _observed_status(live, only_if_changed=True)
    )
    if new is not None:
        log.info(
            "status of %s/%s caught up on resync: %s", body.metadata.namespace, body.metadata.name, new.get("state")
        )


def run(
    namespaces: list[str] | None = None,
    standalone: bool = False,
    peering: str | None = None,
    liveness: str | None = None,
    leader_elect: bool = False,
) -> int:
    import asyncio

    namespaces = list(namespaces or [])
    if not namespaces and os.environ.get("WATCH_NAMESPACE"):
        namespaces = [n.strip() for n in os.environ["WATCH_NAMESPACE"].split(",") if n.strip()]
    logging.basicConfig(
        level=os.environ.get("SELDON_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # A peering name makes peering mandatory in kopf, even next to standalone: pass it only when asked.
    peering_name = peering if peering and not standalone else None
    if not leader_elect:
        asyncio.run(
            kopf.operator(
                standalone=standalone,
                namespaces=namespaces,
                clusterwide=not namespaces,
                liveness_endpoint=liveness,
                peering_name=peering_name,
            )
        )
        return 0
    from wharf.operator.leader import LeaseElector, LostLeadership

    namespace = os.environ.get("POD_NAMESPACE")
    if not namespace:
        log.error("--leader-elect needs POD_NAMESPACE (the namespace that holds the Lease)")
        return 2
    identity = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
    elector = LeaseElector(_api_client(), namespace, identity)

    async def reconcile(stop: asyncio.Event) -> None:
        await kopf.operator(
            standalone=True,
            namespaces=namespaces,
            clusterwide=not namespaces,
            liveness_endpoint=liveness,
            stop_flag=stop,
        )

    from wharf.operator.standby import standby_health

    try:
        asyncio.run(elector.run(reconcile, waiting=standby_health(liveness)))
    except LostLeadership as exc:
        log.error("%s; exiting so this replica restarts as a standby", exc)
        return 1
    return 0
