"""Defaulting of a SeldonDeployment as upstream's operator does it before rendering.

``apply_defaults`` takes the resource as plain data and returns a defaulted deep copy; the input is
never changed. It reads the copy through the typed model (``model.parse``) and completes it in
place. The ENGINE_PREDICTOR the orchestrator reads is built from this defaulted form, so every node
carries its ``endpoint`` (host and ports) explicitly.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wharf.deployment import names
from wharf.deployment.model import Container, Node, Predictor, SeldonDeployment, parse, writable
from wharf.deployment.servers import server_image

PODINFO_VOLUME = "seldon-podinfo"
OLD_PODINFO_VOLUME = "podinfo"
PODINFO_PATH = "/etc/podinfo"
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


def _port(container: Mapping[str, Any], name: str) -> int | None:
    for port in container.get("ports") or []:
        if port.get("name") == name:
            return int(port["containerPort"])
    return None


FALLBACK_TO_LOGS = "FallbackToLogsOnError"


def _prepackaged_container(node: Node, protocol: str, servers: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    image = server_image(node.implementation_or_default, protocol, servers)
    # Upstream leaves terminationMessagePolicy at File, which these servers never write: a server that
    # cannot load its model then shows nothing in the pod's status. With FallbackToLogsOnError its
    # last log lines (Wharf's servers end with one line naming the folder, file and cause) are the
    # termination message, which the operator copies into the SeldonDeployment's status.
    return {"name": node.name, "image": image, "terminationMessagePolicy": FALLBACK_TO_LOGS}


def _type_nodes(predictor: Predictor) -> None:
    """A node with no type is a MODEL when it is a prepackaged server or a bare node (no
    implementation, no methods); every node gets its implementation, UNKNOWN_IMPLEMENTATION by default."""
    for node in predictor.nodes():
        raw = writable(node.raw)
        if node.type is None and (node.prepackaged or (node.own_image and not node.methods)):
            raw["type"] = "MODEL"
        raw["implementation"] = node.implementation_or_default


def _server_containers(predictor: Predictor, protocol: str, servers: Mapping[str, Mapping[str, str]]) -> None:
    """A prepackaged node's container: its server's image where the user's container has none (one
    given only for resources or env), else one added to componentSpecs[0] (created if absent)."""
    raw = writable(predictor.raw)
    present = {c.name: c for _, c in predictor.containers()}
    for node in predictor.nodes():
        if not node.prepackaged:
            continue
        container = present.get(node.name)
        if container is not None and not container.image:
            own = writable(container.raw)
            own["image"] = _prepackaged_container(node, protocol, servers)["image"]
            own.setdefault("terminationMessagePolicy", FALLBACK_TO_LOGS)
        elif container is None:
            # `componentSpecs: null` (upstream's minio and dvc examples write it) is none
            components = raw["componentSpecs"] = raw.get("componentSpecs") or []
            if not components:
                components.append({"spec": {"containers": []}})
            components[0].setdefault("spec", {}).setdefault("containers", []).append(
                _prepackaged_container(node, protocol, servers)
            )


def _container_defaults(container: dict[str, Any]) -> None:
    container.setdefault("imagePullPolicy", "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    mounts = [m for m in container.get("volumeMounts") or [] if m.get("name") != OLD_PODINFO_VOLUME]
    if not any(m.get("name") == PODINFO_VOLUME for m in mounts):
        mounts.append({"name": PODINFO_VOLUME, "mountPath": PODINFO_PATH})
    container["volumeMounts"] = mounts


class _Ports:
    """The (http, grpc) ports of each container name, numbered across all predictors in order."""

    def __init__(self, bases: PortBases):
        self.bases = bases
        self.ports: dict[str, tuple[int, int]] = {}

    def of(self, container: Container) -> tuple[int, int]:
        if container.name not in self.ports:
            n = len(self.ports)
            http = _port(container.raw, "http") or self.bases.http + n
            grpc = _port(container.raw, "grpc") or self.bases.grpc + n
            self.ports[container.name] = (http, grpc)
        return self.ports[container.name]


def _endpoints(sdep: SeldonDeployment, predictor: Predictor, ports: _Ports) -> None:
    """Each container's defaults, and the endpoint of the graph node it serves: its ports, and its
    host (localhost beside the orchestrator in componentSpecs[0], else the node's Service)."""
    # A container name in several componentSpecs: one node served by several Deployments (versions
    # told apart by their labels); the orchestrator reaches them all through the node's Service.
    spread = _in_several_components(predictor)
    for component, container in predictor.containers():
        http, grpc = ports.of(container)
        _container_defaults(writable(container.raw))
        served = predictor.graph.find(container.name)
        if served is None:
            continue
        endpoint = writable(served.raw).setdefault("endpoint", {})
        endpoint.setdefault("type", "GRPC" if sdep.transport.lower() == "grpc" else "REST")
        endpoint["httpPort"], endpoint["grpcPort"] = http, grpc
        if component.index == 0 and not sdep.engine_separate and container.name not in spread:
            endpoint["service_host"] = "localhost"
        else:
            service = names.container_service(sdep.name, predictor.name, container.name)
            endpoint["service_host"] = f"{service}.{sdep.namespace}.svc.cluster.local"
        grpc_endpoint = endpoint["type"] == "GRPC" or sdep.transport.lower() == "grpc"
        endpoint["service_port"] = grpc if grpc_endpoint else http


def apply_defaults(sdep: dict[str, Any], config: DefaultsConfig | None = None) -> dict[str, Any]:
    """The defaulted copy of ``sdep`` (already validated), which the operator renders and writes."""
    config = config or DefaultsConfig()
    out = copy.deepcopy(sdep)
    out.setdefault("metadata", {}).setdefault("namespace", "default")
    out.setdefault("spec", {})
    # The model of the copy: each parsed object's raw is the copy's own dict, completed in place.
    model = parse(out)
    for predictor in model.predictors:
        writable(predictor.raw).setdefault("labels", {}).setdefault("version", predictor.name)
        _type_nodes(predictor)
        _server_containers(predictor, model.protocol, config.predictor_servers)
    model = parse(out)  # again: the containers added above get ports too
    ports = _Ports(config.ports)
    for predictor in model.predictors:
        _endpoints(model, predictor, ports)
    return out


def _in_several_components(predictor: Predictor) -> set[str]:
    where: dict[str, set[int]] = {}
    for component, container in predictor.containers():
        where.setdefault(container.name, set()).add(component.index)
    return {name for name, indices in where.items() if len(indices) > 1}


def metrics_ports(sdep: SeldonDeployment, bases: PortBases | None = None) -> dict[str, int]:
    """Container name -> metrics port, in the same order ``apply_defaults`` numbers ports."""
    bases = bases or PortBases()
    seen: dict[str, int] = {}
    for predictor in sdep.predictors:
        for _, container in predictor.containers():
            seen.setdefault(container.name, bases.metrics + len(seen))
    return seen
