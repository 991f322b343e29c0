"""Defaulting of a SeldonDeployment as upstream's operator does it before rendering.

``apply_defaults`` takes the resource as plain data and returns a defaulted deep copy; the input is
never changed. The ENGINE_PREDICTOR the orchestrator reads is built from this defaulted form, so
every node carries its ``endpoint`` (host and ports) explicitly.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from wharf.deployment import names
from wharf.deployment.schema import BUILTIN_IMPLEMENTATIONS
from wharf.deployment.servers import server_image

PODINFO_VOLUME = "seldon-podinfo"
OLD_PODINFO_VOLUME = "podinfo"
PODINFO_PATH = "/etc/podinfo"
SEPARATE_ENGINE = "seldon.io/engine-separate-pod"
NO_ENGINE = "seldon.io/no-engine"
MODEL_MOUNT_PATH = "/mnt/models"


@dataclass(frozen=True)
class PortBases:
    http: int = 9000
    grpc: int = 9500
    metrics: int = 6000
    metrics_name: str = "metrics"


@dataclass(frozen=True)
class DefaultsConfig:
    ports: PortBases = field(default_factory=PortBases)
    # key -> protocol -> image (the seldon-config ``predictor_servers``)
    predictor_servers: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def sdep_annotation(sdep: dict[str, Any], key: str, default: str = "") -> str:
    """An sdep-level annotation: ``spec.annotations`` first, then ``metadata.annotations``."""
    spec_ann = (sdep.get("spec") or {}).get("annotations") or {}
    meta_ann = (sdep.get("metadata") or {}).get("annotations") or {}
    return str(spec_ann.get(key, meta_ann.get(key, default)))


def engine_separate(sdep: dict[str, Any]) -> bool:
    return str(((sdep.get("spec") or {}).get("annotations") or {}).get(SEPARATE_ENGINE, "")).lower() == "true"


def no_engine(predictor: dict[str, Any]) -> bool:
    return str((predictor.get("annotations") or {}).get(NO_ENGINE, "")).lower() == "true"


def is_prepackaged(node: dict[str, Any]) -> bool:
    return bool(node.get("implementation")) and node["implementation"] not in BUILTIN_IMPLEMENTATIONS


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("children") or []:
        yield from walk(child)


def find_node(graph: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((n for n in walk(graph) if n.get("name") == name), None)


def containers(predictor: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(componentSpec index, container) for every container of a predictor."""
    for idx, component in enumerate(predictor.get("componentSpecs") or []):
        for container in ((component or {}).get("spec") or {}).get("containers") or []:
            yield idx, container


def _type_node(node: dict[str, Any]) -> None:
    implementation = node.get("implementation") or "UNKNOWN_IMPLEMENTATION"
    if "type" not in node:
        if is_prepackaged(node) or (implementation == "UNKNOWN_IMPLEMENTATION" and not node.get("methods")):
            node["type"] = "MODEL"
    node["implementation"] = implementation


def _port(container: dict[str, Any], name: str) -> int | None:
    for port in container.get("ports") or []:
        if port.get("name") == name:
            return int(port["containerPort"])
    return None


FALLBACK_TO_LOGS = "FallbackToLogsOnError"


