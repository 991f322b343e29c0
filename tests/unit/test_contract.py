"""Contract tester: contract validation, batch generation, request building, response checks,
and the command-line shell against small loopback servers."""

from __future__ import annotations

import copy
import http.server
import io
import json
import math
import threading
import urllib.parse
from concurrent import futures
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from wharf.contract import core as ct
from wharf.contract import tester

DATA = Path(__file__).resolve().parents[1] / "data"
IRIS = DATA / "contract-iris.json"
MIXED = DATA / "contract-mixed.json"


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def cont(name="x", lo=None, hi=None, dtype="FLOAT", **extra):
    feature = {"name": name, "ftype": "continuous", "dtype": dtype}
    if lo is not None or hi is not None:
        feature["range"] = [lo if lo is not None else "inf", hi if hi is not None else "inf"]
    feature.update(extra)
    return feature


def cat(name="c", values=("a", "b"), **extra):
    return {"name": name, "ftype": "categorical", "values": list(values), **extra}


# ---------------------------------------------------------------------------------------------
# Loading and validation


def test_sample_contracts_load():
    iris = ct.parse_contract(IRIS.read_text())
    assert iris.feature_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert iris.target_labels == ["proba:0", "proba:1", "proba:2"]
    assert iris.numeric
    mixed = ct.parse_contract(MIXED.read_text())
    assert mixed.feature_names == ["age", "income", "score", "colour", "x1", "x2"]
    assert not mixed.numeric
    assert [t.ftype for t in mixed.targets] == ["categorical", "continuous"]


def test_defaults_open_range_float_dtype_and_optional_targets():
    c = ct.load_contract({"features": [{"name": "x", "ftype": "continuous"}]})
    (x,) = c.features
    assert (x.low, x.high, x.dtype, x.shape) == (-math.inf, math.inf, "FLOAT", None)
    assert c.targets == ()


@pytest.mark.parametrize("bound", ["inf", "-inf", "+inf", "Infinity", float("inf"), float("-inf")])
def test_any_infinity_opens_its_side(bound):
    c = ct.load_contract({"features": [cont(lo=bound, hi=5), cont("y", lo=1, hi=bound)]})
    assert (c.features[0].low, c.features[0].high) == (-math.inf, 5)
    assert (c.features[1].low, c.features[1].high) == (1, math.inf)


@pytest.mark.parametrize(
    "contract, expected",
    [
        ([], "contract: expected a JSON object"),
        ({}, "features: missing"),
        ({"features": []}, "features: expected at least one feature"),
        ({"features": {"name": "x"}}, "features: expected a list, got an object"),
        ({"features": [cont(), cont(), cont("z", range=[1])]}, "features[2].range: expected two bounds"),
        (
            {"features": [cont(range=[0, "big"])]},
            'features[0].range[1]: upper bound must be a number or "inf", got "big"',
        ),
        ({"features": [cont(range=[True, 2])]}, "features[0].range[0]: lower bound must be a number"),
        ({"features": [cont(lo=3, hi=1)]}, "features[0].range: lower bound 3 is above upper bound 1"),
        (
            {"features": [cont(lo=0.2, hi=0.8, dtype="INT")]},
            "features[0].range: no whole number lies within [0.2, 0.8] for dtype INT",
        ),
        ({"features": [cont(dtype="DOUBLE")]}, 'features[0].dtype: expected FLOAT or INT, got "DOUBLE"'),
        ({"features": [{"ftype": "continuous"}]}, "features[0].name: expected a non-empty string, got null"),
        (
            {"features": [{"name": "x", "ftype": "ordinal"}]},
            'features[0].ftype: expected one of continuous, categorical, got "ordinal"',
        ),
        ({"features": [cat(values=[])]}, "features[0].values: expected a non-empty list"),
        (
            {"features": [{"name": "c", "ftype": "categorical"}]},
            "features[0].values: expected a non-empty list of category values, got null",
        ),
        ({"features": [cat(values=["a", {"b": 1}])]}, "features[0].values[1]: expected a string or number"),
        ({"features": [cont(shape=[2, 0])]}, "features[0].shape: expected a non-empty list of whole numbers >= 1"),
        ({"features": [cont(repeat=0)]}, "features[0].repeat: expected a whole number >= 1, got 0"),
        ({"features": [cont(repeat="2")]}, 'features[0].repeat: expected a whole number >= 1, got "2"'),
        (
            {"features": [cont(shape=[2, 3]), cont("y")]},
            "features[1].shape: [1] cannot be joined column-wise with features[0] ([2, 3])",
        ),
        ({"features": [cont()], "targets": [cont(), "p"]}, "targets[1]: expected an object"),
        ({"features": [cont()], "targets": {"name": "p"}}, "targets: expected a list, got an object"),
    ],
)
def test_validation_names_the_field_at_fault(contract, expected):
    problems = ct.validate_contract(contract)
    assert any(p.startswith(expected) for p in problems), problems
    with pytest.raises(ct.ContractError) as info:
        ct.load_contract(contract)
    assert expected in str(info.value)


