"""Manifest checks on hand-made documents: Kubernetes schemas, our CRD schema, named security rules."""

from __future__ import annotations

import copy

import pytest

from wharf.charts.manifests import SECURITY_RULES, check_custom_resource, check_kubernetes_schema, check_security
from wharf.charts.validate import sdep_crd_schemas

SECURE_CONTAINER = {
    "name": "app",
    "image": "wharf/app:1.0.0",
    "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}, "limits": {"memory": "20Mi"}},
    "securityContext": {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    },
    "readinessProbe": {"httpGet": {"path": "/", "port": 80}},
    "livenessProbe": {"httpGet": {"path": "/", "port": 80}},
}


def deployment(container=None, **pod):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [container or copy.deepcopy(SECURE_CONTAINER)], **pod},
            },
        },
    }


def rules_hit(doc):
    return sorted({f.check for f in check_security(doc, "t.yaml")})


def test_a_secure_deployment_passes_every_rule():
    assert rules_hit(deployment()) == []


@pytest.mark.parametrize(
    "change,rule",
    [
        (lambda c: c["securityContext"].pop("runAsNonRoot"), "run-as-non-root"),
        (lambda c: c["securityContext"].update(privileged=True), "no-privileged"),
        (lambda c: c["securityContext"].pop("allowPrivilegeEscalation"), "no-privilege-escalation"),
        (lambda c: c["securityContext"].update(readOnlyRootFilesystem=False), "read-only-root-filesystem"),
        (lambda c: c["securityContext"].pop("capabilities"), "drop-all-capabilities"),
        (lambda c: c["resources"].pop("limits"), "memory-limit"),
        (lambda c: c["resources"]["requests"].pop("cpu"), "resource-requests"),
        (lambda c: c.update(image="wharf/app:latest"), "image-tag-pinned"),
        (lambda c: c.update(image="wharf/app"), "image-tag-pinned"),
        (lambda c: c.pop("readinessProbe"), "probes"),
    ],
)
def test_each_rule_fires_on_its_own_violation(change, rule):
    container = copy.deepcopy(SECURE_CONTAINER)
    change(container)
    assert rules_hit(deployment(container)) == [rule]
    assert rule in SECURITY_RULES


def test_pod_level_settings_count_and_rules_name_the_container():
    container = copy.deepcopy(SECURE_CONTAINER)
    container["securityContext"].pop("runAsNonRoot")
    assert rules_hit(deployment(container, securityContext={"runAsNonRoot": True})) == []
    findings = check_security(deployment(container, hostNetwork=True), "t.yaml")
    assert {f.check for f in findings} == {"run-as-non-root", "no-host-namespaces"}
    assert "spec.template.spec.containers[0]" in next(f.message for f in findings if f.check == "run-as-non-root")


def test_digest_pins_and_skip_annotation_opts_out():
    container = copy.deepcopy(SECURE_CONTAINER)
    container["image"] = "r.io/app@sha256:" + "a" * 64
    container.pop("livenessProbe")
    doc = deployment(container)
    assert rules_hit(doc) == ["probes"]
    doc["metadata"]["annotations"] = {"wharf.io/skip-checks": "probes"}
    assert rules_hit(doc) == []


def test_security_rules_reach_seldondeployment_containers():
    sdep = {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "s"},
        "spec": {
            "predictors": [
                {
                    "name": "p",
                    "graph": {"name": "m"},
                    "componentSpecs": [{"spec": {"containers": [{"name": "m", "image": "m:1"}]}}],
                }
            ]
        },
    }
    hit = rules_hit(sdep)
    assert "run-as-non-root" in hit and "probes" not in hit  # the operator adds probes to model containers


def test_kubernetes_schema_is_strict_and_names_the_field():
    doc = deployment()
    doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 3
    doc["spec"]["replicaz"] = 1
    findings = check_kubernetes_schema(doc, "1.32.0", "t.yaml")
    assert len(findings) == 1 and findings[0].check == "kubernetes-schema"
    assert "(Kubernetes 1.32" in findings[0].message
    assert check_kubernetes_schema(deployment(), "1.32.0", "t.yaml") == []


def test_custom_resources_are_checked_against_our_crd_schema():
    schemas = sdep_crd_schemas()
    good = {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "s"},
        "spec": {"predictors": [{"name": "p", "graph": {"name": "m", "type": "MODEL"}}]},
    }
    assert check_custom_resource(good, schemas, "t.yaml") == []
    bad = copy.deepcopy(good)
    bad["spec"]["predictors"][0]["graph"]["type"] = "MODLE"
    bad["spec"]["predictors"][0]["replicaz"] = 2
    messages = [f.message for f in check_custom_resource(bad, schemas, "t.yaml")]
    assert any(m.startswith("spec.predictors[0].graph.type:") for m in messages), messages
    assert any("replicaz" in m for m in messages), messages
    # v1alpha2/v1alpha3 are served with the same schema.
    old = dict(bad, apiVersion="machinelearning.seldon.io/v1alpha2")
    assert check_custom_resource(old, schemas, "t.yaml")
