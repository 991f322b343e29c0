"""``render(sdep, config) -> [objects]``: the Kubernetes objects upstream's operator creates.

Pure: plain dicts in, plain dicts out, no cluster. The operator server-side-applies the result;
``wharf render`` prints it for a GitOps repository. Owner references are added only when the
SeldonDeployment has a ``metadata.uid`` (i.e. it came from a cluster).
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from wharf.deployment import names
from wharf.deployment.defaults import (
    MODEL_MOUNT_PATH,
    PODINFO_PATH,
    PODINFO_VOLUME,
    DefaultsConfig,
    PortBases,
    apply_defaults,
    containers,
    engine_separate,
    find_node,
    is_prepackaged,
    metrics_ports,
    no_engine,
    sdep_annotation,
    walk,
)
from wharf.deployment.kube import without_nulls
from wharf.deployment.servers import MLSERVER_IMPLEMENTATIONS
from wharf.deployment.validate import SdepError, check
from wharf.operator.config import OperatorConfig

ENGINE_CONTAINER = "seldon-container-engine"
MANAGED_BY = {"app.kubernetes.io/managed-by": "seldon-core"}
LABEL_ID = "seldon-deployment-id"
LABEL_APP = "seldon-app"
LABEL_SVC_ORCH = "seldon-deployment-contains-svcorch"
TYPE_LABELS = {
    "MODEL": "seldon.io/model",
    "ROUTER": "seldon.io/router",
    "COMBINER": "seldon.io/combiner",
    "TRANSFORMER": "seldon.io/transformer",
    "OUTPUT_TRANSFORMER": "seldon.io/output-transformer",
}
ENGINE_ANNOTATION_PREFIX = "seldon.io/engine-"
NOT_ENGINE_ENV = ("seldon.io/engine-separate-pod",)  # engine-* annotations that are switches, not env
GRPC_ISTIO_REGEX = ".*tensorflow.*|.*seldon.protos.*|.*inference.*"
RETRY_ON = "gateway-error,connect-failure,refused-stream"


def defaults_config(config: OperatorConfig) -> DefaultsConfig:
    return DefaultsConfig(
        PortBases(
            config.unit_http_port, config.unit_grpc_port, config.unit_metrics_port, config.unit_metrics_port_name
        ),
        config.predictor_servers,
    )


def owner_reference(sdep: dict[str, Any]) -> list[dict[str, Any]]:
    meta = sdep.get("metadata") or {}
    if not meta.get("uid"):
        return []
    return [
        {
            "apiVersion": sdep.get("apiVersion", "machinelearning.seldon.io/v1"),
            "kind": "SeldonDeployment",
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def _meta(
    name: str,
    namespace: str,
    labels: dict[str, str],
    owners: list[dict[str, Any]],
    annotations: dict[str, Any] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    if owners:
        meta["ownerReferences"] = copy.deepcopy(owners)
    return meta


def _set_env(container: dict[str, Any], name: str, value: str, overwrite: bool = True) -> None:
    env = container.setdefault("env", [])
    for item in env:
        if item.get("name") == name:
            if overwrite:
                item.pop("valueFrom", None)
                item["value"] = value
            return
    env.append({"name": name, "value": value})


def engine_predictor(predictor: dict[str, Any]) -> str:
    """ENGINE_PREDICTOR: the defaulted PredictorSpec as base64 JSON, with traffic and replicas zeroed,
    creation timestamps blanked and the explainer dropped, as upstream does."""
    spec = copy.deepcopy(predictor)
    spec.pop("traffic", None)
    spec.pop("explainer", None)
    spec["replicas"] = 0
    for component in spec.get("componentSpecs") or []:
        component.setdefault("metadata", {})["creationTimestamp"] = None
    return base64.b64encode(json.dumps(spec, separators=(",", ":")).encode()).decode()


def _engine_env(sdep: dict[str, Any], predictor: dict[str, Any], config: OperatorConfig) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "ENGINE_PREDICTOR", "value": engine_predictor(predictor)},
        {"name": "REQUEST_LOGGER_DEFAULT_ENDPOINT", "value": config.executor_logger_endpoint},
    ]
    for item in (predictor.get("svcOrchSpec") or {}).get("env") or []:
        env = [e for e in env if e["name"] != item.get("name")] + [copy.deepcopy(item)]
    annotations = {
        **((sdep.get("metadata") or {}).get("annotations") or {}),
        **((sdep.get("spec") or {}).get("annotations") or {}),
    }
    for key in sorted(annotations):
        if key.startswith(ENGINE_ANNOTATION_PREFIX) and key not in NOT_ENGINE_ENV:
            name = key[len(ENGINE_ANNOTATION_PREFIX) :].replace("-", "_").upper()
            env = [e for e in env if e["name"] != name] + [{"name": name, "value": str(annotations[key])}]
    return env


def engine_container(sdep: dict[str, Any], predictor: dict[str, Any], config: OperatorConfig) -> dict[str, Any]:
    spec = sdep["spec"]
    http, grpc = config.executor_http_port, config.executor_grpc_port
    ssl = bool((predictor.get("ssl") or {}).get("certSecretName"))
    args = [
        "--sdep",
        sdep["metadata"]["name"],
        "--namespace",
        sdep["metadata"]["namespace"],
        "--predictor",
        predictor["name"],
        "--http_port",
        str(http),
        "--grpc_port",
        str(grpc),
        "--protocol",
        spec.get("protocol") or "seldon",
        "--transport",
        spec.get("transport") or "rest",
        "--prometheus_path",
        config.executor_prometheus_path,
        "--server_type",
        spec.get("serverType") or "rpc",
        "--log_work_buffer_size",
        sdep_annotation(sdep, "seldon.io/executor-logger-queue-size", config.executor_logger_queue_size),
        "--log_write_timeout_ms",
        sdep_annotation(sdep, "seldon.io/executor-logger-write-timeout-ms", config.executor_logger_write_timeout_ms),
        f"--full_health_checks={str(config.executor_full_health_checks).lower()}",
    ]
    probe = {
        "initialDelaySeconds": 20,
        "periodSeconds": 5,
        "failureThreshold": 3,
        "successThreshold": 1,
        "timeoutSeconds": 60,
    }
    scheme = "HTTPS" if ssl else "HTTP"
    resources = (predictor.get("svcOrchSpec") or {}).get("resources") or {
        "requests": {"cpu": config.executor_cpu_request, "memory": config.executor_memory_request},
        "limits": {"cpu": config.executor_cpu_limit, "memory": config.executor_memory_limit},
    }
    container: dict[str, Any] = {
        "name": ENGINE_CONTAINER,
        "image": config.executor_image,
        "imagePullPolicy": config.executor_pull_policy,
        "args": args,
        "env": _engine_env(sdep, predictor, config),
        # Upstream also lists ``metrics`` on the HTTP port; server-side apply keys container ports by
        # (containerPort, protocol) and rejects that duplicate, so metrics are on the ``http`` port.
        "ports": [
            {"name": "http", "containerPort": http, "protocol": "TCP"},
            {"name": "grpc", "containerPort": grpc, "protocol": "TCP"},
        ],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": http, "scheme": scheme}, **probe},
        "livenessProbe": {"httpGet": {"path": "/live", "port": http, "scheme": scheme}, **probe},
        "resources": copy.deepcopy(resources),
        # Upstream sets only allowPrivilegeEscalation; the rest makes the orchestrator container pass
        # the `restricted` Pod Security Standard (its image runs as a non-root user and needs no
        # capability).
        "securityContext": copy.deepcopy(RESTRICTED_CONTAINER),  # its own lists, not shared between objects
        "volumeMounts": [{"name": PODINFO_VOLUME, "mountPath": PODINFO_PATH}],
        # Not upstream's (its executor has no hook): without it the orchestrator stops accepting at
        # SIGTERM while kube-proxy still sends it new connections, and a rolling update under load
        # loses requests (measured on a real node: 100 of 38,261).
        "lifecycle": _sleep_before_stop(),
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if config.executor_command:
        container["command"] = list(config.executor_command)
    if config.executor_user:
        container["securityContext"]["runAsUser"] = int(config.executor_user)
    return container


def _sleep_before_stop() -> dict[str, Any]:
    """Upstream's preStop hook for graph containers: 10 s in which the pod's endpoints leave every
    Service (and kube-proxy's rules) while the container still serves, before it gets SIGTERM."""
    return {"preStop": {"exec": {"command": ["/bin/sh", "-c", "/bin/sleep 10"]}}}


# What the `restricted` Pod Security Standard asks of each container, for the containers whose image
# the operator chooses (orchestrator, prepackaged servers, storage initializer): Wharf's images run
# as a non-root user and need no capability. Keys a SeldonDeployment sets itself are kept.
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True}