def test_validation_reports_every_fault_at_once():
    problems = ct.validate_contract(
        {"features": [cont(range=[1]), {"name": "", "ftype": "x"}], "targets": [{"name": "t", "ftype": "categorical"}]}
    )
    assert [p.split(":")[0] for p in problems] == [
        "features[0].range",
        "features[1].name",
        "features[1].ftype",
        "targets[0].values",
    ]


def test_extra_keys_are_tolerated_and_valid_contract_has_no_problems():
    assert ct.validate_contract({"features": [cont(description="hi")], "targets": [], "comment": "x"}) == []


def test_parse_contract_reports_bad_json_position():
    with pytest.raises(ct.ContractError, match=r"my\.json: not valid JSON \(line 2, column 1\)"):
        ct.parse_contract('{"features": [\n}', source="my.json")


# ---------------------------------------------------------------------------------------------
# Unfolding repeat

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)


@given(name=names, k=st.integers(1, 30), tname=names, tk=st.integers(1, 30))
def test_repeat_unfolds_features_from_1_and_targets_from_0(name, k, tname, tk):
    raw = {"features": [cont(name, 0, 1, repeat=k)], "targets": [cont(tname, 0, 1, repeat=tk)]}
    before = copy.deepcopy(raw)
    c = ct.load_contract(raw)
    assert c.feature_names == [f"{name}{i}" for i in range(1, k + 1)]
    assert c.target_names == [f"{tname}:{i}" for i in range(tk)]
    assert all(f.source == "features[0]" for f in c.features)
    unfolded = ct.unfold_contract(raw)
    assert [f["name"] for f in unfolded["features"]] == c.feature_names
    assert [t["name"] for t in unfolded["targets"]] == c.target_names
    assert all("repeat" not in f for f in unfolded["features"] + unfolded["targets"])
    assert raw == before  # not modified


def test_unfold_keeps_order_and_entries_without_repeat():
    raw = {"features": [cont("a"), cont("b", repeat=2), cat("c")], "targets": [cat("t")]}
    assert [f["name"] for f in ct.unfold_contract(raw)["features"]] == ["a", "b1", "b2", "c"]
    assert ct.unfold_contract(raw)["targets"] == [cat("t")]


# ---------------------------------------------------------------------------------------------
# Generating batches

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def continuous_features(draw, name="x"):
    lo = draw(st.one_of(st.just("inf"), finite))
    hi = draw(st.one_of(st.just("inf"), finite))
    if lo != "inf" and hi != "inf" and lo > hi:
        lo, hi = hi, lo
    dtype = draw(st.sampled_from(["FLOAT", "INT"]))
    if dtype == "INT" and lo != "inf" and hi != "inf":
        assume(math.ceil(lo) <= math.floor(hi))
    return cont(name, lo, hi, dtype=dtype)


