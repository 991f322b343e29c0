"""Quantities against a real API server (marker ``apiserver``): the independent check of the schema
verdicts and of what the charts render.

1. Every value of quantity_cases.QUANTITIES goes into a Deployment's container resources and
   through a server-side dry-run: the server accepts exactly the values the charts' schema accepts.
2. Each chart, given number and string quantities, renders manifests whose pods the server accepts
   with those quantities: the model charts' SeldonDeployment through Wharf's operator render (the
   Deployments it would create), wharf-core's operator Deployment directly, and the orchestrator
   defaults it hands the operator through the same render.
"""

from __future__ import annotations

import json

import pytest
from chart_support import CHARTS
from quantity_cases import QUANTITIES, RENDER_CASES, RENDERED, SETS_ORCHESTRATOR

from wharf.charts.render import helm_template
from wharf.operator.config import OperatorConfig
from wharf.operator.render import render as operator_render

pytestmark = [pytest.mark.helm, pytest.mark.apiserver]


def _deployment(name: str, namespace: str, resources: dict) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "registry.invalid/q:1", "resources": resources}]},
            },
        },
    }


def _dry_run(kube_api, docs: list[dict]):
    # JSON, not YAML: a number stays a number and a string a string, exactly as the test wrote them.
    stream = json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
    return kube_api.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=wharf-quantity-test",
        "-o",
        "json",
        "-f",
        "-",
        input=stream,
        check=False,
    )


def _answered(done) -> list[dict]:
    """The objects the server answered (kubectl prints a lone object, or a List of several)."""
    out = json.loads(done.stdout)
    return out.get("items", [out])


def test_the_server_accepts_exactly_the_quantities_the_schema_accepts(kube_api, kube_namespace):
    verdicts = {}
    for index, (value, _) in enumerate(QUANTITIES):
        done = _dry_run(
            kube_api, [_deployment(f"q{index}", kube_namespace, {"requests": {"cpu": value}, "limits": {"cpu": value}})]
        )
        verdicts[json.dumps(value)] = done.returncode == 0
    assert verdicts == {json.dumps(value): accepted for value, accepted in QUANTITIES}


def _sdep(chart: str, namespace: str, tmp_path) -> dict:
    mine = tmp_path / f"{chart}.yaml"
    mine.write_text(RENDER_CASES[chart])
    files = ([CHARTS / chart / "ci" / "default-values.yaml"] if chart == "wharf-mab" else []) + [mine]
    sdep = next(
        r.doc
        for r in helm_template(CHARTS / chart, files, release="q", namespace=namespace)
        if r.doc["kind"] == "SeldonDeployment"
    )
    sdep["metadata"]["uid"] = "00000000-0000-0000-0000-000000000001"  # the operator's owner references need one
    return sdep


def _containers(docs: list[dict]) -> list[dict]:
    return [c for d in docs if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]]


@pytest.mark.parametrize("chart", sorted(RENDER_CASES))
def test_rendered_quantities_reach_pods_the_server_accepts(kube_api, kube_namespace, tmp_path, chart):
    deployments = [d for d in operator_render(_sdep(chart, kube_namespace, tmp_path)) if d["kind"] == "Deployment"]
    resources = [
        c["resources"]
        for c in _containers(deployments)
        if c["name"] != "seldon-container-engine" or chart in SETS_ORCHESTRATOR
    ]
    assert resources and all(r == RENDERED for r in resources), resources
    done = _dry_run(kube_api, deployments)
    assert done.returncode == 0, done.stderr
    accepted = _answered(done)
    # The server's own form of the quantities: the same values, canonicalised as Kubernetes writes them.
    answered = [
        c["resources"]
        for c in _containers(accepted)
        if c["name"] != "seldon-container-engine" or chart in SETS_ORCHESTRATOR
    ]
    assert all(r["requests"] == {"cpu": "100m", "memory": "1073741824", "nvidia.com/gpu": "1"} for r in answered), (
        answered
    )
    assert all(
        r["limits"] == {"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "1", "ephemeral-storage": "1M"} for r in answered
    ), answered


def test_core_quantities_reach_the_operator_and_the_orchestrator_pods(kube_api, kube_namespace, tmp_path):
    mine = tmp_path / "core.yaml"
    mine.write_text(
        "executor:\n  resources: {cpuRequest: 0.25, cpuLimit: '1', memoryRequest: 1000000,"
        " memoryLimit: 1073741824}\nmanager: {cpuRequest: 0.1, cpuLimit: 2, memoryRequest: 200Mi,"
        " memoryLimit: 1073741824}\n"
    )
    docs = [r.doc for r in helm_template(CHARTS / "wharf-core", [mine], release="q", namespace=kube_namespace)]
    operator = next(d for d in docs if d["kind"] == "Deployment")
    done = _dry_run(kube_api, [operator])
    assert done.returncode == 0, done.stderr
    assert _answered(done)[0]["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "200Mi"},
        "limits": {"cpu": "2", "memory": "1073741824"},
    }
    # The orchestrator defaults travel as environment variables; the operator copies them into pods.
    env = {e["name"]: e.get("value", "") for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
    config = OperatorConfig.from_env(env)
    sdep = _sdep("wharf-model", kube_namespace, tmp_path)
    engines = [c for c in _containers(operator_render(sdep, config)) if c["name"] == "seldon-container-engine"]
    assert [e["resources"] for e in engines] == [
        {"requests": {"cpu": "0.25", "memory": "1000000"}, "limits": {"cpu": "1", "memory": "1073741824"}}
    ]
    done = _dry_run(kube_api, [d for d in operator_render(sdep, config) if d["kind"] == "Deployment"])
    assert done.returncode == 0, done.stderr