def _restricted_defaults(container: dict[str, Any]) -> None:
    context = container.setdefault("securityContext", {})
    for key, value in RESTRICTED_CONTAINER.items():
        context.setdefault(key, copy.deepcopy(value))


def _default_seccomp(pod: dict[str, Any]) -> None:
    """The container runtime's default seccomp profile unless the pod names one (upstream names none).

    The `restricted` Pod Security Standard requires a profile; RuntimeDefault is what most clusters
    apply anyway, so model containers behave the same and the pod is admitted.
    """
    pod.setdefault("securityContext", {}).setdefault("seccompProfile", {"type": "RuntimeDefault"})


def _probe(port: int, delay: int) -> dict[str, Any]:
    return {
        "tcpSocket": {"port": port},
        "initialDelaySeconds": delay,
        "periodSeconds": 5,
        "successThreshold": 1,
        "failureThreshold": 3,
        "timeoutSeconds": 1,
    }


def _unit_container(
    sdep: dict[str, Any],
    predictor: dict[str, Any],
    container: dict[str, Any],
    node: dict[str, Any],
    metrics_port: int,
    config: OperatorConfig,
) -> None:
    """Ports, probes, lifecycle and env the operator gives a graph node's container (in place)."""
    endpoint = node["endpoint"]
    http, grpc = endpoint["httpPort"], endpoint["grpcPort"]
    grpc_transport = (sdep["spec"].get("transport") == "grpc") or endpoint.get("type") == "GRPC"
    ports = container.setdefault("ports", [])
    have = {p.get("name") for p in ports}
    if "http" not in have:
        ports.append({"name": "http", "containerPort": http, "protocol": "TCP"})
    if "grpc" not in have:
        ports.append({"name": "grpc", "containerPort": grpc, "protocol": "TCP"})
    if config.unit_metrics_port_name not in have:
        ports.append({"name": config.unit_metrics_port_name, "containerPort": metrics_port, "protocol": "TCP"})
    probe_port = grpc if grpc_transport else http
    container.setdefault("livenessProbe", _probe(probe_port, 60))
    container.setdefault("readinessProbe", _probe(probe_port, 20))
    container.setdefault("lifecycle", _sleep_before_stop())
    _set_env(container, "PREDICTIVE_UNIT_SERVICE_PORT", str(probe_port), overwrite=False)
    for name in ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "MLSERVER_HTTP_PORT"):
        _set_env(container, name, str(http), overwrite=False)
    for name in ("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "MLSERVER_GRPC_PORT"):
        _set_env(container, name, str(grpc), overwrite=False)
    if node.get("parameters"):
        _set_env(
            container,
            "PREDICTIVE_UNIT_PARAMETERS",
            json.dumps(node["parameters"], separators=(",", ":")),
            overwrite=False,
        )
    if node.get("modelUri"):
        _set_env(container, "MLSERVER_MODEL_URI", MODEL_MOUNT_PATH, overwrite=False)
    metrics = next(p["containerPort"] for p in ports if p.get("name") == config.unit_metrics_port_name)
    for name, value in (
        ("PREDICTIVE_UNIT_ID", container["name"]),
        ("MLSERVER_MODEL_NAME", container["name"]),
        ("PREDICTIVE_UNIT_IMAGE", container.get("image", "")),
        ("PREDICTOR_ID", predictor["name"]),
        ("PREDICTOR_LABELS", json.dumps(predictor.get("labels") or {}, separators=(",", ":"), sort_keys=True)),
        ("SELDON_DEPLOYMENT_ID", sdep["metadata"]["name"]),
        ("SELDON_EXECUTOR_ENABLED", "true"),
        ("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", str(metrics)),
        ("MLSERVER_METRICS_PORT", str(metrics)),
        ("PREDICTIVE_UNIT_METRICS_ENDPOINT", config.executor_prometheus_path),
        ("MLSERVER_METRICS_ENDPOINT", config.executor_prometheus_path),
    ):
        _set_env(container, name, value)


PVC_SOURCE_VOLUME = "kfserving-pvc-source"  # upstream's names (its injector came from KFServing)
PVC_SOURCE_PATH = "/mnt/pvc"


def _storage_initializer(
    container: dict[str, Any], pod: dict[str, Any], node: dict[str, Any], config: OperatorConfig
) -> None:
    """The init container copying ``modelUri`` to /mnt/models, on an emptyDir shared with the model's container.

    ``pvc://<claim>/<path>``: the claim is mounted read-only at /mnt/pvc in both containers and
    the initializer copies ``/mnt/pvc/<path>``, as upstream's operator does.
    """
    volume = f"{container['name']}-provision-location"[:63].rstrip("-")
    init_name = f"{container['name']}-model-initializer"[:63].rstrip("-")
    if any(c.get("name") == init_name for c in pod.get("initContainers") or []):
        return
    uri = node["modelUri"]
    init_mounts = []
    if uri.startswith("pvc://"):
        claim, _, sub_path = uri[len("pvc://") :].partition("/")
        if not any(v.get("name") == PVC_SOURCE_VOLUME for v in pod.get("volumes") or []):
            pod.setdefault("volumes", []).append(
                {"name": PVC_SOURCE_VOLUME, "persistentVolumeClaim": {"claimName": claim}}
            )
        pvc_mount = {"name": PVC_SOURCE_VOLUME, "mountPath": PVC_SOURCE_PATH, "readOnly": True}
        init_mounts.append(pvc_mount)
        if not any(m.get("name") == PVC_SOURCE_VOLUME for m in container.get("volumeMounts") or []):
            container.setdefault("volumeMounts", []).append(dict(pvc_mount))
        uri = f"{PVC_SOURCE_PATH}/{sub_path}"
    pod.setdefault("volumes", []).append({"name": volume, "emptyDir": {}})
    mount = {"name": volume, "mountPath": MODEL_MOUNT_PATH, "readOnly": True}
    container.setdefault("volumeMounts", []).append(mount)
    init: dict[str, Any] = {
        "name": init_name,
        "image": node.get("storageInitializerImage") or config.storage_initializer_image,
        "args": [uri, MODEL_MOUNT_PATH],
        "volumeMounts": [*init_mounts, {"name": volume, "mountPath": MODEL_MOUNT_PATH}],
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        # upstream says File, which its rclone image never writes; the log's last lines name the URI
        # and the cause in the pod's status instead (kubectl describe, the operator's events)
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    }
    secret = node.get("envSecretRefName") or config.unit_default_env_secret
    if secret:
        init["envFrom"] = [{"secretRef": {"name": secret}}]
    _restricted_defaults(init)
    pod.setdefault("initContainers", []).append(init)


def _prepackaged_setup(container: dict[str, Any], node: dict[str, Any], protocol: str) -> None:
    """The Seldon-protocol Python servers read their model from /mnt/models, where the initializer put it.

    Those are the component server's images (Wharf's by default), which run as a non-root user
    with no capability; other servers' images (TF Serving, Triton) are left as their makers ship them.
    """
    if protocol == "seldon" and node["implementation"] == "TENSORFLOW_SERVER":
        _restricted_defaults(container)  # Wharf's proxy image; TF Serving itself is in its own container
        node["parameters"] = _tfserving_proxy_parameters(node)
    elif protocol == "seldon":
        _restricted_defaults(container)
        params = [p for p in node.setdefault("parameters", []) if p.get("name") != "model_uri"]
        node["parameters"] = params + [{"name": "model_uri", "value": MODEL_MOUNT_PATH, "type": "STRING"}]
    elif protocol in ("v2", "kfserving"):
        _set_env(container, "MLSERVER_PARALLEL_WORKERS", "0", overwrite=False)
        # the runtime MLServer loads for a model folder without model-settings.json, and the version
        # upstream names every model with (/v2/models/<name>/versions/v1/...); the user's env wins
        implementation = MLSERVER_IMPLEMENTATIONS.get(node["implementation"])
        if implementation:
            _set_env(container, "MLSERVER_MODEL_IMPLEMENTATION", implementation, overwrite=False)
            _set_env(container, "MLSERVER_MODEL_VERSION", "v1", overwrite=False)
            # MLServer images run as a numeric non-root user (Wharf's: 1001, upstream's: 1000)
            _restricted_defaults(container)


# TENSORFLOW_SERVER with the Seldon protocol: TF Serving in a container of upstream's name beside the
# proxy, on upstream's fixed ports (the proxy reaches it on the pod's loopback).
TFSERVING_CONTAINER = "tfserving"
TFSERVING_GRPC_PORT, TFSERVING_REST_PORT = 2000, 2001


def _tfserving_proxy_parameters(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The proxy's parameters as upstream sets them: the user's (signature_name, model_input,
    model_output, ...), TF Serving's endpoints unless the user named either, and ``model_name`` =
    the node's name, which is TF Serving's ``--model_name`` (upstream appends it after the user's, so
    the node's name wins there too)."""
    params = [p for p in node.get("parameters") or [] if p.get("name") != "model_name"]
    if not any(p.get("name") in ("rest_endpoint", "grpc_endpoint") for p in params):
        params += [
            {"name": "rest_endpoint", "value": f"http://0.0.0.0:{TFSERVING_REST_PORT}", "type": "STRING"},
            {"name": "grpc_endpoint", "value": f"0.0.0.0:{TFSERVING_GRPC_PORT}", "type": "STRING"},
        ]
    return params + [{"name": "model_name", "value": node["name"], "type": "STRING"}]


def _tfserving_args(node: dict[str, Any], grpc: int, rest: int) -> list[str]:
    return [
        f"--port={grpc}",
        f"--rest_api_port={rest}",
        f"--model_name={node['name']}",
        f"--model_base_path={MODEL_MOUNT_PATH}",
    ]


def _tfserving_setup(
    container: dict[str, Any], pod: dict[str, Any], node: dict[str, Any], protocol: str, config: OperatorConfig
) -> None:
    """TENSORFLOW_SERVER: TF Serving reads the model from /mnt/models, where the initializer puts it.

    Protocol ``tensorflow``: the node's container is TF Serving, on the node's ports. Protocol
    ``seldon``: the node's container is the proxy, and a ``tfserving`` container is added (or a
    user's one completed: image, args and ports only where missing). TF Serving's image is left as
    Google ships it: no security defaults are added to it.
    """
    if protocol == "tensorflow":
        served = container
        if not served.get("args"):
            served["args"] = _tfserving_args(node, node["endpoint"]["grpcPort"], node["endpoint"]["httpPort"])
    else:
        image = (config.predictor_servers.get("TENSORFLOW_SERVER") or {}).get("tensorflow")
        if not image:
            raise SdepError(
                [
                    f"graph node {node['name']}: TENSORFLOW_SERVER needs TF Serving's image, and "
                    "predictor_servers has no TENSORFLOW_SERVER.protocols.tensorflow entry"
                ]
            )
        wanted: dict[str, Any] = {
            "name": TFSERVING_CONTAINER,
            "image": image,
            "args": _tfserving_args(node, TFSERVING_GRPC_PORT, TFSERVING_REST_PORT),
            "imagePullPolicy": "IfNotPresent",
            "ports": [
                {"containerPort": TFSERVING_GRPC_PORT, "protocol": "TCP"},
                {"containerPort": TFSERVING_REST_PORT, "protocol": "TCP"},
            ],
        }
        found = next((c for c in pod["containers"] if c.get("name") == TFSERVING_CONTAINER), None)
        if found is None:
            pod["containers"].append(wanted)  # no graph node has this name, so the loop passes over it
            found = wanted
        served = found
        for key in ("image", "args", "ports"):
            if not served.get(key):
                served[key] = wanted[key]
    if node.get("modelUri"):
        _storage_initializer(served, pod, node, config)


def _hpa_metrics(hpa: dict[str, Any]) -> list[dict[str, Any]]:
    """autoscaling/v2 metrics: ``metricsv2`` as given, else ``metrics`` converted from v2beta1."""
    if hpa.get("metricsv2"):
        return copy.deepcopy(hpa["metricsv2"])
    out = []
    for m in hpa.get("metrics") or []:
        kind = m.get("type")
        if kind == "Resource":
            r = m.get("resource") or {}
            if "targetAverageUtilization" in r:
                target = {"type": "Utilization", "averageUtilization": r["targetAverageUtilization"]}
            else:
                target = {"type": "AverageValue", "averageValue": r.get("targetAverageValue")}
            out.append({"type": "Resource", "resource": {"name": r.get("name"), "target": target}})
        elif kind == "Pods":
            p = m.get("pods") or {}
            out.append(
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": p.get("metricName")},
                        "target": {"type": "AverageValue", "averageValue": p.get("targetAverageValue")},
                    },
                }
            )
        else:
            out.append(copy.deepcopy(m))
    return out


def render(sdep: dict[str, Any], config: OperatorConfig | None = None) -> list[dict[str, Any]]:
    """Every object for one SeldonDeployment; raises SdepError naming the field when it cannot."""
    config = config or OperatorConfig()
    sdep = without_nulls(sdep)  # as the API server prunes them: a null field is an absent one
    check(sdep, dict(config.predictor_servers))
    sdep = apply_defaults(sdep, defaults_config(config))
    meta, spec = sdep["metadata"], sdep["spec"]
    name, namespace = meta["name"], meta["namespace"]
    sid = names.seldon_id(name)
    owners = owner_reference(sdep)
    protocol = spec.get("protocol") or "seldon"
    metrics = metrics_ports(sdep, defaults_config(config).ports)
    deployments: list[dict[str, Any]] = []
    services: list[dict[str, Any]] = []
    extras: list[dict[str, Any]] = []
    spec_annotations = spec.get("annotations") or {}
    separate = engine_separate(sdep)

    for p_index, predictor in enumerate(spec["predictors"]):
        psvc = names.predictor_service(name, predictor)
        graph = predictor["graph"]
        skip_engine = no_engine(predictor)
        # Parameters the prepackaged setup adds go into the node, before ENGINE_PREDICTOR is built.
        for _, container in containers(predictor):
            node = find_node(graph, container["name"])
            if node is not None and is_prepackaged(node):
                _prepackaged_setup(container, node, protocol)
        predictor_deps: list[dict[str, Any]] = []
        node_services: set[str] = set()  # a node in several componentSpecs still gets one Service
        for idx, component in enumerate(predictor.get("componentSpecs") or []):
            pod = copy.deepcopy(component.get("spec") or {})
            if not pod.get("containers"):
                continue
            dep_name = names.deployment_name(name, predictor, idx, component, config.deployment_name_as_prefix)
            labels = {LABEL_ID: sid, "app": dep_name, "fluentd": "true", **MANAGED_BY}
            pod_labels = {LABEL_ID: sid, "app": dep_name, "fluentd": "true"}
            if predictor.get("shadow"):
                pod_labels["seldon.io/shadow"] = "true"
                labels["seldon.io/shadow"] = "true"
            annotations = {
                **spec_annotations,
                **(predictor.get("annotations") or {}),
                **((component.get("metadata") or {}).get("annotations") or {}),
            }
            pod_annotations = {
                "prometheus.io/path": config.executor_prometheus_path,
                "prometheus.io/scrape": "true",
                **annotations,
            }
            for source in (predictor.get("labels") or {}, (component.get("metadata") or {}).get("labels") or {}):
                labels.update(source)
                pod_labels.update(source)
            selector = {LABEL_ID: sid}
            for container in pod["containers"]:
                node = find_node(graph, container["name"])
                if node is None:
                    continue
                type_label = TYPE_LABELS.get(node.get("type", ""))
                if type_label:
                    labels[type_label] = pod_labels[type_label] = "true"
                csvc = names.container_service(name, predictor, container["name"])
                key = f"seldon-app-svc-{container['name']}"
                labels[key] = pod_labels[key] = selector[key] = csvc
                _unit_container(sdep, predictor, container, node, metrics[container["name"]], config)
                if node["implementation"] == "TENSORFLOW_SERVER":
                    _tfserving_setup(container, pod, node, protocol, config)
                elif node.get("modelUri"):
                    _storage_initializer(container, pod, node, config)
                svc_labels = {key: csvc, LABEL_ID: sid, LABEL_APP: psvc, **MANAGED_BY}
                if type_label:
                    svc_labels[type_label] = "true"
                if csvc not in node_services:
                    node_services.add(csvc)
                    services.append(
                        {
                            "apiVersion": "v1",
                            "kind": "Service",
                            "metadata": _meta(csvc, namespace, svc_labels, owners, predictor.get("annotations")),
                            "spec": {
                                "type": "ClusterIP",
                                "sessionAffinity": "None",
                                "selector": {key: csvc},
                                "ports": [
                                    {
                                        "name": "http",
                                        "protocol": "TCP",
                                        "port": node["endpoint"]["httpPort"],
                                        "targetPort": node["endpoint"]["httpPort"],
                                    },
                                    {
                                        "name": "grpc",
                                        "protocol": "TCP",
                                        "port": node["endpoint"]["grpcPort"],
                                        "targetPort": node["endpoint"]["grpcPort"],
                                    },
                                ],
                            },
                        }
                    )
                if skip_engine:
                    labels[LABEL_APP] = pod_labels[LABEL_APP] = selector[LABEL_APP] = psvc
            pod.setdefault("terminationGracePeriodSeconds", 20)
            pod.setdefault("restartPolicy", "Always")
            pod.setdefault("dnsPolicy", "ClusterFirst")
            pod.setdefault("schedulerName", "default-scheduler")
            if config.default_user_id and not (pod.get("securityContext") or {}).get("runAsUser"):
                pod.setdefault("securityContext", {})["runAsUser"] = int(config.default_user_id)
            _default_seccomp(pod)
            if not any(v.get("name") == PODINFO_VOLUME for v in pod.get("volumes") or []):
                pod.setdefault("volumes", []).append(
                    {
                        "name": PODINFO_VOLUME,
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "annotations",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"},
                                }
                            ],
                            "defaultMode": 420,
                        },
                    }
                )
            deployment: dict[str, Any] = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": _meta(dep_name, namespace, labels, owners, annotations),
                "spec": {
                    "selector": {"matchLabels": selector},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
                    "template": {"metadata": {"labels": pod_labels, "annotations": pod_annotations}, "spec": pod},
                },
            }
            if predictor.get("progressDeadlineSeconds"):
                deployment["spec"]["progressDeadlineSeconds"] = predictor["progressDeadlineSeconds"]
            hpa, keda = component.get("hpaSpec"), component.get("kedaSpec")
            if hpa and not keda:
                hpa_spec: dict[str, Any] = {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": dep_name},
                    "maxReplicas": hpa["maxReplicas"],
                    "metrics": _hpa_metrics(hpa),
                }
                if hpa.get("minReplicas") is not None:
                    hpa_spec["minReplicas"] = hpa["minReplicas"]
                extras.append(
                    {
                        "apiVersion": "autoscaling/v2",
                        "kind": "HorizontalPodAutoscaler",
                        "metadata": _meta(dep_name, namespace, {LABEL_ID: sid, **MANAGED_BY}, owners),
                        "spec": hpa_spec,
                    }
                )
            elif not keda:
                for replicas in (component.get("replicas"), predictor.get("replicas"), spec.get("replicas")):
                    if replicas is not None:
                        deployment["spec"]["replicas"] = replicas
                        break
            if component.get("pdbSpec"):
                pdb = {k: v for k, v in component["pdbSpec"].items() if k in ("minAvailable", "maxUnavailable")}
                extras.append(
                    {
                        "apiVersion": "policy/v1",
                        "kind": "PodDisruptionBudget",
                        "metadata": _meta(dep_name, namespace, {LABEL_ID: sid, **MANAGED_BY}, owners),
                        "spec": {**pdb, "selector": {"matchLabels": {LABEL_ID: sid}}},
                    }
                )
            predictor_deps.append(deployment)

        engine_ports = (config.executor_http_port, config.executor_grpc_port)
        host = next((n for n in walk(graph) if (n.get("endpoint") or {}).get("service_host") == "localhost"), None)
        if skip_engine:
            if "httpPort" not in (graph.get("endpoint") or {}):
                raise SdepError(
                    [
                        f"spec.predictors[{p_index}].annotations[seldon.io/no-engine]: graph node "
                        f"{graph['name']} runs in no container, so nothing would serve the predictor"
                    ]
                )
            unit = graph["endpoint"]
            engine_ports = (unit["httpPort"], unit["grpcPort"])
        elif separate or host is None:
            # host None: no node runs in the first componentSpec's pod, either because the graph is all
            # built-in implementations (RANDOM_ABTEST, SIMPLE_MODEL, ...) the orchestrator serves itself,
            # or because the node's container is in several componentSpecs. Upstream's operator stops
            # there ("not clear where to inject engine"); the orchestrator gets the pod of its own that
            # seldon.io/engine-separate-pod renders, the one shape that needs no graph container.
            predictor_deps.append(_engine_deployment(sdep, predictor, psvc, sid, owners, config))
        else:
            target = next(
                (
                    d
                    for d in predictor_deps
                    if any(c["name"] == host["name"] for c in d["spec"]["template"]["spec"]["containers"])
                ),
                None,
            )
            if target is None:
                raise SdepError(
                    [
                        f"spec.predictors[{p_index}].componentSpecs[0]: no graph node runs in the first "
                        "componentSpec, so there is no pod to put the orchestrator in"
                    ]
                )
            _add_engine(target, sdep, predictor, psvc, config)
        deployments += predictor_deps
        services.append(_predictor_service(sdep, predictor, psvc, sid, owners, engine_ports, config))
    if config.istio_enabled:
        extras += _istio(sdep, sid, owners, config)
    return deployments + services + extras