@st.composite
def feature_lists(draw, numeric_only=False):
    kinds = draw(st.lists(st.booleans() if not numeric_only else st.just(True), min_size=1, max_size=6))
    out = []
    for i, is_cont in enumerate(kinds):
        if is_cont:
            out.append(draw(continuous_features(name=f"f{i}")))
        else:
            values = draw(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=5))
            out.append(cat(f"f{i}", values))
    return out


@settings(max_examples=200, suppress_health_check=[HealthCheck.filter_too_much])
@given(feature=continuous_features(), n=st.integers(1, 50), seed=st.integers(0, 2**32 - 1))
def test_continuous_values_stay_in_range_rounded_and_typed(feature, n, seed):
    (f,) = ct.load_contract({"features": [feature]}).features
    values = ct.generate_feature(f, n, rng(seed))
    assert values.shape == (n, 1) and values.dtype == np.float64
    assert np.all(np.isfinite(values))
    assert np.all(values >= f.low) and np.all(values <= f.high)
    if f.dtype == "INT":
        assert np.all(values == np.round(values))
    else:
        on_grid = np.isclose(values, np.round(values, 3), rtol=0, atol=1e-9)
        at_bound = (values == f.low) | (values == f.high)
        assert np.all(on_grid | at_bound)


def test_distribution_follows_the_open_sides():
    g = rng(7)
    both = ct.generate_feature(ct.load_contract({"features": [cont()]}).features[0], 4000, g)
    assert abs(both.mean()) < 0.1 and 0.9 < both.std() < 1.1 and both.min() < 0 < both.max()
    lower_open = ct.generate_feature(ct.load_contract({"features": [cont(hi=10)]}).features[0], 4000, g)
    assert lower_open.max() <= 10 and np.median(lower_open) == pytest.approx(9, abs=0.1)  # 10 - lognormal(median 1)
    upper_open = ct.generate_feature(ct.load_contract({"features": [cont(lo=-3)]}).features[0], 4000, g)
    assert upper_open.min() >= -3 and np.median(upper_open) == pytest.approx(-2, abs=0.1)
    uniform = ct.generate_feature(ct.load_contract({"features": [cont(lo=2, hi=4)]}).features[0], 4000, g)
    assert uniform.mean() == pytest.approx(3, abs=0.05) and uniform.min() >= 2 and uniform.max() <= 4


def test_int_rounds_to_nearest_and_stays_inside_non_integer_bounds():
    (f,) = ct.load_contract({"features": [cont(lo=0.4, hi=2.6, dtype="INT")]}).features
    values = ct.generate_feature(f, 2000, rng(3))
    assert set(np.unique(values)) == {1.0, 2.0}
    (neg,) = ct.load_contract({"features": [cont(lo=-2.0, hi=-1.0, dtype="INT")]}).features
    assert set(np.unique(ct.generate_feature(neg, 2000, rng(3)))) == {-2.0, -1.0}


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), n=st.integers(1, 5), k=st.integers(1, 3))
def test_shape_gives_n_plus_shape_and_blocks_join_on_axis_1(shape, n, k):
    features = [cont(f"s{i}", 0, 1, shape=shape) for i in range(k)]
    batch = ct.generate_batch({"features": features}, n, rng())
    assert batch.shape == (n, k * shape[0], *shape[1:])


@settings(max_examples=100, suppress_health_check=[HealthCheck.filter_too_much])
@given(features=feature_lists(), n=st.integers(1, 20), seed=st.integers(0, 1000))
def test_batch_columns_follow_contract_and_are_deterministic(features, n, seed):
    c = ct.load_contract({"features": features})
    batch = ct.generate_batch(c, n, rng(seed))
    assert batch.shape == (n, len(features))
    assert batch.dtype == (np.float64 if c.numeric else object)
    assert np.array_equal(batch, ct.generate_batch(c, n, rng(seed)))
    for j, f in enumerate(c.features):
        column = list(batch[:, j])
        if f.continuous:
            assert all(isinstance(v, float) and f.low <= v <= f.high for v in column)
        else:
            assert all(v in f.values for v in column)


