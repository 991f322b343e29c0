"""The same REST requests against the real seldon-core 1.19.0 microservice and against Wharf.

Each scenario is one model class served by both, from the same folder and environment. The JSON
answers are compared after parsing, *and* with ints and floats kept apart (``1`` is not ``1.0``:
clients in typed languages see the difference).

Known, intended differences, and how each is handled here:

1. Upstream's ``SeldonMetrics.update`` writes the Prometheus label ``method`` into the ``tags``
   dict of every custom metric that has tags, and that same dict is echoed in ``meta.metrics``.
   Wharf does not leak the label into the response: ``method`` is removed from the reference's
   metric tags before comparing (``normalise_reference``).
2. Error ``info`` texts: Wharf keeps upstream's text first and may add its own detail (naming the
   request part at fault) after ": ". Those cases compare the HTTP status, the ``status`` object
   and upstream's text as the start of Wharf's (``compare="prefix"``); test_error_parity.py
   covers every error path this way. User-raised errors compare ``info`` exactly.

Deliberate differences that are *not* exercised here (each checked by hand against 1.19.0):

- a JSON body without a JSON content type: upstream fails with 500 (Flask's 415 turned into
  MICROSERVICE_INTERNAL_ERROR); Wharf reads the body as JSON;
- ragged ``ndarray`` (``[[1,2],[3]]``): upstream 500 from numpy 1.26; Wharf builds an object array;
- ``tftensor``: upstream needs TensorFlow, which the reference venv does not have (500 NameError);
- a TypeError raised inside ``predict(X, names, meta=...)``: upstream calls ``predict`` a second
  time without ``meta``; Wharf reads the signature once and calls once;
- ``data`` that is not an object, or ``strData`` that is not a string: upstream hands the value to
  the user's method, Wharf answers 400 naming the part.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from typing import Any

import pytest

pytestmark = pytest.mark.reference

MODELS = {
    # Plain class, no base class: every payload kind, route, aggregate, feedback, user errors.
    "Model": """
        import numpy as np
        from seldon_core.flask_utils import SeldonMicroserviceException


        class Model:
            def predict(self, X, names, meta=None):
                if isinstance(X, str):
                    if X == "boom":
                        raise ValueError("boom from user code")
                    if X == "custom":
                        raise SeldonMicroserviceException("custom failure", status_code=422, reason="MY_REASON")
                    return X.upper()
                if isinstance(X, bytes):
                    return X[::-1]
                if isinstance(X, (dict, list)):
                    return {"echo": X, "n": 1}
                return np.asarray(X) * 2

            def route(self, X, names):
                return 1

            def aggregate(self, Xs, names_list):
                return np.sum([np.asarray(x, dtype=float) for x in Xs], axis=0)

            def send_feedback(self, features, feature_names, reward, truth, routing=None):
                return np.array([reward, -1 if routing is None else routing, features.size, truth.size])
    """,
    # Everything optional that shapes a response: class_names, tags, metrics, SeldonResponse,
    # metadata, a health check that says "not implemented".
    "Fancy": """
        import numpy as np
        from seldon_core.user_model import SeldonNotImplementedError, SeldonResponse


        class Fancy:
            def predict(self, X, names, meta=None):
                if isinstance(X, str):
                    if X == "runtime":
                        return SeldonResponse(X, tags={"rt": "yes", "shared": "runtime"},
                                              metrics=[{"type": "GAUGE", "key": "g", "value": 3}])
                    if X == "badmetric":
                        return SeldonResponse(X, metrics=[{"type": "NOPE", "key": "g", "value": 3}])
                    if X == "float":
                        return 1.5
                    seen = meta or {}
                    return {"puid": seen.get("puid"), "tags": sorted(seen.get("tags") or {}), "names": list(names)}
                return np.asarray(X, dtype=float) + 1

            def route(self, X, names, meta=None):
                return X if isinstance(X, str) else -1

            def class_names(self):
                return ["c0", "c1"]

            def tags(self):
                return {"shared": "user", "model": "fancy"}

            def metrics(self):
                return [{"type": "COUNTER", "key": "calls", "value": 1},
                        {"type": "TIMER", "key": "t", "value": 2.5, "tags": {"a": "b"}}]

            def health_status(self):
                raise SeldonNotImplementedError("nope")

            def init_metadata(self):
                return {"name": "fancy", "platform": "numpy",
                        "inputs": [{"name": "x", "datatype": "FP32"}],
                        "outputs": [{"messagetype": "ndarray", "schema": {"names": ["c0", "c1"], "shape": [2]}}]}

            def send_feedback(self, features, names, reward, truth, routing=None):
                return SeldonResponse([[reward, -1 if routing is None else routing]], tags={"fb": 1})
    """,
    # A SeldonComponent subclass: the base stubs decide the fallbacks; predict_raw answers
    # predictions and may set the HTTP status through status.code.
    "Stub": """
        from seldon_core.user_model import SeldonComponent, SeldonNotImplementedError


        class Stub(SeldonComponent):
            def predict_raw(self, msg):
                if "strData" in msg:
                    if msg["strData"] == "teapot":
                        return {"status": {"code": 418, "info": "short and stout", "status": "FAILURE"}}
                    return {"strData": "raw:" + msg["strData"],
                            "meta": {"metrics": [{"type": "COUNTER", "key": "raw_calls", "value": 2}]}}
                raise SeldonNotImplementedError("fall through")
    """,
}

SCENARIOS = {
    "plain": ("Model", {}),
    "fancy": (
        "Fancy",
        {
            "PREDICTIVE_UNIT_ID": "fancy-unit",
            "PREDICTIVE_UNIT_IMAGE": "registry.local/fancy:1.2",
            "MODEL_METADATA": '{"custom": {"team": "x"}}',
        },
    ),
    "stub": ("Stub", {}),
}


@dataclass(frozen=True)
class Case:
    id: str
    scenario: str
    path: str
    body: Any = None  # JSON-encoded unless bytes
    method: str = "POST"
    content_type: str | None = "application/json"
    compare: str = "exact"  # exact | prefix (error body, upstream's "info" first) | text


NDARRAY = {"data": {"ndarray": [[1, 2], [3, 4]]}}
FULL_META = {
    "puid": "abc",
    "tags": {"x": 1, "shared": "req"},
    "routing": {"a": 1},
    "requestPath": {"up": "img:1"},
    "metrics": [{"key": "m0", "type": "GAUGE", "value": 1}],
}
FEEDBACK = {
    "request": {"data": {"ndarray": [[1, 2]]}, "meta": {"puid": "f1", "tags": {"a": 1}}},
    "response": {"meta": {"routing": {"0": 2, "fancy-unit": 1}}, "data": {"ndarray": [[1]]}},
    "reward": 1.0,
    "truth": {"data": {"ndarray": [[0]]}},
}

CASES = [
    # --- predict: every payload kind, mirroring rules, meta ------------------------------
    Case("predict-ndarray", "plain", "/predict", NDARRAY),
    Case("predict-ndarray-floats-names", "plain", "/predict", {"data": {"names": ["a", "b"], "ndarray": [[1.5, 2]]}}),
    Case("predict-ndarray-1d", "plain", "/predict", {"data": {"ndarray": [1, 2, 3]}}),
    Case("predict-ndarray-bool", "plain", "/predict", {"data": {"ndarray": [[True, False]]}}),
    Case(
        "predict-tensor-meta",
        "plain",
        "/predict",
        {"data": {"names": ["a", "b"], "tensor": {"shape": [2, 2], "values": [1, 2, 3, 4]}}, "meta": FULL_META},
    ),
    Case("predict-tensor-floats", "plain", "/predict", {"data": {"tensor": {"shape": [2], "values": [1.5, 2]}}}),
    Case("predict-empty-data", "plain", "/predict", {"data": {"names": ["a"]}}),
    Case("predict-strData", "plain", "/predict", {"strData": "hello"}),
    Case("predict-jsonData", "plain", "/predict", {"jsonData": {"a": [1, 2.5, "x", None, True]}}),
    Case("predict-jsonData-list", "plain", "/predict", {"jsonData": [1, {"b": 2}]}),
    Case("predict-binData", "plain", "/predict", {"binData": "AAECAw=="}),
    Case("predictions-api", "plain", "/api/v1.0/predictions", NDARRAY),
    Case("predictions-api-v0.1", "plain", "/api/v0.1/predictions", {"strData": "v0"}),
    Case(
        "predict-form-json",
        "plain",
        "/predict",
        b'json={"strData":"form"}',
        content_type="application/x-www-form-urlencoded",
    ),
    Case(
        "predict-query-json",
        "plain",
        "/predict?json=%7B%22strData%22%3A%22query%22%7D",
        method="GET",
        content_type=None,
    ),
    # --- transforms: identity when undefined, names t:0/t:1 ----------------------------
    Case("transform-input-identity", "plain", "/transform-input", {"data": {"ndarray": [[1, 2]]}}),
    Case("transform-input-identity-1d", "plain", "/transform-input", {"data": {"ndarray": [1.5, 2]}}),
    Case(
        "transform-input-tensor",
        "plain",
        "/transform-input",
        {"data": {"tensor": {"shape": [1, 3], "values": [1, 2, 3]}}, "meta": {"puid": "t1"}},
    ),
    Case("transform-input-strData", "plain", "/transform-input", {"strData": "same"}),
    Case("transform-input-jsonData", "plain", "/transform-input", {"jsonData": {"k": [1, 2]}}),
    Case("transform-output-strings", "plain", "/transform-output", {"data": {"ndarray": [["a", "b"]]}}),
    # --- route -------------------------------------------------------------------------
    Case("route-ndarray", "plain", "/route", {"data": {"ndarray": [[1, 2]]}, "meta": {"puid": "r1", "tags": {"t": 1}}}),
    Case("route-tensor", "plain", "/route", {"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}}),
    Case("route-jsonData", "plain", "/route", {"jsonData": {"a": 1}}),
    # --- aggregate ---------------------------------------------------------------------
    Case(
        "aggregate-ndarray",
        "plain",
        "/aggregate",
        {
            "seldonMessages": [
                {"data": {"ndarray": [[1, 2]]}, "meta": {"tags": {"a": 1}, "puid": "p0"}},
                {"data": {"ndarray": [[3, 4]]}, "meta": {"tags": {"b": 2}, "puid": "p1", "requestPath": {"c": "img"}}},
            ]
        },
    ),
    Case(
        "aggregate-puid-only-from-first",
        "plain",
        "/aggregate",
        {
            "seldonMessages": [
                {"data": {"ndarray": [[1, 2]]}},
                {"data": {"ndarray": [[3, 4]]}, "meta": {"puid": "second"}},
            ]
        },
    ),
    Case(
        "aggregate-bare-list-tensor",
        "plain",
        "/aggregate",
        [
            {"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}},
            {"data": {"tensor": {"shape": [1, 2], "values": [3, 4]}}},
        ],
    ),
    # --- feedback (goes through the Feedback proto upstream) ----------------------------
    Case("feedback-routing-unit-0", "plain", "/send-feedback", FEEDBACK),
    Case("feedback-api", "plain", "/api/v1.0/feedback", FEEDBACK),
    Case(
        "feedback-strData-request",
        "plain",
        "/send-feedback",
        {
            "request": {"strData": "abc", "meta": {"puid": "q"}},
            "response": {"meta": {"routing": {"0": -1}}},
            "reward": 2,
        },
    ),
    Case(
        "feedback-tensor",
        "plain",
        "/send-feedback",
        {"request": {"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}}, "reward": 0},
    ),
    Case("feedback-empty", "plain", "/send-feedback", {}),
    # --- health and metadata -----------------------------------------------------------
    Case("health-ping", "plain", "/health/ping", method="GET", content_type=None, compare="text"),
    Case("health-status-default", "plain", "/health/status", method="GET", content_type=None),
    Case("health-status-api", "plain", "/api/v1.0/health/status", method="GET", content_type=None),
    Case("metadata-defaults", "plain", "/metadata", method="GET", content_type=None),
    Case("metadata-defaults-api", "plain", "/api/v1.0/metadata", method="GET", content_type=None),
    # --- errors ------------------------------------------------------------------------
    Case("error-malformed-json", "plain", "/predict", b'{"data":{"ndarray":[[1,2]', compare="prefix"),
    Case("error-empty-body", "plain", "/predict", b"", compare="prefix"),
    Case("error-no-payload", "plain", "/predict", {"meta": {}}, compare="prefix"),
    Case("error-not-an-object", "plain", "/predict", [1, 2], compare="prefix"),
    Case("error-aggregate-shape", "plain", "/aggregate", {"foo": 1}, compare="prefix"),
    Case("error-user-exception", "plain", "/predict", {"strData": "boom"}),
    Case("error-user-microservice-exception", "plain", "/predict", {"strData": "custom"}),
    Case(
        "error-feedback-bad-reward",
        "plain",
        "/send-feedback",
        {"request": {"data": {"ndarray": [[1]]}}, "reward": "x"},
        compare="prefix",
    ),
    # --- fancy: class_names, tags, metrics, requestPath, metadata --------------------------
    Case("fancy-predict-full-meta", "fancy", "/predict", {"data": {"ndarray": [[1, 2]]}, "meta": FULL_META}),
    Case(
        "fancy-predict-runtime-response",
        "fancy",
        "/predict",
        {"strData": "runtime", "meta": {"tags": {"shared": "req"}}},
    ),
    Case("fancy-predict-meta-seen", "fancy", "/predict", {"strData": "meta", "meta": {"puid": "zz", "tags": {"a": 1}}}),
    Case("fancy-predict-no-meta", "fancy", "/predict", {"strData": "nometa"}),
    Case("fancy-predict-names-seen", "fancy", "/predict", {"data": {"names": ["p", "q"], "ndarray": [[1, 2]]}}),
    Case("fancy-route-minus-one", "fancy", "/route", {"data": {"ndarray": [1]}, "meta": FULL_META}),
    Case(
        "fancy-transform-input-tensor",
        "fancy",
        "/transform-input",
        {"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}},
    ),
    Case("fancy-feedback-float32-reward", "fancy", "/send-feedback", {**FEEDBACK, "reward": 0.1}),
    Case("fancy-health-not-implemented", "fancy", "/health/status", method="GET", content_type=None),
    Case("fancy-metadata", "fancy", "/metadata", method="GET", content_type=None),
    Case("fancy-error-route-not-int", "fancy", "/route", {"strData": "x"}),
    Case("fancy-error-bad-metric", "fancy", "/predict", {"strData": "badmetric"}, compare="prefix"),
    Case("fancy-error-unknown-return-type", "fancy", "/predict", {"strData": "float"}, compare="prefix"),
    # --- stub: SeldonComponent base-class fallbacks, predict_raw ---------------------------
    Case("stub-predict-raw", "stub", "/predict", {"strData": "hi", "meta": {"puid": "ignored"}}),
    Case("stub-predict-raw-status", "stub", "/predict", {"strData": "teapot"}),
    Case("stub-predict-fallback", "stub", "/predict", NDARRAY),
    Case("stub-transform-input-identity", "stub", "/transform-input", {"data": {"ndarray": [[1, 2]]}}),
    Case("stub-transform-output-identity", "stub", "/transform-output", {"strData": "out"}),
    Case("stub-feedback", "stub", "/send-feedback", FEEDBACK),
    Case("stub-health", "stub", "/health/status", method="GET", content_type=None),
    Case("stub-metadata", "stub", "/metadata", method="GET", content_type=None),
    Case("stub-route-not-implemented", "stub", "/route", NDARRAY, compare="prefix"),
]


@pytest.fixture(scope="module")
def pairs(server_pairs) -> dict[str, Any]:
    return server_pairs({name: textwrap.dedent(src).lstrip() for name, src in MODELS.items()}, SCENARIOS)


def normalise_reference(body: Any) -> Any:
    """Remove, from the reference's answer, only the differences documented at the top."""
    meta = body.get("meta") if isinstance(body, dict) else None
    for metric in (meta or {}).get("metrics") or []:
        if isinstance(metric.get("tags"), dict):
            metric["tags"].pop("method", None)  # difference 1: upstream leaks its metrics label
    return body


