"""The typed SeldonDeployment (wharf.deployment.model): every field it reads, the path of every problem,
and agreement with the CRD's schema on the whole corpus of upstream's and Wharf's own examples."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from wharf.deployment.kube import schema_problems, without_nulls
from wharf.deployment.model import ModelError, parse, parse_predictor, read
from wharf.deployment.validate import _crd_validator, _field_of

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def sdep(graph: dict[str, Any], **predictor: Any) -> dict[str, Any]:
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "m", "namespace": "ns", "annotations": {"a": "meta", "b": "meta"}},
        "spec": {
            "annotations": {"a": "spec"},
            "protocol": "v2",
            "predictors": [{"name": "p", "graph": graph, **predictor}],
        },
    }


DEEP = {
    "name": "a",
    "children": [{"name": "b", "children": [{"name": "c"}, {"name": "d", "type": "MODEL"}]}],
}


def test_every_field_is_read_typed_with_its_path() -> None:
    graph = {
        "name": "router",
        "type": "ROUTER",
        "implementation": "RANDOM_ABTEST",
        "methods": ["ROUTE"],
        "parameters": [{"name": "ratioA", "value": "0.5", "type": "FLOAT"}],
        "logger": {"mode": "all", "url": "http://log"},
        "endpoint": {"type": "GRPC", "service_host": "h", "service_port": 1, "httpPort": 2, "grpcPort": 3},
        "children": [
            {
                "name": "clf",
                "implementation": "SKLEARN_SERVER",
                "modelUri": "gs://b/m",
                "envSecretRefName": "s",
                "storageInitializerImage": "init:1",
                "serviceAccountName": "sa",
            }
        ],
    }
    raw = sdep(
        graph,
        replicas=2,
        traffic=100,
        labels={"version": "v1"},
        annotations={"seldon.io/no-engine": "True"},
        svcOrchSpec={"env": [{"name": "X", "value": "1"}], "resources": {"limits": {"cpu": "1"}}, "replicas": 3},
        componentSpecs=[
            {
                "metadata": {"name": "cs", "labels": {"l": "1"}},
                "spec": {"containers": [{"name": "clf", "resources": {}}]},
                "replicas": 4,
                "hpaSpec": {"maxReplicas": 5},
            }
        ],
        explainer={"type": "AnchorTabular", "modelUri": "gs://e", "config": {"k": "v"}, "replicas": 1},
        ssl={"certSecretName": "cert"},
        progressDeadlineSeconds=60,
    )
    model = parse(raw)
    assert (model.name, model.namespace, model.protocol, model.transport, model.server_type) == (
        "m",
        "ns",
        "v2",
        "rest",
        "rpc",
    )
    assert (model.annotation("a"), model.annotation("b"), model.annotation("c", "d")) == ("spec", "meta", "d")
    (p,) = model.predictors
    assert (p.path, p.name, p.replicas, p.traffic, p.shadow, p.no_engine) == (
        "spec.predictors[0]",
        "p",
        2,
        100,
        False,
        True,
    )
    assert p.labels == {"version": "v1"} and p.ssl_cert_secret_name == "cert" and p.progress_deadline_seconds == 60
    assert p.svc_orch_spec.env_names() == {"X"} and p.svc_orch_spec.replicas == 3
    assert p.svc_orch_spec.resources == {"limits": {"cpu": "1"}}
    assert p.explainer is not None and (p.explainer.type, p.explainer.config) == ("AnchorTabular", {"k": "v"})
    (component,) = p.component_specs
    assert (component.path, component.name, component.labels, component.replicas) == (
        "spec.predictors[0].componentSpecs[0]",
        "cs",
        {"l": "1"},
        4,
    )
    assert component.hpa_spec == {"maxReplicas": 5} and component.pod == {
        "containers": [{"name": "clf", "resources": {}}]
    }
    assert [(c.path, c.name, c.image) for _, c in p.containers()] == [
        ("spec.predictors[0].componentSpecs[0].spec.containers[0]", "clf", None)
    ]
    router, clf = p.nodes()
    assert (router.path, router.type, router.methods, router.prepackaged) == (
        "spec.predictors[0].graph",
        "ROUTER",
        ("ROUTE",),
        False,
    )
    assert router.endpoint is not None and (router.endpoint.type, router.endpoint.http_port) == ("GRPC", 2)
    assert router.logger is not None and (router.logger.mode, router.logger.url) == ("all", "http://log")
    assert [prm.raw for prm in router.parameters] == graph["parameters"]
    assert [(prm.path, prm.name, prm.value, prm.type) for prm in router.parameters] == [
        ("spec.predictors[0].graph.parameters[0]", "ratioA", "0.5", "FLOAT")
    ]
    assert clf.path == "spec.predictors[0].graph.children[0]" and clf.prepackaged and not clf.own_image
    assert (clf.model_uri, clf.env_secret_ref_name, clf.storage_initializer_image) == ("gs://b/m", "s", "init:1")
    assert p.graph.find("clf") is clf and p.graph.find("nope") is None
    assert model.raw is raw and clf.raw is graph["children"][0]  # what render passes through unchanged


def test_defaults_and_nulls_as_the_api_server_reads_them() -> None:
    raw = sdep({"name": "a", "endpoint": None}, componentSpecs=None, traffic=None)
    raw["spec"]["transport"] = None
    model = parse(raw)
    (p,) = model.predictors
    assert (model.protocol, model.transport, model.server_type) == ("v2", "rest", "rpc")
    assert (p.component_specs, p.traffic, p.graph.endpoint, p.graph.implementation_or_default) == (
        (),
        None,
        None,
        "UNKNOWN_IMPLEMENTATION",
    )


@pytest.mark.parametrize(
    "change,problem",
    [
        (
            lambda g: g["children"][0]["children"][1].update(type=5),
            "spec.predictors[0].graph.children[0].children[1].type: expected a string, got 5",
        ),
        (
            lambda g: g["children"][0]["children"][1].update(type="NOPE"),
            "spec.predictors[0].graph.children[0].children[1].type: 'NOPE' is not one of UNKNOWN_TYPE, ROUTER, "
            "COMBINER, MODEL, TRANSFORMER, OUTPUT_TRANSFORMER",
        ),
        (
            lambda g: g["children"][0]["children"][0].pop("name"),
            "spec.predictors[0].graph.children[0].children[0].name: required, a non-empty string",
        ),
        (
            lambda g: g["children"][0].update(methods=["ROUTE", "PREDICT"]),
            "spec.predictors[0].graph.children[0].methods[1]: 'PREDICT' is not one of TRANSFORM_INPUT, "
            "TRANSFORM_OUTPUT, ROUTE, AGGREGATE, SEND_FEEDBACK",
        ),
        (
            lambda g: g["children"][0].update(children={"name": "x"}),
            "spec.predictors[0].graph.children[0].children: expected a list, got {'name': 'x'}",
        ),
        (
            lambda g: g["children"][0]["children"].append("x"),
            "spec.predictors[0].graph.children[0].children[2]: expected a mapping, got 'x'",
        ),
        (
            lambda g: g["children"][0].update(endpoint={"httpPort": "9000"}),
            "spec.predictors[0].graph.children[0].endpoint.httpPort: expected an integer, got '9000'",
        ),
        (
            lambda g: g["children"][0].update(logger={"url": "http://x"}),
            "spec.predictors[0].graph.children[0].logger.mode: required when logger is set, one of all, request, response",
        ),
        (
            lambda g: g["children"][0].update(parameters=[{"name": "a", "value": 1, "type": "INT"}]),
            "spec.predictors[0].graph.children[0].parameters[0].value: expected a string, got 1",
        ),
        (
            lambda g: g["children"][0].update(parameters=[{"name": "a", "value": "1"}]),
            "spec.predictors[0].graph.children[0].parameters[0]: required field 'type' is missing",
        ),
    ],
)
def test_a_wrong_field_deep_in_the_graph_is_named_by_its_path(change: Any, problem: str) -> None:
    graph = copy.deepcopy(DEEP)
    change(graph)
    with pytest.raises(ModelError) as err:
        parse(sdep(graph))
    assert err.value.problems == [problem]


@pytest.mark.parametrize(
    "change,problem",
    [
        (lambda s: s.update(protocol="grpc"), "spec.protocol: 'grpc' is not one of seldon, tensorflow, kfserving, v2"),
        (lambda s: s.update(replicas=-1), "spec.replicas: -1 is less than the minimum of 0"),
        (
            lambda s: s["predictors"][0].update(traffic=101),
            "spec.predictors[0].traffic: 101 is greater than the maximum of 100",
        ),
        (lambda s: s["predictors"][0].update(shadow="yes"), "spec.predictors[0].shadow: expected a boolean, got 'yes'"),
        (
            lambda s: s["predictors"][0].update(replicas=True),
            "spec.predictors[0].replicas: expected an integer, got True",
        ),
        (
            lambda s: s["predictors"][0].update(annotations={"k": 1}),
            "spec.predictors[0].annotations.k: expected a string, got 1",
        ),
        (lambda s: s["predictors"][0].pop("graph"), "spec.predictors[0].graph: required, a mapping"),
        (lambda s: s["predictors"][0].pop("name"), "spec.predictors[0].name: required"),
        (lambda s: s["predictors"].append(3), "spec.predictors[1]: expected a mapping, got 3"),
        (lambda s: s.update(predictors=[]), "spec.predictors: at least one predictor is required"),
        (
            lambda s: s["predictors"][0].update(componentSpecs=[{"spec": {"containers": [{"image": "x"}]}}]),
            "spec.predictors[0].componentSpecs[0].spec.containers[0]: required field 'name' is missing",
        ),
        (
            lambda s: s["predictors"][0].update(componentSpecs=[{"hpaSpec": []}]),
            "spec.predictors[0].componentSpecs[0].hpaSpec: expected a mapping, got []",
        ),
        (
            lambda s: s["predictors"][0].update(explainer={"type": "anchor_images"}),
            "spec.predictors[0].explainer.type: 'anchor_images' is not one of AnchorTabular, AnchorImages, AnchorText, "
            "Counterfactuals, Contrastive, KernelShap, IntegratedGradients, ALE, TreeShap",
        ),
        (
            lambda s: s["predictors"][0].update(svcOrchSpec={"env": "X=1"}),
            "spec.predictors[0].svcOrchSpec.env: expected a list, got 'X=1'",
        ),
    ],
)
def test_a_wrong_spec_or_predictor_field_is_named(change: Any, problem: str) -> None:
    raw = sdep({"name": "a"})
    change(raw["spec"])
    with pytest.raises(ModelError) as err:
        parse(raw)
    assert err.value.problems == [problem]
    assert str(err.value) == problem


def test_every_problem_is_raised_at_once() -> None:
    raw = sdep({"name": "a", "type": 1, "children": [{"name": ""}]}, traffic="x")
    with pytest.raises(ModelError) as err:
        parse(raw)
    assert err.value.problems == [
        "spec.predictors[0].graph.type: expected a string, got 1",
        "spec.predictors[0].graph.children[0].name: required, a non-empty string",
        "spec.predictors[0].traffic: expected an integer, got 'x'",
    ]


def test_a_huge_wrong_value_is_shown_cut_short() -> None:
    """A field may hold megabytes (a file, or the API server's 1.5 MB object): the error shows 200 characters of it."""
    huge = "x" * 1_000_000
    with pytest.raises(ModelError) as err:
        parse(sdep({"name": "a", "type": huge, "children": [["y" * 500_000]]}))
    assert err.value.problems == [
        f"spec.predictors[0].graph.type: {repr(huge)[:200]}... (1000002 characters) is not one of "
        "UNKNOWN_TYPE, ROUTER, COMBINER, MODEL, TRANSFORMER, OUTPUT_TRANSFORMER",
        f"spec.predictors[0].graph.children[0]: expected a mapping, got {repr(['y' * 500_000])[:200]}... "
        "(500004 characters)",
    ]
    assert len(str(err.value)) < 700


def test_indexes_are_places_in_the_list_as_written() -> None:
    raw = sdep({"name": "a"})
    raw["spec"]["predictors"].insert(0, "not a predictor")
    raw["spec"]["predictors"][1]["componentSpecs"] = [7, {"spec": {"containers": [{"name": "a", "image": "a:1"}]}}]
    model, problems = read(raw)
    assert model is not None and problems == [
        "spec.predictors[0]: expected a mapping, got 'not a predictor'",
        "spec.predictors[1].componentSpecs[0]: expected a mapping, got 7",
    ]
    (p,) = model.predictors
    assert (p.index, p.path, [(c.index, c.path) for c in p.component_specs]) == (
        1,
        "spec.predictors[1]",
        [(1, "spec.predictors[1].componentSpecs[1]")],
    )


def test_what_is_not_a_seldon_deployment() -> None:
    assert read([1]) == (None, ["expected a SeldonDeployment mapping"])
    with pytest.raises(ModelError, match=r"^spec: required, a mapping$"):
        parse({"metadata": {"name": "m"}})
    with pytest.raises(ModelError, match=r"^ENGINE_PREDICTOR: expected a mapping \(a PredictorSpec\)$"):
        parse_predictor("x", "ENGINE_PREDICTOR")
    # a bare PredictorSpec may have no name; its paths start where the caller says
    bare = parse_predictor({"graph": {"name": "a", "children": [{"name": "b"}]}}, "file.yaml")
    assert (bare.name, [n.path for n in bare.nodes()]) == ("", ["file.yaml.graph", "file.yaml.graph.children[0]"])


def _documents() -> list[tuple[str, dict[str, Any]]]:
    files = [
        *sorted((FIXTURES / "upstream-sdeps").glob("*.yaml")),
        *sorted(p for p in (FIXTURES / "upstream-sdeps").glob("*.json") if "crd" not in p.name),
        *sorted((FIXTURES / "upstream-prepackaged").glob("*.yaml")),
        *sorted((ROOT / "examples").rglob("*.yaml")),
    ]
    out = []
    for path in files:
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            docs = [json.loads(path.read_text(), strict=False)]  # JSON indented with tabs
        for i, doc in enumerate(docs):
            if isinstance(doc, dict) and doc.get("kind") == "SeldonDeployment":
                out.append((f"{path.relative_to(ROOT)}#{i}", without_nulls(doc)))
    return out


DOCUMENTS = _documents()


def test_the_corpus_is_there() -> None:
    assert len(DOCUMENTS) > 250
    assert sum(name.startswith("examples/") for name, _ in DOCUMENTS) >= 10


def test_the_model_and_the_crd_schema_refuse_the_same_fields() -> None:
    """Over every SeldonDeployment of upstream's examples and Wharf's own: what Wharf's CRD schema
    accepts parses, and each field it refuses (a type, an enum, a bound, a required field) is named by
    the model's problems, and no other. Unknown fields stay the schema check's (``validate``)."""
    parsed, refused = 0, 0
    for name, doc in DOCUMENTS:
        crd = [p for p in schema_problems(_crd_validator(), doc) if ": unknown field " not in p]
        model, problems = read(doc)
        assert {p.split(": ", 1)[0] for p in problems} == {_field_of(p) for p in crd}, name
        if not crd:
            assert model is not None and parse(doc) is not None
            assert all(p.graph.name for p in model.predictors), name
            parsed += 1
        else:
            refused += 1
    assert parsed > 240 and refused >= 6  # both sides of the comparison are exercised