def test_categorical_draws_every_value_uniformly():
    (f,) = ct.load_contract({"features": [cat(values=["r", "g", "b"])]}).features
    column = ct.generate_feature(f, 3000, rng(1))[:, 0]
    counts = {v: int(np.sum(column == v)) for v in ["r", "g", "b"]}
    assert all(900 < c < 1100 for c in counts.values()), counts


def test_generate_batch_rejects_bad_size():
    with pytest.raises(ValueError, match="batch size"):
        ct.generate_batch({"features": [cont()]}, 0, rng())


# ---------------------------------------------------------------------------------------------
# Building requests


def test_ndarray_request_has_names_and_plain_json_values():
    c = ct.parse_contract(MIXED.read_text())
    batch = ct.generate_batch(c, 3, rng(5))
    request = ct.build_request(c, batch)
    assert set(request) == {"data"} and set(request["data"]) == {"names", "ndarray"}
    assert request["data"]["names"] == c.feature_names
    rows = request["data"]["ndarray"]
    assert len(rows) == 3 and all(len(r) == 6 for r in rows)
    assert all(type(v) in (float, str) for r in rows for v in r)
    assert all(isinstance(r[3], str) and isinstance(r[0], float) and r[0].is_integer() for r in rows)
    assert json.loads(json.dumps(request)) == request


def test_tensor_request_flattens_row_major():
    c = ct.parse_contract(IRIS.read_text())
    batch = ct.generate_batch(c, 2, rng(5))
    request = ct.build_request(c, batch, tensor=True)
    tensor = request["data"]["tensor"]
    assert tensor["shape"] == [2, 4]
    assert tensor["values"] == batch.ravel().tolist()
    assert "ndarray" not in request["data"]


def test_tensor_request_refuses_categorical_features():
    c = ct.parse_contract(MIXED.read_text())
    assert ct.tensor_problems(c) == [
        (
            "features[3] (colour): categorical features cannot be sent in a tensor payload, which holds numbers "
            "only; send ndarray (drop -t/--tensor)"
        )
    ]
    with pytest.raises(ct.ContractError, match="features\\[3\\] \\(colour\\)"):
        ct.build_request(c, ct.generate_batch(c, 1, rng()), tensor=True)


def test_feedback_carries_request_response_and_reward():
    fb = ct.build_feedback({"data": {"ndarray": [[1.0]]}}, {"data": {"ndarray": [[2.0]]}, "meta": {}})
    assert fb == {
        "request": {"data": {"ndarray": [[1.0]]}},
        "response": {"data": {"ndarray": [[2.0]]}, "meta": {}},
        "reward": 1.0,
    }


# ---------------------------------------------------------------------------------------------
# Checking responses

IRIS_C = ct.parse_contract(IRIS.read_text())
MIXED_C = ct.parse_contract(MIXED.read_text())


def nd(rows, names=None):
    return {"data": {"names": names or [], "ndarray": rows}, "meta": {}}


def test_good_answers_pass():
    assert ct.check_response(IRIS_C, nd([[0.2, 0.3, 0.5], [1, 0, 0]]), rows=2) == []
    assert ct.check_response(IRIS_C, {"data": {"tensor": {"shape": [1, 3], "values": [0.1, 0.2, 0.7]}}}, rows=1) == []
    assert ct.check_response(MIXED_C, nd([["yes", 0.5], ["no", 1]]), rows=2) == []


def test_wrong_column_count_names_row_and_targets():
    c = ct.load_contract({"features": [cont()], "targets": [cont("proba", 0, 1, repeat=2)]})
    assert ct.check_response(c, nd([[0.1, 0.2, 0.7]]), rows=1) == [
        "data.ndarray row 0: expected 2 columns for targets [proba:0, proba:1], got 3"
    ]


def test_wrong_row_count():
    assert ct.check_response(IRIS_C, nd([[0.2, 0.3, 0.5]]), rows=2) == [
        "data.ndarray: expected 2 rows (one per request row), got 1"
    ]


