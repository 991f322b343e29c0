"""Operator configuration: the environment variables upstream's manager reads, with upstream's defaults.

Only the executor image differs: by default the injected ``seldon-container-engine`` container runs
Wharf's orchestrator (``wharf orchestrator``), which reads the same flags and ENGINE_PREDICTOR.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from wharf import __version__
from wharf.deployment.servers import PREDICTOR_SERVERS  # the defaults; re-exported for the operator's callers

# Upstream's per-image overrides (OpenShift's RELATED_IMAGE_* convention): variable -> (server, protocol).
RELATED_SERVER_IMAGES = {
    "RELATED_IMAGE_SKLEARNSERVER": ("SKLEARN_SERVER", "seldon"),
    "RELATED_IMAGE_SKLEARNSERVER_V2": ("SKLEARN_SERVER", "v2"),
    "RELATED_IMAGE_XGBOOSTSERVER": ("XGBOOST_SERVER", "seldon"),
    "RELATED_IMAGE_XGBOOSTSERVER_V2": ("XGBOOST_SERVER", "v2"),
    "RELATED_IMAGE_MLFLOWSERVER": ("MLFLOW_SERVER", "seldon"),
    "RELATED_IMAGE_MLFLOWSERVER_V2": ("MLFLOW_SERVER", "v2"),
    "RELATED_IMAGE_TFPROXY": ("TENSORFLOW_SERVER", "seldon"),
    "RELATED_IMAGE_TENSORFLOW": ("TENSORFLOW_SERVER", "tensorflow"),
}


def _bool(raw: str) -> bool:
    return raw.strip().lower() == "true"


@dataclass(frozen=True)
class OperatorConfig:
    executor_image: str = field(
        default=f"wharf/orchestrator:{__version__}", metadata={"env": "EXECUTOR_CONTAINER_IMAGE_AND_VERSION"}
    )
    # Wharf's orchestrator image needs its command; an upstream executor image has it as entrypoint.
    executor_command: tuple[str, ...] = field(
        default=("wharf", "orchestrator"), metadata={"env": "WHARF_EXECUTOR_COMMAND"}
    )
    executor_pull_policy: str = field(default="IfNotPresent", metadata={"env": "EXECUTOR_CONTAINER_IMAGE_PULL_POLICY"})
    executor_http_port: int = field(default=8000, metadata={"env": "EXECUTOR_SERVER_PORT"})
    executor_grpc_port: int = field(default=5001, metadata={"env": "EXECUTOR_SERVER_GRPC_PORT"})
    executor_prometheus_path: str = field(default="/prometheus", metadata={"env": "EXECUTOR_PROMETHEUS_PATH"})
    executor_metrics_port_name: str = field(default="metrics", metadata={"env": "EXECUTOR_SERVER_METRICS_PORT_NAME"})
    # empty: no fixed UID (OpenShift's restricted SCC assigns one), so empty is a value here
    executor_user: str = field(default="8888", metadata={"env": "EXECUTOR_CONTAINER_USER", "empty_ok": True})
    executor_service_account: str = field(default="", metadata={"env": "EXECUTOR_CONTAINER_SERVICE_ACCOUNT_NAME"})
    executor_logger_endpoint: str = field(
        default="http://default-broker", metadata={"env": "EXECUTOR_REQUEST_LOGGER_DEFAULT_ENDPOINT"}
    )
    executor_logger_queue_size: str = field(
        default="10000", metadata={"env": "EXECUTOR_REQUEST_LOGGER_WORK_QUEUE_SIZE"}
    )
    executor_logger_write_timeout_ms: str = field(
        default="2000", metadata={"env": "EXECUTOR_REQUEST_LOGGER_WRITE_TIMEOUT_MS"}
    )
    executor_cpu_request: str = field(default="500m", metadata={"env": "EXECUTOR_DEFAULT_CPU_REQUEST"})
    executor_cpu_limit: str = field(default="500m", metadata={"env": "EXECUTOR_DEFAULT_CPU_LIMIT"})
    executor_memory_request: str = field(default="512Mi", metadata={"env": "EXECUTOR_DEFAULT_MEMORY_REQUEST"})
    executor_memory_limit: str = field(default="512Mi", metadata={"env": "EXECUTOR_DEFAULT_MEMORY_LIMIT"})
    executor_full_health_checks: bool = field(default=False, metadata={"env": "EXECUTOR_FULL_HEALTH_CHECKS"})
    unit_http_port: int = field(default=9000, metadata={"env": "PREDICTIVE_UNIT_HTTP_SERVICE_PORT"})
    unit_grpc_port: int = field(default=9500, metadata={"env": "PREDICTIVE_UNIT_GRPC_SERVICE_PORT"})
    unit_metrics_port: int = field(default=6000, metadata={"env": "PREDICTIVE_UNIT_METRICS_SERVICE_PORT"})
    unit_metrics_port_name: str = field(default="metrics", metadata={"env": "PREDICTIVE_UNIT_METRICS_PORT_NAME"})
    unit_default_env_secret: str = field(default="", metadata={"env": "PREDICTIVE_UNIT_DEFAULT_ENV_SECRET_REF_NAME"})
    default_user_id: str = field(default="8888", metadata={"env": "DEFAULT_USER_ID", "empty_ok": True})
    deployment_name_as_prefix: bool = field(default=False, metadata={"env": "DEPLOYMENT_NAME_AS_PREFIX"})
    istio_enabled: bool = field(default=False, metadata={"env": "ISTIO_ENABLED"})
    istio_gateway: str = field(default="seldon-gateway", metadata={"env": "ISTIO_GATEWAY"})
    istio_tls_mode: str = field(default="", metadata={"env": "ISTIO_TLS_MODE"})
    ambassador_enabled: bool = field(default=False, metadata={"env": "AMBASSADOR_ENABLED"})
    ambassador_single_namespace: bool = field(default=False, metadata={"env": "AMBASSADOR_SINGLE_NAMESPACE"})
    storage_initializer_image: str = field(
        default=f"wharf/storage-initializer:{__version__}", metadata={"env": "RELATED_IMAGE_STORAGE_INITIALIZER"}
    )
    controller_id: str = field(default="", metadata={"env": "CONTROLLER_ID"})
    predictor_servers: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: PREDICTOR_SERVERS)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OperatorConfig:
        """Read every field whose env variable is set; a bad number names the variable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata.get("env")
            raw = environ.get(name) if name else None
            # Empty means "unset", except where empty is itself a setting: the command ("the image's
            # entrypoint") and the UIDs ("none": OpenShift assigns them).
            if raw is None or (raw == "" and f.name != "executor_command" and not f.metadata.get("empty_ok")):
                continue
            values[f.name] = _parse_field(f.name, f.type, name, raw)
        servers = _servers_from_env(environ)
        if servers != PREDICTOR_SERVERS:
            values["predictor_servers"] = servers
        return cls(**values)


