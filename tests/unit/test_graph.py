"""The predictor graph model: defaulting, roles, errors that name the field, the executor's inputs."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from wharf.deployment.graph import GraphError, from_engine_env, from_file, parse_predictor
from wharf.orchestrator.routing import route_from_json


def graph(node: dict) -> dict:
    return {"name": "p", "graph": node}


def test_nodes_are_typed_as_the_operator_defaults_them() -> None:
    p = parse_predictor(
        graph(
            {
                "name": "a",
                "children": [
                    {"name": "b", "implementation": "SKLEARN_SERVER"},
                    {"name": "c", "implementation": "RANDOM_ABTEST", "children": [{"name": "d"}, {"name": "e"}]},
                    {"name": "f", "methods": ["TRANSFORM_OUTPUT"]},
                ],
            }
        )
    )
    types = {u.name: u.type for u in p.units()}
    assert types == {"a": "MODEL", "b": "MODEL", "c": "UNKNOWN_TYPE", "d": "MODEL", "e": "MODEL", "f": "UNKNOWN_TYPE"}
    units = {u.name: u for u in p.units()}
    assert not units["c"].has_server  # the built-in A/B router runs inside the orchestrator
    assert units["f"].transforms_output and not units["f"].transforms_input


@pytest.mark.parametrize(
    "node_type,calls",
    [
        ("MODEL", {"transforms_input", "takes_feedback"}),
        ("TRANSFORMER", {"transforms_input"}),
        ("ROUTER", {"routes", "takes_feedback"}),
        ("COMBINER", {"aggregates"}),
        ("OUTPUT_TRANSFORMER", {"transforms_output"}),
    ],
)
def test_each_type_answers_its_calls(node_type: str, calls: set[str]) -> None:
    unit = parse_predictor(graph({"name": "x", "type": node_type})).graph
    roles = {"transforms_input", "routes", "aggregates", "transforms_output", "takes_feedback"}
    assert {r for r in roles if getattr(unit, r)} == calls
    assert unit.input_call == ("predict" if node_type == "MODEL" else "transform-input")


def test_ports_follow_the_operator_numbering_unless_given() -> None:
    p = parse_predictor(
        graph({"name": "a", "children": [{"name": "b"}, {"name": "c", "endpoint": {"httpPort": 7000}}]})
    )
    ports = {u.name: (u.endpoint.http_port, u.endpoint.grpc_port) for u in p.units()}
    assert ports == {"a": (9000, 9500), "b": (9001, 9501), "c": (7000, 9502)}


@pytest.mark.parametrize(
    "node,message",
    [
        ({"name": "a", "type": "NOPE"}, "predictor.graph.type: 'NOPE'"),
        ({"name": "a", "children": [{"type": "MODEL"}]}, "predictor.graph.children[0].name: required"),
        ({"name": "a", "methods": ["PREDICT"]}, "predictor.graph.methods"),
        ({"name": "a", "type": "UNKNOWN_TYPE"}, "needs a non-empty methods list"),
        ({"name": "a", "logger": {"url": "http://x"}}, "predictor.graph.logger.mode"),
        ({"name": "a", "children": [{"name": "a"}]}, "repeated: a"),
        (
            {"name": "a", "endpoint": {"httpPort": "x"}},
            "predictor.graph.endpoint.httpPort: expected an integer, got 'x'",
        ),
    ],
)
def test_bad_graphs_name_the_field(node: dict, message: str) -> None:
    with pytest.raises(GraphError) as err:
        parse_predictor(graph(node))
    assert message in str(err.value)


def test_engine_predictor_env_is_base64_json() -> None:
    spec = {"name": "main", "graph": {"name": "m", "endpoint": {"service_host": "svc", "httpPort": 9001}}}
    p = from_engine_env(base64.b64encode(json.dumps(spec).encode()).decode())
    assert (p.name, p.graph.endpoint.host, p.graph.endpoint.http_port) == ("main", "svc", 9001)
    with pytest.raises(GraphError, match="ENGINE_PREDICTOR: not base64"):
        from_engine_env("%%%")


def test_seldon_deployment_file_picks_a_predictor(tmp_path: Path) -> None:
    path = tmp_path / "sdep.yaml"
    path.write_text("""
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: dep, namespace: ns, annotations: {seldon.io/rest-timeout: "100"}}
spec:
  transport: grpc
  predictors:
  - {name: a, graph: {name: m1}, componentSpecs: [{spec: {containers: [{name: m1, image: img:1}]}}]}
  - {name: b, graph: {name: m2}}
""")
    first = from_file(path)
    assert (first.name, first.deployment, first.namespace, first.graph.endpoint.transport) == ("a", "dep", "ns", "GRPC")
    assert first.annotations["seldon.io/rest-timeout"] == "100"
    assert first.containers["m1"]["image"] == "img:1"
    assert from_file(path, "b").graph.name == "m2"
    with pytest.raises(GraphError, match="no predictor 'c' \\(have: a, b\\)"):
        from_file(path, "c")


@pytest.mark.parametrize(
    "answer,route",
    [
        ({"data": {"ndarray": [[1]]}}, 1),
        ({"data": {"ndarray": [2]}}, 2),
        ({"data": {"tensor": {"shape": [1, 1], "values": [0.0]}}}, 0),
        ({"data": {"tftensor": {"intVal": [-2]}}}, -2),
        ([-1], -1),
    ],
)
def test_route_is_read_from_every_shape_the_executor_accepts(answer, route: int) -> None:
    assert route_from_json(answer) == route


@pytest.mark.parametrize(
    "answer", [{"data": {"ndarray": [["a"]]}}, {"strData": "1"}, {"data": {"ndarray": [[1.5]]}}, [], [True]]
)
def test_unusable_routes_are_refused(answer) -> None:
    with pytest.raises(ValueError):
        route_from_json(answer)
