"""What every builder reads: the defaulted SeldonDeployment, typed, and the operator settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wharf.deployment import names
from wharf.deployment.defaults import DefaultsConfig, PortBases, metrics_ports
from wharf.deployment.model import SeldonDeployment
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
    """One SeldonDeployment being rendered (already validated, defaulted and parsed)."""

    model: SeldonDeployment
    config: OperatorConfig
    name: str
    namespace: str
    sid: str  # the seldon-deployment-id label
    owners: list[dict[str, Any]]
    metrics: dict[str, int]  # container name -> its metrics port

    @classmethod
    def of(cls, model: SeldonDeployment, config: OperatorConfig) -> Context:
        return cls(
            model=model,
            config=config,
            name=model.name,
            namespace=model.namespace or "default",
            sid=names.seldon_id(model.name),
            owners=owner_reference(model),
            metrics=metrics_ports(model, defaults_config(config).ports),
        )

    @property
    def protocol(self) -> str:
        return self.model.protocol

    def annotation(self, key: str, default: str = "") -> str:
        """A ``seldon.io/...`` setting from the SeldonDeployment's annotations."""
        return self.model.annotation(key, default)

    def meta(self, name: str, labels: dict[str, str], annotations: dict[str, Any] | None = None) -> dict[str, Any]:
        return object_meta(name, self.namespace, labels, self.owners, annotations)
