"""The SeldonDeployment CustomResourceDefinition, generated from ``schema.py`` (pure data)."""

from __future__ import annotations

import copy
from typing import Any

from wharf.deployment.schema import sdep_schema

GROUP = "machinelearning.seldon.io"
KIND = "SeldonDeployment"
PLURAL = "seldondeployments"
SINGULAR = "seldondeployment"
SHORT_NAMES = ["sdep"]
STORAGE_VERSION = "v1"
# All three versions share one schema upstream, so no conversion webhook is needed.
VERSIONS = ("v1", "v1alpha2", "v1alpha3")
CRD_NAME = f"{PLURAL}.{GROUP}"

PRINTER_COLUMNS = [
    {"name": "State", "type": "string", "jsonPath": ".status.state"},
    {"name": "Replicas", "type": "integer", "jsonPath": ".status.replicas", "priority": 1},
    {"name": "Address", "type": "string", "jsonPath": ".status.address.url", "priority": 1},
    {"name": "Description", "type": "string", "jsonPath": ".status.description", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def crd() -> dict[str, Any]:
    schema = sdep_schema()
    versions = [
        {
            "name": name,
            "served": True,
            "storage": name == STORAGE_VERSION,
            "schema": {"openAPIV3Schema": schema},
            # Upstream scales a SeldonDeployment through spec.replicas (`kubectl scale sdep/x`).
            "subresources": {
                "status": {},
                "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"},
            },
            "additionalPrinterColumns": PRINTER_COLUMNS,
        }
        for name in VERSIONS
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": {"app.kubernetes.io/part-of": "wharf"}},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": SHORT_NAMES,
                "categories": ["all", "seldon"],
            },
            "scope": "Namespaced",
            "versions": versions,
        },
    }


def crd_json_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    """A CRD's openAPIV3Schema as strict JSON Schema: unknown fields are errors (the API server
    would silently prune them), int-or-string accepts both."""
    node = copy.deepcopy(openapi)

    def fix(s: Any) -> None:
        if isinstance(s, dict):
            if s.get("x-kubernetes-int-or-string"):
                s.pop("type", None)
                s["type"] = ["integer", "string"]
            if (
                s.get("type") == "object"
                and "properties" in s
                and not s.get("x-kubernetes-preserve-unknown-fields")
                and "additionalProperties" not in s
            ):
                s["additionalProperties"] = False
            for value in s.values():
                fix(value)
        elif isinstance(s, list):
            for value in s:
                fix(value)

    fix(node)
    # metadata is checked by the server's ObjectMeta rules, not by the CRD schema.
    node.setdefault("properties", {})["metadata"] = {"type": "object"}
    return node
