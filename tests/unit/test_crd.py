"""The CRD generated from the Python model: shape, upstream names, and no drift in the committed files."""

from __future__ import annotations

from pathlib import Path

import yaml

from wharf.deployment.crd import crd
from wharf.deployment.schema import GRAPH_LEVELS
from wharf.operator.generate import CHART_CRD_PATH, CHART_RULES_PATH, outputs, stale
from wharf.operator.rbac import cluster_role

ROOT = Path(__file__).resolve().parents[2]


def test_generated_files_match_the_model() -> None:
    assert stale(ROOT) == [], "run `invoke generate` and commit the result"


def test_crd_names_versions_and_subresources() -> None:
    c = crd()
    spec = c["spec"]
    assert c["metadata"]["name"] == "seldondeployments.machinelearning.seldon.io"
    assert spec["names"]["shortNames"] == ["sdep"] and spec["scope"] == "Namespaced"
    assert [(v["name"], v["served"], v["storage"]) for v in spec["versions"]] == [
        ("v1", True, True),
        ("v1alpha2", True, False),
        ("v1alpha3", True, False),
    ]
    for version in spec["versions"]:
        assert version["subresources"]["status"] == {}
        assert version["subresources"]["scale"] == {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
        }
        assert [col["name"] for col in version["additionalPrinterColumns"]][0] == "State"


def test_graph_children_nest_to_upstream_depth() -> None:
    node = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["predictors"][
        "items"
    ]["properties"]["graph"]
    depth = 0
    while "children" in node["properties"]:
        node = node["properties"]["children"]["items"]
        depth += 1
    assert depth == GRAPH_LEVELS


def test_chart_crd_is_conditional_and_kept_on_request() -> None:
    text = outputs()[CHART_CRD_PATH]
    assert text.startswith("{{- if .Values.crds.enabled }}") and text.rstrip().endswith("{{- end }}")
    assert "{{- if .Values.crds.keep }}\n  annotations:\n    helm.sh/resource-policy: keep" in text
    # With the template lines removed it is the model's CRD (kustomize's is rendered from the chart).
    plain = "\n".join(
        line
        for line in text.splitlines()
        if "{{" not in line and "resource-policy" not in line and line != "  annotations:"
    )
    assert yaml.safe_load(plain) == crd()


def test_rbac_is_one_rules_list_for_the_operator_and_the_chart() -> None:
    role = cluster_role("manager-role")
    assert role["kind"] == "ClusterRole" and role["rules"] == yaml.safe_load(outputs()[CHART_RULES_PATH])
    verbs = {(g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert "delete" not in verbs[("machinelearning.seldon.io", "seldondeployments")]
    assert {"create", "patch", "delete"} <= verbs[("apps", "deployments")]
    assert ("", "secrets") not in verbs  # least privilege: the operator never reads secrets