@pytest.mark.parametrize(
    "status",
    [
        {"status": "FAILURE", "info": "boom", "code": 500, "reason": "MICROSERVICE_INTERNAL_ERROR"},
        {"status": 1, "info": "boom", "code": -1, "reason": "MICROSERVICE_INTERNAL_ERROR"},
    ],
)
def test_failure_status_is_a_problem(status):
    problems = ct.check_response(IRIS_C, {"status": status}, rows=1)
    assert len(problems) == 1
    assert problems[0].startswith("status: FAILURE answer (code ")
    assert "reason MICROSERVICE_INTERNAL_ERROR" in problems[0] and problems[0].endswith(": boom")
    assert ct.check_response(IRIS_C, {"status": status}, endpoint="send-feedback") == problems


def test_success_status_is_fine():
    assert ct.check_response(IRIS_C, {"status": {"status": "SUCCESS", "code": 200}, **nd([[0, 0, 1]])}, rows=1) == []


def test_categorical_target_outside_values():
    assert ct.check_response(MIXED_C, nd([["maybe", 0.5]]), rows=1) == [
        'data.ndarray row 0 column 0 (class): "maybe" is not one of the values [yes, no]'
    ]


def test_categorical_target_accepts_numbers_sent_as_doubles():
    c = ct.load_contract({"features": [cont()], "targets": [cat("k", ["0", "1"])]})
    assert ct.check_response(c, nd([[1.0], [0]]), rows=2) == []
    assert ct.check_response(c, nd([[2.0]]), rows=1) == [
        "data.ndarray row 0 column 0 (k): 2.0 is not one of the values [0, 1]"
    ]


def test_continuous_target_outside_range_and_not_a_number():
    problems = ct.check_response(IRIS_C, nd([[1.5, -0.1, "x"]]), rows=1)
    assert problems == [
        "data.ndarray row 0 column 0 (proba:0): 1.5 is outside range [0, 1]",
        "data.ndarray row 0 column 1 (proba:1): -0.1 is outside range [0, 1]",
        'data.ndarray row 0 column 2 (proba:2): expected a number, got "x"',
    ]
    assert ct.check_response(IRIS_C, nd([[None, True, float("nan")]]), rows=1) == [
        "data.ndarray row 0 column 0 (proba:0): expected a number, got null",
        "data.ndarray row 0 column 1 (proba:1): expected a number, got true",
        "data.ndarray row 0 column 2 (proba:2): expected a number, got NaN",
    ]


def test_int_target_must_be_whole():
    c = ct.load_contract({"features": [cont()], "targets": [cont("n", 0, "inf", dtype="INT")]})
    assert ct.check_response(c, nd([[3.0]]), rows=1) == []
    assert ct.check_response(c, nd([[3.5]]), rows=1) == [
        "data.ndarray row 0 column 0 (n): 3.5 is not a whole number (dtype INT)"
    ]


def test_numeric_strings_pass_only_in_mixed_target_rows():
    assert ct.check_response(MIXED_C, nd([["yes", "0.5"]]), rows=1) == []
    assert ct.check_response(MIXED_C, nd([["yes", "1.5"]]), rows=1) == [
        "data.ndarray row 0 column 1 (proba): 1.5 is outside range [0, 1]"
    ]
    assert ct.check_response(IRIS_C, nd([["0.5", 0.2, 0.3]]), rows=1) == [
        'data.ndarray row 0 column 0 (proba:0): expected a number, got "0.5"'
    ]


def test_tensor_answers():
    good = {"data": {"tensor": {"shape": [2, 3], "values": [0, 0, 1, 0.5, 0.5, 0]}}}
    assert ct.check_response(IRIS_C, good, rows=2) == []
    assert ct.check_response(IRIS_C, {"data": {"tensor": {"shape": [1, 3], "values": [0, 1]}}}, rows=1) == [
        "data.tensor: shape [1, 3] needs 3 values, got 2"
    ]
    assert ct.check_response(IRIS_C, {"data": {"tensor": {"shape": [1, 4], "values": [0, 1, 0, 0]}}}, rows=1) == [
        "data.tensor row 0: expected 3 columns for targets [proba:0, proba:1, proba:2], got 4"
    ]
    assert ct.check_response(IRIS_C, {"data": {"tensor": {"shape": [1, 3], "values": [0, 2, 0]}}}, rows=2) == [
        "data.tensor: expected 2 rows (one per request row), got shape [1, 3]",
        "data.tensor row 0 column 1 (proba:1): 2 is outside range [0, 1]",
    ]


