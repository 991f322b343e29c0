"""What every builder reads: the defaulted SeldonDeployment and the operator settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wharf.deployment import names
from wharf.deployment.defaults import DefaultsConfig, PortBases, metrics_ports
from wharf.deployment.model import SeldonDeployment, parse
from wharf.operator.config import OperatorConfig
from wharf.operator.objects.meta import object_meta, owner_reference


def defaults_config(config: OperatorConfig) -> DefaultsConfig:
    return DefaultsConfig(
        PortBases(
            config.unit_http_port, config.unit_grpc_port, config.unit_metrics_port, config.unit_metrics_port_name
        ),
        config.predictor_servers,
    )


@dataclass(frozen=True)
class Context:
    """One SeldonDeployment being rendered (already validated and defaulted)."""

    sdep: dict[str, Any]
    model: SeldonDeployment  # the same, typed
    config: OperatorConfig
    name: str
    namespace: str
    sid: str  # the seldon-deployment-id label
    owners: list[dict[str, Any]]
    protocol: str
    metrics: dict[str, int]  # container name -> its metrics port
    separate: bool  # seldon.io/engine-separate-pod

    @classmethod
    def of(cls, sdep: dict[str, Any], config: OperatorConfig) -> Context:
        meta = sdep["metadata"]
        model = parse(sdep)
        return cls(
            sdep=sdep,
            model=model,
            config=config,
            name=meta["name"],
            namespace=meta["namespace"],
            sid=names.seldon_id(meta["name"]),
            owners=owner_reference(sdep),
            protocol=sdep["spec"].get("protocol") or "seldon",
            metrics=metrics_ports(model, defaults_config(config).ports),
            separate=model.engine_separate,
        )

    @property
    def spec(self) -> dict[str, Any]:
        return self.sdep["spec"]  # type: ignore[no-any-return]

    def annotation(self, key: str, default: str = "") -> str:
        """A ``seldon.io/...`` setting from the SeldonDeployment's annotations."""
        return self.model.annotation(key, default)

    def meta(self, name: str, labels: dict[str, str], annotations: dict[str, Any] | None = None) -> dict[str, Any]:
        return object_meta(name, self.namespace, labels, self.owners, annotations)