def typed(value: Any) -> Any:
    """Parsed JSON with ints and floats told apart (Python's == would equate 1 and 1.0)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", value)
    if isinstance(value, list):
        return [typed(v) for v in value]
    return {k: typed(v) for k, v in value.items()}


def _send(pair: Any, case: Case) -> list[Any]:
    body = case.body
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return [server.request(case.method, case.path, body, case.content_type) for server in (pair.reference, pair.wharf)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_answer(pairs: dict[str, Any], case: Case) -> None:
    ref, ours = _send(pairs[case.scenario], case)
    shown = f"\nseldon-core {ref.status}: {ref.text}\nwharf       {ours.status}: {ours.text}"
    assert ours.status == ref.status, shown
    if case.compare == "text":
        assert ours.text == ref.text, shown
        return
    assert ours.content_type.startswith("application/json"), shown
    ref_body, our_body = normalise_reference(ref.json()), ours.json()
    if case.compare == "prefix":  # difference 2: same status object, upstream's "info" first
        ref_status, our_status = dict(ref_body["status"]), dict(our_body["status"])
        ours_info, ref_info = our_status.pop("info"), ref_status.pop("info")
        assert ours_info == ref_info or ours_info.startswith(ref_info + ": "), shown
        assert set(our_body) == set(ref_body) == {"status"}, shown
        assert typed(our_status) == typed(ref_status), shown
        return
    assert typed(our_body) == typed(ref_body), shown


def test_every_scenario_is_used() -> None:
    assert {c.scenario for c in CASES} == set(SCENARIOS)
