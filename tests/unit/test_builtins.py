"""The built-in units the orchestrator serves itself: SIMPLE_MODEL, SIMPLE_ROUTER, RANDOM_ABTEST and
AVERAGE_COMBINER, as upstream's Java engine (and, for RANDOM_ABTEST, its Go executor) answered."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from wharf.deployment.graph import parse_predictor
from wharf.orchestrator.builtins import BuiltinError, ab_test_ratio, ab_test_route, average, simple_model
from wharf.orchestrator.walker import GraphCallError, Walk, Walker
from wharf.orchestrator.wires import JSON_WIRE, PROTO_WIRE
from wharf.protocol.pb import prediction_pb2 as pb

FIXED = {"names": ["class0", "class1", "class2"], "tensor": {"shape": [1, 3], "values": [0.1, 0.9, 0.5]}}


# --- SIMPLE_MODEL ------------------------------------------------------------------------------


def test_simple_model_answers_its_fixed_tensor_whatever_the_request() -> None:
    answer = simple_model({"data": {"ndarray": [[1, 2], [3, 4]]}}, {"stub": ""})
    assert answer["data"] == FIXED
    assert answer["status"] == {"code": 0, "info": "", "reason": "", "status": "SUCCESS"}
    assert [m["key"] for m in answer["meta"]["metrics"]] == ["mymetric_counter", "mymetric_gauge", "mymetric_timer"]
    assert answer["meta"]["requestPath"] == {"stub": ""}


def test_simple_model_echoes_str_and_bin_data() -> None:
    assert simple_model({"strData": "hello"}, {})["strData"] == "hello"
    answer = simple_model({"binData": "AAE="}, {})
    assert answer["binData"] == "AAE=" and "data" not in answer and "strData" not in answer
    assert simple_model({"jsonData": {"a": 1}}, {})["data"] == FIXED  # only str/bin are echoed


def test_simple_model_keeps_the_request_meta_as_a_unit_does() -> None:
    request = {
        "data": {"ndarray": [[1]]},
        "meta": {
            "puid": "p1",
            "tags": {"t": 1},
            "routing": {"r": 0},
            "requestPath": {"before": "img:1"},
            "metrics": [{"key": "k", "type": "COUNTER", "value": 2}],
        },
    }
    meta = simple_model(request, {"stub": "my/image:2"})["meta"]
    assert meta["puid"] == "p1" and meta["tags"] == {"t": 1}
    assert meta["requestPath"] == {"before": "img:1", "stub": "my/image:2"}
    assert meta["metrics"][0]["key"] == "k" and len(meta["metrics"]) == 4
    assert "routing" not in meta


# --- RANDOM_ABTEST -----------------------------------------------------------------------------


def test_ab_test_ratio_is_read_only_when_it_is_the_only_parameter() -> None:
    assert ab_test_ratio([{"name": "ratioA", "value": "0.2", "type": "FLOAT"}], "ab") == 0.2
    assert ab_test_ratio([{"name": "ratioA", "value": 0.7}], "ab") == 0.7
    assert ab_test_ratio([], "ab") == 0.5
    # upstream's executor ignores ratioA beside another parameter
    assert ab_test_ratio([{"name": "ratioA", "value": "0.2"}, {"name": "x", "value": "1"}], "ab") == 0.5


@pytest.mark.parametrize("value", ["abc", "", None, True])
def test_ab_test_ratio_that_is_not_a_number_is_an_error_naming_the_field(value: Any) -> None:
    with pytest.raises(BuiltinError) as err:
        ab_test_ratio([{"name": "ratioA", "value": value}], "ab")
    assert err.value.status == 500
    assert err.value.info.startswith(f'strconv.ParseFloat: parsing "{value}": invalid syntax: ')
    assert "RANDOM_ABTEST node 'ab': parameters[0] (ratioA) must be a number" in err.value.info


def test_ab_test_route_splits_by_ratio() -> None:
    assert ab_test_route(0.3, lambda: 0.29) == 0
    assert ab_test_route(0.3, lambda: 0.3) == 1
    assert ab_test_route(1.0, lambda: 0.999) == 0
    assert ab_test_route(0.0, lambda: 0.0) == 1


# --- AVERAGE_COMBINER --------------------------------------------------------------------------


def _msg(data: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"data": data, "meta": meta}


def test_average_of_ndarrays_element_wise() -> None:
    answer = average(
        [_msg({"names": ["a", "b"], "ndarray": [[1, 2], [3, 4]]}), _msg({"ndarray": [[3, 6], [5, 0]]})],
        ["x", "y"],
        {"avg": ""},
    )
    assert answer["data"] == {"names": ["a", "b"], "ndarray": [[2.0, 4.0], [4.0, 2.0]]}


def test_average_of_tensors_and_of_mixed_kinds_takes_the_first_childs_kind() -> None:
    tensor = _msg({"tensor": {"shape": [1, 3], "values": [0.0, 3.0, 6.0]}})
    ndarray = _msg({"ndarray": [[3, 0, 3]]})
    assert average([tensor, ndarray], ["t", "n"], {})["data"] == {
        "tensor": {"shape": [1, 3], "values": [1.5, 1.5, 4.5]}
    }
    assert average([ndarray, tensor], ["n", "t"], {})["data"] == {"ndarray": [[1.5, 1.5, 4.5]]}
    three = average([tensor, tensor, ndarray], ["a", "b", "c"], {})
    assert three["data"]["tensor"]["values"] == [1.0, 2.0, 5.0]


def test_average_merges_the_childrens_meta_and_adds_its_request_path() -> None:
    answer = average(
        [
            _msg(
                {"ndarray": [[1]]},
                puid="p",
                tags={"a": 1, "both": "first"},
                requestPath={"m1": "i1"},
                metrics=[{"key": "k1"}],
            ),
            _msg(
                {"ndarray": [[1]]}, tags={"b": 2, "both": "second"}, requestPath={"m2": "i2"}, metrics=[{"key": "k2"}]
            ),
        ],
        ["m1", "m2"],
        {"avg": ""},
    )
    meta = answer["meta"]
    assert meta["puid"] == "p"
    assert meta["tags"] == {"a": 1, "b": 2, "both": "second"}
    assert meta["requestPath"] == {"m1": "i1", "m2": "i2", "avg": ""}
    assert meta["metrics"] == [{"key": "k1"}, {"key": "k2"}]


def test_average_keeps_the_first_childs_status() -> None:
    first = {**_msg({"ndarray": [[1]]}), "status": {"code": 0, "status": "SUCCESS"}}
    assert average([first, _msg({"ndarray": [[3]]})], ["a", "b"], {})["status"] == {"code": 0, "status": "SUCCESS"}


def _error(messages: list[Any], names: list[str] | None = None) -> str:
    with pytest.raises(BuiltinError) as err:
        average(messages, names or [f"m{i}" for i in range(len(messages))], {})
    assert err.value.status == 500
    return err.value.info


def test_average_of_different_shapes_is_upstreams_error() -> None:
    rows = _error([_msg({"ndarray": [[1, 2]]}), _msg({"ndarray": [[1, 2], [3, 4]]})], ["a", "b"])
    assert rows == "Expected batch length 1 but found 2: child 1 (b) has shape [2, 2], child 0 (a) [1, 2]"
    cols = _error([_msg({"tensor": {"shape": [1, 2], "values": [1, 2]}}), _msg({"ndarray": [[1, 2, 3]]})], ["a", "b"])
    assert cols.startswith("Expected batch length 2 but found 3: child 1 (b) has shape [1, 3]")


def test_average_of_no_children_is_upstreams_error() -> None:
    assert _error([]).startswith("Combiner received no inputs: ")


@pytest.mark.parametrize(
    "data, where",
    [
        ({"ndarray": [[1, "x"]]}, "child 0 (m0) data.ndarray[0][1] is 'x'"),
        ({"ndarray": [[1, None]]}, "data.ndarray[0][1] is None"),
        ({"ndarray": [[True]]}, "data.ndarray[0][0] is True"),
        ({"tensor": {"shape": [1, 1], "values": ["x"]}}, "data.tensor.values[0] is 'x'"),
    ],
)
def test_average_of_non_numeric_data_names_the_value(data: dict[str, Any], where: str) -> None:
    info = _error([_msg(data), _msg({"ndarray": [[1, 1]]})])
    assert info.startswith("Combiner received data that is not numeric: ") and where in info


@pytest.mark.parametrize(
    "message, text",
    [
        ({"strData": "hi"}, "Combiner cannot extract data shape: child 0 (m0) answered with strData"),
        ({"jsonData": {"a": 1}}, "Combiner cannot extract data shape: child 0 (m0) answered with jsonData"),
        ({"data": {"tftensor": {}}}, "Combiner cannot extract data shape: child 0 (m0) answered with data"),
        (
            {"data": {"tensor": {"shape": [2, 2], "values": [1, 2, 3]}}},
            "Combiner cannot extract data shape: child 0 (m0) has a tensor of shape [2, 2] with 3 values",
        ),
        (
            {"data": {"tensor": {"shape": [4], "values": [1, 2, 3, 4]}}},
            "Combiner received data that is not 2 dimensional: child 0 (m0) has a tensor of shape [4]",
        ),
        (
            {"data": {"ndarray": [1, 2]}},
            "Combiner received data that is not 2 dimensional: child 0 (m0) has data.ndarray",
        ),
        (
            {"data": {"ndarray": [[1, 2], [3]]}},
            "Combiner received data that is not 2 dimensional: child 0 (m0) has data.ndarray rows of lengths [2, 1]",
        ),
    ],
)
def test_average_of_what_has_no_2d_shape_is_upstreams_error(message: dict[str, Any], text: str) -> None:
    assert _error([message]).startswith(text)


# --- in the walk ---------------------------------------------------------------------------------


class NoServers:
    """A transport for graphs of built-ins only: any call is a test failure."""

    async def post(self, unit: Any, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        raise AssertionError(f"a built-in must not be called over the wire: {unit.name} {path}")


GRAPH = {
    "name": "p",
    "graph": {
        "name": "router",
        "implementation": "SIMPLE_ROUTER",
        "type": "ROUTER",
        "children": [
            {
                "name": "avg",
                "implementation": "AVERAGE_COMBINER",
                "children": [
                    # upstream's own example writes type MODEL beside SIMPLE_MODEL
                    {"name": "a", "type": "MODEL", "implementation": "SIMPLE_MODEL"},
                    {"name": "b", "implementation": "SIMPLE_MODEL"},
                ],
            },
            {"name": "never", "type": "MODEL", "implementation": "SIMPLE_MODEL"},
        ],
    },
    "componentSpecs": [{"spec": {"containers": [{"name": "b", "image": "stub/b:1"}]}}],
}


def test_builtin_nodes_have_no_server() -> None:
    predictor = parse_predictor(GRAPH)
    assert not any(u.has_server for u in predictor.units())
    ab = parse_predictor({"name": "p", "graph": {"name": "ab", "type": "ROUTER", "implementation": "RANDOM_ABTEST"}})
    assert ab.graph.routes  # upstream's executor calls /route on a ROUTER-typed RANDOM_ABTEST


def test_a_graph_of_builtins_walks_without_calling_any_server_json_and_proto() -> None:
    predictor = parse_predictor(GRAPH)
    answer = orjson.loads(
        asyncio.run(
            Walker(predictor, NoServers()).predict(
                b'{"data": {"ndarray": [[5.0]]}, "meta": {"tags": {"client": 1}}}', Walk("p1", {})
            )
        )
    )
    assert answer["data"] == FIXED
    assert answer["meta"]["routing"] == {"router": 0, "avg": -1}
    assert answer["meta"]["requestPath"] == {"a": "", "b": "stub/b:1", "avg": ""}  # "never" was not walked
    assert answer["meta"]["tags"] == {"client": 1} and answer["meta"]["puid"] == "p1"

    request = pb.SeldonMessage()
    request.data.tensor.shape.extend([1, 1])
    request.data.tensor.values.append(5.0)
    proto = pb.SeldonMessage.FromString(
        asyncio.run(
            Walker(predictor, NoServers(), wire=PROTO_WIRE).predict(request.SerializeToString(), Walk("p2", {}))
        )
    )
    assert list(proto.data.tensor.values) == pytest.approx([0.1, 0.9, 0.5])
    assert list(proto.data.names) == ["class0", "class1", "class2"]
    assert dict(proto.meta.routing) == {"router": 0, "avg": -1}


def test_feedback_through_builtins_calls_no_server() -> None:
    predictor = parse_predictor(GRAPH)
    answer = asyncio.run(
        Walker(predictor, NoServers()).feedback(
            b'{"response": {"meta": {"routing": {"router": 0}}}, "reward": 1}', Walk("p", {})
        )
    )
    assert answer == JSON_WIRE.empty


@pytest.mark.parametrize(
    "graph, status, text",
    [
        ({"name": "avg", "implementation": "AVERAGE_COMBINER"}, 500, "Combiner received no inputs: "),
        (
            {
                "name": "ab",
                "implementation": "RANDOM_ABTEST",
                "parameters": [{"name": "ratioA", "value": "half", "type": "FLOAT"}],
                "children": [
                    {"name": "x", "implementation": "SIMPLE_MODEL"},
                    {"name": "y", "implementation": "SIMPLE_MODEL"},
                ],
            },
            500,
            "strconv.ParseFloat: parsing \"half\": invalid syntax: RANDOM_ABTEST node 'ab': parameters[0] (ratioA)",
        ),
    ],
)
def test_builtin_errors_answer_as_a_node_would(graph: dict[str, Any], status: int, text: str) -> None:
    walker = Walker(parse_predictor({"name": "p", "graph": graph}), NoServers())
    with pytest.raises(GraphCallError) as err:
        asyncio.run(walker.predict(b'{"data": {"ndarray": [[1]]}}', Walk("p", {})))
    body = orjson.loads(err.value.body)["status"]
    assert err.value.status == status and body["code"] == status and body["status"] == "FAILURE"
    assert body["info"].startswith(text)


def test_simple_model_refuses_a_request_that_is_not_a_seldon_message() -> None:
    walker = Walker(
        parse_predictor({"name": "p", "graph": {"name": "m", "implementation": "SIMPLE_MODEL"}}), NoServers()
    )
    for body in (b"{not json", b"[1, 2]"):
        with pytest.raises(GraphCallError) as err:
            asyncio.run(walker.predict(body, Walk("p", {})))
        info = orjson.loads(err.value.body)["status"]["info"]
        assert err.value.status == 400 and info.startswith("Invalid JSON: the request to SIMPLE_MODEL node 'm'")