def test_shaped_target_counts_flat_columns():
    c = ct.load_contract({"features": [cont()], "targets": [cont("img", 0, 1, shape=[2, 2])]})
    assert c.target_labels == ["img[0]", "img[1]", "img[2]", "img[3]"]
    assert ct.check_response(c, nd([[[0, 1], [1, 0]]]), rows=1) == []
    assert ct.check_response(c, {"data": {"tensor": {"shape": [1, 2, 2], "values": [0, 1, 1, 0]}}}, rows=1) == []
    assert ct.check_response(c, nd([[[0, 1], [1, 5]]]), rows=1) == [
        "data.ndarray row 0 column 3 (img[3]): 5 is outside range [0, 1]"
    ]


def test_payload_kinds():
    assert ct.check_response(IRIS_C, {"meta": {}}, rows=1) == [
        "response: no payload; expected one of data, binData, strData, jsonData, customData"
    ]
    assert ct.check_response(IRIS_C, {"strData": "hi"}, rows=1) == [
        "response: expected data.ndarray or data.tensor for targets [proba:0, proba:1, proba:2], got strData"
    ]
    assert ct.check_response(IRIS_C, ["not", "a", "dict"]) == ["response: expected a JSON object, got a list"]
    assert ct.check_response(IRIS_C, {"data": {"names": []}}, rows=1) == [
        "data: expected ndarray or tensor for targets [proba:0, proba:1, proba:2], got keys ['names']"
    ]
    no_targets = ct.load_contract({"features": [cont()]})
    assert ct.check_response(no_targets, {"strData": "anything"}, rows=1) == []


def test_transform_input_and_feedback_are_not_compared_with_targets():
    assert ct.check_response(IRIS_C, nd([[1, 2, 3, 4]]), rows=1, endpoint="transform-input") == []
    assert ct.check_response(IRIS_C, {"meta": {}}, endpoint="transform-input") != []
    assert ct.check_response(IRIS_C, {"data": {"ndarray": []}, "meta": {}}, endpoint="send-feedback") == []
    assert ct.check_response(IRIS_C, {"meta": {}}, endpoint="send-feedback") == []


@st.composite
def target_lists(draw):
    return [dict(t, name=f"t{i}") for i, t in enumerate(draw(feature_lists()))]


@settings(max_examples=100, suppress_health_check=[HealthCheck.filter_too_much])
@given(targets=target_lists(), n=st.integers(1, 10), seed=st.integers(0, 1000))
def test_answers_generated_from_the_targets_always_pass(targets, n, seed):
    c = ct.load_contract({"features": [cont()], "targets": targets})
    answer = ct.generate_batch(c, n, rng(seed), field="targets")
    assert ct.check_response(c, {"data": {"ndarray": ct.to_json_values(answer)}}, rows=n) == []
    if c.targets and all(t.continuous for t in c.targets):
        tensor = {"shape": list(answer.shape), "values": answer.ravel().tolist()}
        assert ct.check_response(c, {"data": {"tensor": tensor}}, rows=n) == []


# ---------------------------------------------------------------------------------------------
# The command-line shell, against loopback servers


class _Recorder(http.server.BaseHTTPRequestHandler):
    answer = None  # set per server: callable(path, message) -> (status, body)

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        message = json.loads(form["json"][0])
        self.server.seen.append((self.path, self.headers["Content-Type"], message))
        status, body = self.server.answer(self.path, message)
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def rest_server():
    servers = []

    def start(answer):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        server.answer, server.seen = answer, []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def softmax_answer(path, message):
    if path == "/send-feedback":
        return 200, {"data": {"ndarray": []}, "meta": {}}
    rows = message["data"].get("ndarray")
    if rows is None:
        shape = message["data"]["tensor"]["shape"]
        return 200, {"data": {"tensor": {"shape": [shape[0], 3], "values": [0.2, 0.3, 0.5] * shape[0]}}, "meta": {}}
    return 200, {"data": {"names": ["t:0", "t:1", "t:2"], "ndarray": [[0.2, 0.3, 0.5]] * len(rows)}, "meta": {}}