def _add_engine(
    deployment: dict[str, Any], sdep: dict[str, Any], predictor: dict[str, Any], psvc: str, config: OperatorConfig
) -> None:
    spec = deployment["spec"]
    spec["template"]["spec"]["containers"].append(engine_container(sdep, predictor, config))
    if config.executor_service_account and not spec["template"]["spec"].get("serviceAccountName"):
        spec["template"]["spec"]["serviceAccountName"] = config.executor_service_account
    for labels in (deployment["metadata"]["labels"], spec["template"]["metadata"]["labels"]):
        labels[LABEL_APP] = psvc
        labels[LABEL_SVC_ORCH] = "true"
    spec["selector"]["matchLabels"][LABEL_APP] = psvc


def _engine_deployment(
    sdep: dict[str, Any],
    predictor: dict[str, Any],
    psvc: str,
    sid: str,
    owners: list[dict[str, Any]],
    config: OperatorConfig,
) -> dict[str, Any]:
    """``seldon.io/engine-separate-pod``: the orchestrator in its own Deployment ``<sdep>-<p>-svc-orch``."""
    name = names.engine_deployment(sdep["metadata"]["name"], predictor)
    labels = {LABEL_APP: psvc, LABEL_ID: sid, LABEL_SVC_ORCH: "true", "app": name, **MANAGED_BY}
    pod_labels = {
        LABEL_APP: psvc,
        LABEL_ID: sid,
        LABEL_SVC_ORCH: "true",
        "app": name,
        **(predictor.get("labels") or {}),
    }
    replicas = next(
        (
            r
            for r in (
                (predictor.get("svcOrchSpec") or {}).get("replicas"),
                predictor.get("replicas"),
                sdep["spec"].get("replicas"),
            )
            if r is not None
        ),
        None,
    )
    pod: dict[str, Any] = {
        "containers": [engine_container(sdep, predictor, config)],
        "terminationGracePeriodSeconds": 20,
        "volumes": [
            {
                "name": PODINFO_VOLUME,
                "downwardAPI": {
                    "items": [
                        {"path": "annotations", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"}}
                    ],
                    "defaultMode": 420,
                },
            }
        ],
    }
    if config.default_user_id:
        pod["securityContext"] = {"runAsUser": int(config.default_user_id)}
    _default_seccomp(pod)
    if config.executor_service_account:
        pod["serviceAccountName"] = config.executor_service_account
    out: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, sdep["metadata"]["namespace"], labels, owners),
        "spec": {
            "selector": {"matchLabels": {LABEL_APP: psvc}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {
                        "prometheus.io/path": config.executor_prometheus_path,
                        "prometheus.io/scrape": "true",
                        **(sdep["spec"].get("annotations") or {}),
                        **(predictor.get("annotations") or {}),
                    },
                },
                "spec": pod,
            },
        },
    }
    if replicas is not None:
        out["spec"]["replicas"] = replicas
    return out