def _parse_field(field_name: str, kind: object, variable: str | None, raw: str) -> Any:
    """One environment variable's text as the field's type; a bad number names the variable."""
    if kind in ("int", int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"environment variable {variable}={raw!r}: expected an integer") from None
    if kind in ("bool", bool):
        return _bool(raw)
    if field_name == "executor_command":
        return tuple(raw.split())
    return raw


def _servers_from_env(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The predictor servers table: the defaults, or the JSON table; RELATED_IMAGE_* win over either."""
    servers = {key: dict(images) for key, images in PREDICTOR_SERVERS.items()}
    if environ.get(PREDICTOR_SERVERS_ENV):
        servers = predictor_servers_from_json(environ[PREDICTOR_SERVERS_ENV], PREDICTOR_SERVERS_ENV)
    # as upstream, a RELATED_IMAGE_* variable wins over the table
    for name, (key, protocol) in RELATED_SERVER_IMAGES.items():
        if environ.get(name):
            servers.setdefault(key, {})[protocol] = environ[name]
    return servers


PREDICTOR_SERVERS_ENV = "WHARF_PREDICTOR_SERVERS"
PROTOCOLS = ("seldon", "v2", "kfserving", "tensorflow")


def predictor_servers_from_json(raw: str, where: str) -> dict[str, dict[str, str]]:
    """Upstream's ``predictor_servers`` (chart value and seldon-config key) as key -> protocol -> image.

    The shape is ``{KEY: {"protocols": {PROTOCOL: {"image": ..., "defaultImageVersion": ...}}}}``;
    the table replaces the defaults entirely, as upstream's ConfigMap does. Errors name the entry.
    """
    import json

    try:
        table = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{where}: not JSON ({exc})") from None
    if not isinstance(table, dict):
        raise ValueError(f'{where}: expected an object of servers, e.g. {{"SKLEARN_SERVER": {{"protocols": ...}}}}')
    servers: dict[str, dict[str, str]] = {}
    for key, entry in table.items():
        protocols = entry.get("protocols") if isinstance(entry, dict) else None
        if not isinstance(protocols, dict) or not protocols:
            raise ValueError(f"{where}: {key}.protocols must map a protocol to its image")
        for protocol, spec in protocols.items():
            at = f"{where}: {key}.protocols.{protocol}"
            if protocol not in PROTOCOLS:
                raise ValueError(f"{at}: unknown protocol (one of {', '.join(PROTOCOLS)})")
            if not isinstance(spec, dict) or not spec.get("image") or spec.get("defaultImageVersion") in (None, ""):
                raise ValueError(f"{at}: needs image and defaultImageVersion")
            servers.setdefault(key, {})[protocol] = f"{spec['image']}:{spec['defaultImageVersion']}"
    return servers