def run_cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = tester.main([str(a) for a in argv], prog="seldon-core-tester", out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_rest_predict_posts_form_json_and_passes(rest_server):
    server = rest_server(softmax_answer)
    code, out, err = run_cli(IRIS, "127.0.0.1", server.server_port, "-b", "4", "-n", "3", "--seed", "1")
    assert code == 0, err
    assert out.startswith("PASSED: 3 of 3 requests passed (predict, REST, ndarray, batch size 4")
    assert len(server.seen) == 3
    path, ctype, message = server.seen[0]
    assert path == "/predict" and ctype == "application/x-www-form-urlencoded"
    assert message["data"]["names"] == IRIS_C.feature_names and len(message["data"]["ndarray"]) == 4


def test_cli_tensor_and_print(rest_server):
    server = rest_server(softmax_answer)
    code, out, _ = run_cli(IRIS, "127.0.0.1", server.server_port, "-t", "-p", "-b", "2")
    assert code == 0
    assert server.seen[0][2]["data"]["tensor"]["shape"] == [2, 4]
    assert "SENDING NEW REQUEST:" in out and "RECEIVED RESPONSE:" in out and '"tensor"' in out


def test_cli_send_feedback_predicts_then_sends_reward_1(rest_server):
    server = rest_server(softmax_answer)
    code, _, err = run_cli(IRIS, "127.0.0.1", server.server_port, "--endpoint", "send-feedback")
    assert code == 0, err
    assert [p for p, _, _ in server.seen] == ["/predict", "/send-feedback"]
    feedback = server.seen[1][2]
    assert feedback["reward"] == 1.0
    assert feedback["request"] == server.seen[0][2]
    assert feedback["response"]["data"]["ndarray"] == [[0.2, 0.3, 0.5]]


def test_cli_transform_input_path(rest_server):
    server = rest_server(lambda path, m: (200, m))
    code, _, err = run_cli(IRIS, "127.0.0.1", server.server_port, "--endpoint", "transform-input")
    assert code == 0, err
    assert server.seen[0][0] == "/transform-input"


def test_cli_fails_on_contract_violation_and_error_status(rest_server):
    bad = rest_server(lambda path, m: (200, {"data": {"ndarray": [[0.5, 0.5]]}}))
    code, out, err = run_cli(IRIS, "127.0.0.1", bad.server_port)
    assert code == 1 and out.startswith("FAILED: 0 of 1 requests passed, 1 failed")
    assert "request 1: data.ndarray row 0: expected 3 columns for targets [proba:0, proba:1, proba:2], got 2" in err
    broken = rest_server(
        lambda path, m: (
            500,
            {"status": {"status": 1, "info": "boom", "code": -1, "reason": "MICROSERVICE_INTERNAL_ERROR"}},
        )
    )
    code, _, err = run_cli(IRIS, "127.0.0.1", broken.server_port, "--endpoint", "send-feedback")
    assert code == 1
    assert "predict: HTTP status 500" in err and "predict: status: FAILURE answer" in err
    assert "send-feedback: not sent, the prediction failed" in err
    assert [p for p, _, _ in broken.seen] == ["/predict"]


def test_cli_unreachable_stops_and_fails(rest_server):
    server = rest_server(softmax_answer)
    port = server.server_port
    server.shutdown()
    server.server_close()
    code, out, err = run_cli(IRIS, "127.0.0.1", port, "-n", "5", "--timeout", "5")
    assert code == 1
    assert "cannot reach http://127.0.0.1:" in err and "remaining 4 requests were not sent" in err
    assert "4 not sent" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["missing.json", "127.0.0.1", "1"], "cannot read contract missing.json"),
        ([IRIS, "127.0.0.1", "notaport"], "invalid int value"),
        ([IRIS, "127.0.0.1", "9000", "--endpoint", "route"], "invalid choice"),
        ([IRIS, "127.0.0.1", "9000", "-b", "0"], "-b/--batch-size: expected a whole number >= 1, got 0"),
        ([MIXED, "127.0.0.1", "9000", "-t"], "features[3] (colour): categorical features cannot be sent"),
    ],
)
def test_cli_bad_usage_exits_2(argv, message, capsys):
    code, _, err = run_cli(*argv)
    assert code == 2
    assert message in err + capsys.readouterr().err