def _predictor_service(
    sdep: dict[str, Any],
    predictor: dict[str, Any],
    psvc: str,
    sid: str,
    owners: list[dict[str, Any]],
    ports: tuple[int, int],
    config: OperatorConfig,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "ClusterIP",
        "sessionAffinity": "None",
        "selector": {LABEL_APP: psvc},
        "ports": [
            {"name": "http", "protocol": "TCP", "port": ports[0], "targetPort": ports[0]},
            {"name": "grpc", "protocol": "TCP", "port": ports[1], "targetPort": ports[1]},
        ],
    }
    if sdep_annotation(sdep, "seldon.io/headless-svc", "false") != "false":
        spec["clusterIP"] = "None"
    annotations = dict(predictor.get("annotations") or {})
    if config.ambassador_enabled:
        annotations["getambassador.io/config"] = _ambassador_config(sdep, predictor, psvc, ports, config)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(
            psvc, sdep["metadata"]["namespace"], {LABEL_APP: psvc, LABEL_ID: sid, **MANAGED_BY}, owners, annotations
        ),
        "spec": spec,
    }


def _ambassador_config(
    sdep: dict[str, Any], predictor: dict[str, Any], psvc: str, ports: tuple[int, int], config: OperatorConfig
) -> str:
    """Ambassador v1 Mappings as the ``getambassador.io/config`` annotation (YAML documents)."""
    import yaml

    name, namespace = sdep["metadata"]["name"], sdep["metadata"]["namespace"]
    custom = sdep_annotation(sdep, "seldon.io/ambassador-config")
    if custom:
        return custom
    first = sdep["spec"]["predictors"][0]["name"] == predictor["name"]
    timeout = int(sdep_annotation(sdep, "seldon.io/rest-timeout", "3000"))
    grpc_timeout = int(sdep_annotation(sdep, "seldon.io/grpc-timeout", "3000"))
    prefixes = [f"/seldon/{namespace}/{name}/"] + ([f"/seldon/{name}/"] if config.ambassador_single_namespace else [])
    docs = []
    for i, prefix in enumerate(prefixes):
        suffix = "" if i == 0 else "_single"
        rest: dict[str, Any] = {
            "apiVersion": "ambassador/v1",
            "kind": "Mapping",
            "name": f"seldon_{namespace}_{name}_{predictor['name']}_rest_mapping{suffix}",
            "prefix": prefix,
            "rewrite": "/",
            "service": f"{psvc}.{namespace}:{ports[0]}",
            "timeout_ms": timeout,
        }
        grpc: dict[str, Any] = {
            "apiVersion": "ambassador/v1",
            "kind": "Mapping",
            "name": f"seldon_{namespace}_{name}_{predictor['name']}_grpc_mapping{suffix}",
            "grpc": True,
            "prefix": "/(seldon.protos.*|tensorflow.serving.*|inference.*)/.*",
            "prefix_regex": True,
            "rewrite": "",
            "headers": {"seldon": name},
            "service": f"{psvc}.{namespace}:{ports[1]}",
            "timeout_ms": grpc_timeout,
        }
        for m in (rest, grpc):
            if predictor.get("shadow"):
                m["shadow"] = True
            elif not first:
                m["weight"] = int(predictor.get("traffic") or 0)
        docs += [rest, grpc]
    return "---\n" + yaml.safe_dump_all(docs, sort_keys=False)


