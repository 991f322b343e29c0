"""Object names as upstream's operator derives them from a SeldonDeployment.

Any name over 63 characters becomes ``seldon-<md5 hex of the name>``, so existing tooling that
looks objects up by name keeps finding them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from wharf.deployment.model import ComponentSpec

MAX = 63
SVC_NAME_ANNOTATION = "seldon.io/svc-name"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def bounded(name: str) -> str:
    return name if len(name) <= MAX else f"seldon-{_md5(name)}"


def seldon_id(sdep_name: str) -> str:
    return bounded(sdep_name)


def deployment_name(sdep_name: str, predictor_name: str, component: ComponentSpec, name_as_prefix: bool = False) -> str:
    """``<sdep>-<predictor>-<idx>-<metadata.name>`` or ``...-<c1>-<c2>`` (container names)."""
    tail = component.name or "-".join(c.name for c in component.containers)
    name = f"{sdep_name}-{predictor_name}-{component.index}-{tail}"
    if len(name) <= MAX:
        return name
    if name_as_prefix and len(candidate := f"{sdep_name}-{_md5(name)}") <= MAX:
        return candidate
    return f"seldon-{_md5(name)}"


def predictor_service(sdep_name: str, predictor_name: str, annotations: Mapping[str, str]) -> str:
    """``<sdep>-<predictor>``, or the predictor's ``seldon.io/svc-name`` annotation."""
    return annotations.get(SVC_NAME_ANNOTATION) or bounded(f"{sdep_name}-{predictor_name}")


def container_service(sdep_name: str, predictor_name: str, container: str) -> str:
    return bounded(f"{sdep_name}-{predictor_name}-{container}")


def engine_deployment(sdep_name: str, predictor_name: str) -> str:
    return bounded(f"{sdep_name}-{predictor_name}-svc-orch")
