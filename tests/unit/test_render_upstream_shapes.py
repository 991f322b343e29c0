"""SeldonDeployment shapes from upstream's own examples that Wharf once could not render, and the
reverse: embedded Kubernetes objects the API server would refuse, refused before any cluster.

Each test here failed before the fix it names.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest
import yaml

from wharf.cli import main
from wharf.deployment.graph import GraphError, from_file
from wharf.deployment.validate import SdepError
from wharf.operator.handlers import reconcile
from wharf.operator.render import ENGINE_CONTAINER, render


def sdep(predictor: dict) -> dict:
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "m", "namespace": "ns"},
        "spec": {"predictors": [predictor]},
    }


MODEL = {
    "name": "default",
    "componentSpecs": [
        {"spec": {"containers": [{"name": "classifier", "image": "reg/model:1", "env": [{"name": "A", "value": "b"}]}]}}
    ],
    "graph": {"name": "classifier", "type": "MODEL", "children": []},
}


def kinds(objects: list[dict]) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"]["name"]) for o in objects]


def engine_graph(deployment: dict) -> dict:
    engine = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == ENGINE_CONTAINER)
    value = next(e["value"] for e in engine["env"] if e["name"] == "ENGINE_PREDICTOR")
    return json.loads(base64.b64decode(value))["graph"]


# --- explicit nulls: the API server prunes them, so they mean "not set" --------------------------


@pytest.mark.parametrize(
    "path",
    [
        ("spec", "protocol"),
        ("spec", "annotations"),
        ("spec", "predictors", 0, "labels"),
        ("spec", "predictors", 0, "annotations"),
        ("spec", "predictors", 0, "svcOrchSpec"),
        ("spec", "predictors", 0, "componentSpecs", 0, "metadata"),
        ("spec", "predictors", 0, "componentSpecs", 0, "spec", "volumes"),
        ("spec", "predictors", 0, "componentSpecs", 0, "spec", "containers", 0, "env"),
        ("spec", "predictors", 0, "componentSpecs", 0, "spec", "containers", 0, "ports"),
        ("spec", "predictors", 0, "graph", "endpoint"),
        ("spec", "predictors", 0, "graph", "children"),
    ],
    ids=lambda p: ".".join(map(str, p)),
)
def test_an_explicit_null_renders_as_if_the_field_were_absent(path: tuple) -> None:
    with_null = sdep(copy.deepcopy(MODEL))
    target = with_null
    for key in path[:-1]:
        target = target[key]
    had = path[-1] in target
    target[path[-1]] = None
    without = copy.deepcopy(with_null)
    target = without
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    assert render(with_null) == render(without), f"null at {'.'.join(map(str, path))} (present before: {had})"


def test_component_specs_null_with_a_builtin_graph_renders() -> None:
    objects = render(
        sdep({"name": "default", "componentSpecs": None, "graph": {"name": "m", "implementation": "SIMPLE_MODEL"}})
    )
    assert ("Deployment", "m-default-svc-orch") in kinds(objects)


# --- a graph of built-in implementations only: the orchestrator's pod alone ----------------------

ABTEST = {
    "name": "default",
    "componentSpecs": [{"spec": {"containers": []}}],
    "graph": {
        "name": "r",
        "implementation": "RANDOM_ABTEST",
        "parameters": [{"name": "ratioA", "value": "0.5", "type": "FLOAT"}],
        "children": [{"name": "a", "implementation": "SIMPLE_MODEL"}, {"name": "b", "implementation": "SIMPLE_MODEL"}],
    },
}


@pytest.mark.parametrize(
    "predictor",
    [ABTEST, {k: v for k, v in ABTEST.items() if k != "componentSpecs"}],
    ids=["containers-empty", "no-componentSpecs"],
)
def test_a_builtin_only_graph_renders_as_an_orchestrator_only_pod(predictor: dict) -> None:
    objects = render(sdep(predictor))
    assert kinds(objects) == [("Deployment", "m-default-svc-orch"), ("Service", "m-default")]
    deployment, service = objects
    pod = deployment["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == [ENGINE_CONTAINER]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    graph = engine_graph(deployment)
    assert graph["implementation"] == "RANDOM_ABTEST"
    assert [c["implementation"] for c in graph["children"]] == ["SIMPLE_MODEL", "SIMPLE_MODEL"]


# --- one graph node, one container name, several componentSpecs (versions told apart by labels) ---

VERSIONS = {
    "name": "default",
    "componentSpecs": [
        {
            "metadata": {"labels": {"version": version}},
            "spec": {"containers": [{"name": "classifier", "image": f"reg/model:{tag}"}]},
        }
        for version, tag in (("v1", "1.0"), ("v2", "0.6"))
    ],
    "graph": {"name": "classifier", "type": "MODEL"},
}


def test_two_versions_of_one_node_render_one_deployment_per_component_spec() -> None:
    objects = render(sdep(copy.deepcopy(VERSIONS)))
    assert sorted(kinds(objects)) == [
        ("Deployment", "m-default-0-classifier"),
        ("Deployment", "m-default-1-classifier"),
        ("Deployment", "m-default-svc-orch"),
        ("Service", "m-default"),
        ("Service", "m-default-classifier"),
    ]
    by_name = {o["metadata"]["name"]: o for o in objects}
    for name, version, image in (
        ("m-default-0-classifier", "v1", "reg/model:1.0"),
        ("m-default-1-classifier", "v2", "reg/model:0.6"),
    ):
        template = by_name[name]["spec"]["template"]
        assert template["metadata"]["labels"]["version"] == version
        assert [(c["name"], c["image"]) for c in template["spec"]["containers"]] == [("classifier", image)]
    # the node's Service selects both versions' pods, and the orchestrator calls the node through it
    selector = by_name["m-default-classifier"]["spec"]["selector"]
    for name in ("m-default-0-classifier", "m-default-1-classifier"):
        assert selector.items() <= by_name[name]["spec"]["template"]["metadata"]["labels"].items()
    assert (
        engine_graph(by_name["m-default-svc-orch"])["endpoint"]["service_host"]
        == "m-default-classifier.ns.svc.cluster.local"
    )


# --- embedded Kubernetes objects the API server would refuse --------------------------------------

BAD_PODS = [
    (
        "imagePullPolicy",
        22,
        "spec.predictors[0].componentSpecs[0].spec.containers[0].imagePullPolicy: expected a string, got 22",
    ),
    ("bogus", 1, "spec.predictors[0].componentSpecs[0].spec.containers[0]: unknown field 'bogus'"),
    (
        "ports",
        [{"name": "http", "containerPort": "9000"}],
        "spec.predictors[0].componentSpecs[0].spec.containers[0].ports[0].containerPort: expected an integer, "
        "got '9000'",
    ),
]


def bad_pod(field: str, value: object) -> dict:
    out = sdep(copy.deepcopy(MODEL))
    out["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0][field] = value
    return out


@pytest.mark.parametrize("field,value,message", BAD_PODS, ids=[b[0] for b in BAD_PODS])
def test_render_refuses_a_pod_spec_the_api_server_would_refuse(field: str, value: object, message: str) -> None:
    with pytest.raises(SdepError) as caught:
        render(bad_pod(field, value))
    assert caught.value.problems == [message]


def test_a_bad_explainer_container_and_orchestrator_env_are_refused_too() -> None:
    bad = sdep(copy.deepcopy(MODEL))
    bad["spec"]["predictors"][0]["explainer"] = {"type": "AnchorTabular", "containerSpec": {"name": "e", "tty": "yes"}}
    bad["spec"]["predictors"][0]["svcOrchSpec"] = {"env": [{"name": "X", "value": 3}]}
    with pytest.raises(SdepError) as caught:
        render(bad)
    assert caught.value.problems == [
        "spec.predictors[0].explainer.containerSpec.tty: expected a boolean, got 'yes'",
        "spec.predictors[0].svcOrchSpec.env[0].value: expected a string, got 3",
    ]


def test_wharf_render_the_operator_and_wharf_run_give_one_message(tmp_path: Path, capsys) -> None:
    field, value, message = BAD_PODS[0]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad_pod(field, value)))
    assert main(["render", str(path)]) == 1
    assert f"error: {path}: SeldonDeployment m: {message}\n" in capsys.readouterr().err
    status = reconcile(bad_pod(field, value), cluster=None, config=None)  # refused before any cluster call
    assert status["state"] == "Failed" and status["description"] == f"cannot render: {message}"
    with pytest.raises(GraphError) as caught:
        from_file(path)
    assert str(caught.value) == f"{path}: SeldonDeployment m: {message}"


def test_a_type_the_crd_refuses_is_refused_by_render_and_wharf_run_alike(tmp_path: Path) -> None:
    bad = sdep(copy.deepcopy(MODEL))
    bad["spec"]["predictors"][0]["replicas"] = "1"  # upstream's private_registries doc writes this
    bad["spec"]["predictors"][0]["graph"]["endpoint"] = {"http_port": 9000}
    problems = [
        "spec.predictors[0].graph.endpoint: unknown field 'http_port'",
        "spec.predictors[0].replicas: expected an integer, got '1'",
    ]
    with pytest.raises(SdepError) as caught:
        render(bad)
    assert caught.value.problems == problems
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(GraphError) as from_run:
        from_file(path)
    name = bad["metadata"]["name"]
    assert str(from_run.value).splitlines() == [f"{path}: SeldonDeployment {name}: {p}" for p in problems]