def _istio(
    sdep: dict[str, Any], sid: str, owners: list[dict[str, Any]], config: OperatorConfig
) -> list[dict[str, Any]]:
    name, namespace = sdep["metadata"]["name"], sdep["metadata"]["namespace"]
    predictors = sdep["spec"]["predictors"]
    retries = sdep_annotation(sdep, "seldon.io/istio-retries")
    http_route: dict[str, Any] = {
        "match": [{"uri": {"prefix": f"/seldon/{namespace}/{name}/"}}],
        "rewrite": {"uri": "/"},
        "route": [],
    }
    grpc_route: dict[str, Any] = {
        "match": [
            {
                "uri": {"regex": GRPC_ISTIO_REGEX},
                "headers": {"seldon": {"exact": name}, "namespace": {"exact": namespace}},
            }
        ],
        "route": [],
    }
    if retries and int(retries) > 0:
        retry = {
            "attempts": int(retries),
            "perTryTimeout": f"{int(sdep_annotation(sdep, 'seldon.io/istio-retries-timeout', '1'))}s",
            "retryOn": RETRY_ON,
        }
        http_route["retries"] = dict(retry)
        grpc_route["retries"] = dict(retry)
    rules = []
    for p in predictors:
        psvc = names.predictor_service(name, p)
        ports = (config.executor_http_port, config.executor_grpc_port)
        if no_engine(p):
            ports = (p["graph"]["endpoint"]["httpPort"], p["graph"]["endpoint"]["grpcPort"])
        rule: dict[str, Any] = {
            "host": psvc,
            "subsets": [{"name": p["name"], "labels": {"version": p["labels"]["version"]}}],
        }
        rule["trafficPolicy"] = (
            {"tls": {"mode": config.istio_tls_mode}}
            if config.istio_tls_mode
            else {"connectionPool": {"http": {"idleTimeout": "60s"}}}
        )
        rules.append(
            {
                "apiVersion": "networking.istio.io/v1alpha3",
                "kind": "DestinationRule",
                "metadata": _meta(psvc, namespace, {LABEL_ID: sid, **MANAGED_BY}, owners),
                "spec": rule,
            }
        )
        for route, port in ((http_route, ports[0]), (grpc_route, ports[1])):
            destination = {"host": psvc, "subset": p["name"], "port": {"number": port}}
            if p.get("shadow"):
                route["mirror"] = destination
                if p.get("traffic"):
                    route["mirrorPercentage"] = {"value": float(p["traffic"])}
            else:
                route["route"].append({"destination": destination, "weight": int(p.get("traffic") or 0)})
    hosts = [h.strip() for h in sdep_annotation(sdep, "seldon.io/istio-host", "*").split(",")]
    vs = {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": _meta(sid, namespace, {LABEL_ID: sid, **MANAGED_BY}, owners),
        "spec": {
            "hosts": hosts,
            "gateways": [sdep_annotation(sdep, "seldon.io/istio-gateway", config.istio_gateway)],
            "http": [http_route, grpc_route],
        },
    }
    return [vs] + rules
