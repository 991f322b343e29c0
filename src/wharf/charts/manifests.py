"""Rendered manifests: Kubernetes JSON schemas (offline), our CRD schema, and named security rules.

Pure functions over parsed documents; rendering with helm lives in ``render.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import kubernetes_validate

from wharf.charts.values_check import key_path
from wharf.deployment.crd import crd_json_schema
from wharf.deployment.kube import KUBE_VERSION

DEFAULT_KUBE_VERSION = KUBE_VERSION
SKIP_ANNOTATION = "wharf.io/skip-checks"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}


@dataclass(frozen=True)
class Finding:
    source: str  # e.g. "wharf-core/templates/deployment.yaml"
    resource: str  # "Deployment/wharf-operator"
    check: str  # "kubernetes-schema", "crd-schema" or a security rule name
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.resource}: [{self.check}] {self.message}"


def resource_name(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"


# --- Kubernetes built-in kinds -----------------------------------------------------------------


def check_kubernetes_schema(doc: dict[str, Any], kube_version: str, source: str) -> list[Finding]:
    """Strict validation of a built-in kind against the bundled schemas of ``kube_version``.
    Custom resources (no bundled schema) return no finding here; see ``check_custom_resource``."""
    try:
        kubernetes_validate.validate(doc, kube_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return []
    except kubernetes_validate.ValidationError as exc:
        where = key_path(exc.path) or "(root)"
        return [
            Finding(
                source, resource_name(doc), "kubernetes-schema", f"{where}: {exc.message} (Kubernetes {exc.version})"
            )
        ]
    return []


# --- custom resources against a CRD ----------------------------------------------------------


def crd_schemas(crd: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict JSON schema, for every served version of ``crd``."""
    spec = crd["spec"]
    out = {}
    for version in spec["versions"]:
        if version.get("served", True):
            out[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = crd_json_schema(
                version["schema"]["openAPIV3Schema"]
            )
    return out


def check_custom_resource(
    doc: dict[str, Any], schemas: dict[tuple[str, str], dict[str, Any]], source: str
) -> list[Finding]:
    schema = schemas.get((doc.get("apiVersion", ""), doc.get("kind", "")))
    if schema is None:
        return []
    validator = jsonschema.Draft7Validator(schema)
    return [
        Finding(source, resource_name(doc), "crd-schema", f"{key_path(e.absolute_path) or '(root)'}: {e.message}")
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


# --- security rules -----------------------------------------------------------------------------


def pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, PodSpec) for a workload or for each SeldonDeployment componentSpec."""
    kind, spec = doc.get("kind"), doc.get("spec") or {}
    if kind == "Pod":
        yield "spec", spec
    elif kind == "CronJob":
        yield (
            "spec.jobTemplate.spec.template.spec",
            (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {},
        )
    elif kind in WORKLOAD_KINDS:
        yield "spec.template.spec", (spec.get("template") or {}).get("spec") or {}
    elif kind == "SeldonDeployment":
        for p, predictor in enumerate(spec.get("predictors") or []):
            for c, component in enumerate(predictor.get("componentSpecs") or []):
                yield f"spec.predictors[{p}].componentSpecs[{c}].spec", component.get("spec") or {}


def _containers(pod: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers"):
        for i, container in enumerate(pod.get(field) or []):
            yield f"{field}[{i}]", container


def _image_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and not last.endswith(":latest")


def _rules_for(kind: str) -> list[str]:
    rules = [
        "run-as-non-root",
        "no-privileged",
        "no-privilege-escalation",
        "read-only-root-filesystem",
        "drop-all-capabilities",
        "memory-limit",
        "resource-requests",
        "image-tag-pinned",
        "no-host-namespaces",
    ]
    if kind in LONG_RUNNING:
        rules.append("probes")
    return rules


SECURITY_RULES = {
    "run-as-non-root": "runAsNonRoot: true (pod or container) or a non-zero runAsUser",
    "no-privileged": "securityContext.privileged is not true",
    "no-privilege-escalation": "securityContext.allowPrivilegeEscalation: false",
    "read-only-root-filesystem": "securityContext.readOnlyRootFilesystem: true",
    "drop-all-capabilities": "securityContext.capabilities.drop contains ALL",
    "memory-limit": "resources.limits.memory is set",
    "resource-requests": "resources.requests.cpu and .memory are set",
    "image-tag-pinned": "image has a tag other than latest, or a digest",
    "no-host-namespaces": "hostNetwork, hostPID and hostIPC are not true",
    "probes": "long-running containers have readiness and liveness probes",
}


def check_security(doc: dict[str, Any], source: str) -> list[Finding]:
    """Named security rules on every pod spec in ``doc``. An object opts out of rules with the
    annotation ``wharf.io/skip-checks: rule,rule`` (say why in a comment next to it)."""
    kind = doc.get("kind", "")
    annotations = (doc.get("metadata") or {}).get("annotations") or {}
    skipped = {r.strip() for r in str(annotations.get(SKIP_ANNOTATION, "")).split(",") if r.strip()}
    rules = [r for r in _rules_for(kind) if r not in skipped]
    found: list[Finding] = []

    def add(rule: str, where: str, message: str) -> None:
        if rule in rules:
            found.append(Finding(source, resource_name(doc), rule, f"{where}: {message}"))

    for base, pod in pod_specs(doc):
        pod_ctx = pod.get("securityContext") or {}
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(flag):
                add("no-host-namespaces", f"{base}.{flag}", "must not be true")
        for where, container in _containers(pod):
            at = f"{base}.{where}"
            ctx = container.get("securityContext") or {}
            non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
            user = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
            if non_root is not True and not (isinstance(user, int) and user > 0):
                add("run-as-non-root", at, "set securityContext.runAsNonRoot: true")
            if user == 0:
                add("run-as-non-root", at, "runAsUser is 0 (root)")
            if ctx.get("privileged") is True:
                add("no-privileged", at, "securityContext.privileged must not be true")
            if ctx.get("allowPrivilegeEscalation") is not False:
                add("no-privilege-escalation", at, "set securityContext.allowPrivilegeEscalation: false")
            if ctx.get("readOnlyRootFilesystem") is not True:
                add("read-only-root-filesystem", at, "set securityContext.readOnlyRootFilesystem: true")
            if "ALL" not in ((ctx.get("capabilities") or {}).get("drop") or []):
                add("drop-all-capabilities", at, "set securityContext.capabilities.drop: [ALL]")
            resources = container.get("resources") or {}
            if not (resources.get("limits") or {}).get("memory"):
                add("memory-limit", at, "set resources.limits.memory")
            requests = resources.get("requests") or {}
            if not (requests.get("cpu") and requests.get("memory")):
                add("resource-requests", at, "set resources.requests.cpu and resources.requests.memory")
            image = container.get("image")
            if image is not None and not _image_pinned(str(image)):
                add("image-tag-pinned", at, f"image {image!r} needs a fixed tag or a digest")
            if where.startswith("containers") and not (
                container.get("readinessProbe") and container.get("livenessProbe")
            ):
                add("probes", at, "set readinessProbe and livenessProbe")
    return found


_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_document(
    doc: dict[str, Any], source: str, kube_version: str, crds: dict[tuple[str, str], dict[str, Any]]
) -> list[Finding]:
    findings = []
    name = (doc.get("metadata") or {}).get("name", "")
    if not name or not _NAME.match(str(name)) or len(str(name)) > 253:
        findings.append(
            Finding(source, resource_name(doc), "object-name", f"metadata.name {name!r} is not a valid DNS subdomain")
        )
    findings += check_kubernetes_schema(doc, kube_version, source)
    findings += check_custom_resource(doc, crds, source)
    findings += check_security(doc, source)
    return findings