def test_cli_bad_contract_exits_2(tmp_path):
    path = tmp_path / "contract.json"
    path.write_text(json.dumps({"features": [cont(range=[1])], "targets": []}))
    code, _, err = run_cli(path, "127.0.0.1", "9000")
    assert code == 2
    assert f"{path}: features[0].range: expected two bounds" in err


def test_cli_bad_json_names_file_once(tmp_path):
    path = tmp_path / "contract.json"
    path.write_bytes(b'\xef\xbb\xbf{"features": [}')
    code, _, err = run_cli(path, "127.0.0.1", "9000")
    assert code == 2
    assert err == f"seldon-core-tester: error: {path}: not valid JSON (line 1, column 15): Expecting value\n"


def test_cli_help_exits_0(capsys):
    assert tester.main(["--help"], prog="seldon-core-tester") == 0
    assert "--batch-size" in capsys.readouterr().out


@pytest.fixture
def grpc_server():
    grpc = pytest.importorskip("grpc")
    from google.protobuf import json_format

    from wharf.protocol.pb import prediction_pb2, prediction_pb2_grpc

    seen = []

    class Servicer(prediction_pb2_grpc.ModelServicer, prediction_pb2_grpc.GenericServicer):
        def Predict(self, request, context):
            seen.append(("Model.Predict", json_format.MessageToDict(request)))
            n = request.data.tensor.shape[0] if request.data.HasField("tensor") else len(request.data.ndarray.values)
            return json_format.ParseDict({"data": {"ndarray": [[0.1, 0.2, 0.7]] * n}}, prediction_pb2.SeldonMessage())

        def TransformInput(self, request, context):
            seen.append(("Generic.TransformInput", json_format.MessageToDict(request)))
            return request

        def SendFeedback(self, request, context):
            seen.append(("Model.SendFeedback", json_format.MessageToDict(request)))
            return prediction_pb2.SeldonMessage(
                status=prediction_pb2.Status(status=prediction_pb2.Status.FAILURE, info="no feedback here")
            )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_pb2_grpc.add_ModelServicer_to_server(Servicer(), server)
    prediction_pb2_grpc.add_GenericServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port, seen
    server.stop(None)


def test_cli_grpc_predict_transform_and_feedback(grpc_server):
    port, seen = grpc_server
    code, out, err = run_cli(IRIS, "127.0.0.1", port, "--grpc", "-b", "2", "-t")
    assert code == 0, err
    assert "gRPC, tensor" in out
    assert seen[-1][0] == "Model.Predict" and seen[-1][1]["data"]["tensor"]["shape"] == [2, 4]

    code, _, err = run_cli(IRIS, "127.0.0.1", port, "--grpc", "--endpoint", "transform-input")
    assert code == 0, err
    assert seen[-1][0] == "Generic.TransformInput"

    code, _, err = run_cli(IRIS, "127.0.0.1", port, "--grpc", "--endpoint", "send-feedback")
    assert code == 1
    assert [name for name, _ in seen[-2:]] == ["Model.Predict", "Model.SendFeedback"]
    assert seen[-1][1]["reward"] == 1.0 and seen[-1][1]["response"]["data"]["ndarray"] == [[0.1, 0.2, 0.7]]
    assert "send-feedback: status: FAILURE answer: no feedback here" in err