def _prepackaged_container(
    node: dict[str, Any], protocol: str, servers: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    image = server_image(node["implementation"], protocol, servers)
    # Upstream leaves terminationMessagePolicy at File, which these servers never write: a server that
    # cannot load its model then shows nothing in the pod's status. With FallbackToLogsOnError its
    # last log lines (Wharf's servers end with one line naming the folder, file and cause) are the
    # termination message, which the operator copies into the SeldonDeployment's status.
    return {"name": node["name"], "image": image, "terminationMessagePolicy": FALLBACK_TO_LOGS}


def apply_defaults(sdep: dict[str, Any], config: DefaultsConfig | None = None) -> dict[str, Any]:
    config = config or DefaultsConfig()
    out = copy.deepcopy(sdep)
    meta = out.setdefault("metadata", {})
    meta.setdefault("namespace", "default")
    spec = out.setdefault("spec", {})
    name, namespace = meta.get("name", ""), meta["namespace"]
    protocol = spec.get("protocol") or "seldon"
    transport = (spec.get("transport") or "rest").lower()
    separate = engine_separate(out)
    ports: dict[str, tuple[int, int]] = {}  # container name -> (http, grpc), shared across predictors

    def assign(container_name: str, container: dict[str, Any] | None) -> tuple[int, int]:
        if container_name not in ports:
            n = len(ports)
            http = (_port(container, "http") if container else None) or config.ports.http + n
            grpc = (_port(container, "grpc") if container else None) or config.ports.grpc + n
            ports[container_name] = (http, grpc)
        return ports[container_name]

    for predictor in spec.get("predictors") or []:
        predictor.setdefault("labels", {}).setdefault("version", predictor.get("name", ""))
        graph = predictor.get("graph") or {}
        for node in walk(graph):
            _type_node(node)
        # A prepackaged node with no container gets one in componentSpecs[0] (created if absent).
        present = {c.get("name"): c for _, c in containers(predictor)}
        for node in walk(graph):
            if is_prepackaged(node) and node["name"] in present and not present[node["name"]].get("image"):
                # A container given only for resources or env: the server's image is still ours to fill.
                present[node["name"]]["image"] = _prepackaged_container(node, protocol, config.predictor_servers)[
                    "image"
                ]
                present[node["name"]].setdefault("terminationMessagePolicy", FALLBACK_TO_LOGS)
            elif is_prepackaged(node) and node["name"] not in present:
                # `componentSpecs: null` (upstream's minio and dvc examples write it) is none
                components = predictor["componentSpecs"] = predictor.get("componentSpecs") or []
                if not components:
                    components.append({"spec": {"containers": []}})
                components[0].setdefault("spec", {}).setdefault("containers", []).append(
                    _prepackaged_container(node, protocol, config.predictor_servers)
                )
        # A container name in several componentSpecs: one node served by several Deployments (versions
        # told apart by their labels); the orchestrator reaches them all through the node's Service.
        spread = _in_several_components(predictor)
        for idx, container in containers(predictor):
            http, grpc = assign(container["name"], container)
            container.setdefault("imagePullPolicy", "IfNotPresent")
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            mounts = [m for m in container.get("volumeMounts") or [] if m.get("name") != OLD_PODINFO_VOLUME]
            if not any(m.get("name") == PODINFO_VOLUME for m in mounts):
                mounts.append({"name": PODINFO_VOLUME, "mountPath": PODINFO_PATH})
            container["volumeMounts"] = mounts
            served = find_node(graph, container["name"])
            if served is None:
                continue
            endpoint = served.setdefault("endpoint", {})
            endpoint.setdefault("type", "GRPC" if transport == "grpc" else "REST")
            endpoint["httpPort"], endpoint["grpcPort"] = http, grpc
            if idx == 0 and not separate and container["name"] not in spread:
                endpoint["service_host"] = "localhost"
            else:
                endpoint["service_host"] = (
                    f"{names.container_service(name, predictor, container['name'])}.{namespace}.svc.cluster.local"
                )
            grpc_endpoint = endpoint["type"] == "GRPC" or transport == "grpc"
            endpoint["service_port"] = grpc if grpc_endpoint else http
    return out


def _in_several_components(predictor: dict[str, Any]) -> set[str | None]:
    where: dict[str | None, set[int]] = {}
    for idx, container in containers(predictor):
        where.setdefault(container.get("name"), set()).add(idx)
    return {name for name, indices in where.items() if len(indices) > 1}


def metrics_ports(sdep: dict[str, Any], bases: PortBases | None = None) -> dict[str, int]:
    """Container name -> metrics port, in the same order ``apply_defaults`` numbers ports."""
    bases = bases or PortBases()
    seen: dict[str, int] = {}
    for predictor in (sdep.get("spec") or {}).get("predictors") or []:
        for _, container in containers(predictor):
            seen.setdefault(container["name"], bases.metrics + len(seen))
    return seen
