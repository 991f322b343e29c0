"""The REST API of a running server: endpoints, body decoding, mirroring, meta, errors."""

from __future__ import annotations

import base64
import json

import httpx
import numpy as np
import pytest
from support import Server, failure_body

UNIT_ID = "full-unit"
UNIT_IMAGE = "registry.local:5000/team/full:0.1"
ENV_METADATA = "platform: from-env\ncustom:\n  source: env\n"


@pytest.fixture(scope="module")
def full(serve_module) -> Server:
    return serve_module(
        "FullModel",
        env={"PREDICTIVE_UNIT_ID": UNIT_ID, "PREDICTIVE_UNIT_IMAGE": UNIT_IMAGE, "MODEL_METADATA": ENV_METADATA},
    )


@pytest.fixture(scope="module")
def empty(serve_module) -> Server:
    return serve_module("EmptyModel", env={"PREDICTIVE_UNIT_IMAGE": "registry.local:5000/team/empty:2.0"})


@pytest.fixture(scope="module")
def router(serve_module) -> Server:
    return serve_module("MyRouter", env={"PREDICTIVE_UNIT_ID": "router-unit"})


def ok(r) -> dict:
    assert r.status_code == 200, r.text
    return r.json()


def assert_serving(server: Server) -> None:
    """After a bad request the same process still answers a good one."""
    assert server.proc.poll() is None, server.log()
    body = ok(server.predict({"data": {"ndarray": [[1, 2]]}}))
    assert body["data"]["ndarray"] in ([[2, 4]], [[1, 2]], [])


ND = {"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}}


# --- endpoints and request decoding (3.1, 3.2) -------------------------------------------------


@pytest.mark.parametrize("path", ["/predict", "/api/v1.0/predictions", "/api/v0.1/predictions"])
def test_predict_paths_json_body(full, path):
    body = ok(full.post(path, json=ND))
    assert body["data"] == {"names": ["class_a", "class_b"], "ndarray": [[2, 4]]}


def test_predict_get_with_query_json(full):
    body = ok(full.get("/predict", params={"json": json.dumps(ND)}))
    assert body["data"]["ndarray"] == [[2, 4]]


def test_predict_query_json_on_post(full):
    body = ok(full.post("/api/v1.0/predictions", params={"json": json.dumps({"strData": "q"})}))
    assert body["strData"] == "full:q"


def test_predict_form_json_field(full):
    r = full.post("/predict", data={"json": json.dumps({"strData": "form"})})
    assert r.request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert ok(r)["strData"] == "full:form"


def test_multipart_strdata_field_is_taken_as_text(full):
    # a field named strData is not JSON-decoded; other fields are
    r = full.post("/predict", files=[("strData", (None, "not json {")), ("meta", (None, '{"puid": "mp-1"}'))])
    assert r.request.headers["content-type"].startswith("multipart/form-data")
    body = ok(r)
    assert body["strData"] == "full:not json {"
    assert body["meta"]["puid"] == "mp-1"


def test_multipart_bindata_file_is_base64_encoded(full):
    raw = bytes([0, 1, 2, 250, 255])
    body = ok(full.post("/predict", files={"binData": ("blob.bin", raw, "application/octet-stream")}))
    assert base64.b64decode(body["binData"]) == raw[::-1]


def test_multipart_other_file_is_read_as_text(full):
    body = ok(full.post("/predict", files={"strData": ("s.txt", b"from a file", "text/plain")}))
    assert body["strData"] == "full:from a file"


def test_method_not_allowed_and_unknown_path(full):
    """Upstream's Flask app answers these with 500 MICROSERVICE_INTERNAL_ERROR and Werkzeug's text
    (a GET is a 404 even on a POST-only path: its static route takes every GET)."""
    for method, path, text in (
        ("GET", "/api/v1.0/predictions", "404 Not Found: "),
        ("GET", "/no/such/endpoint", "404 Not Found: "),
        ("DELETE", "/predict", "405 Method Not Allowed: "),
        ("POST", "/health/ping", "405 Method Not Allowed: "),
    ):
        r = httpx.request(method, full.url + path, timeout=30)
        assert r.status_code == 500, (method, path)
        status = failure_body(r)
        assert status["reason"] == "MICROSERVICE_INTERNAL_ERROR" and status["info"].startswith(text), status
        assert path in status["info"]
    assert_serving(full)


def test_cors_header(full):
    r = full.post("/predict", json=ND, headers={"Origin": "http://example.test"})
    # upstream (flask-cors) echoes the origin; "*" allows it too
    assert r.headers.get("access-control-allow-origin") in ("*", "http://example.test")


# --- mirroring rules (3.5) -------------------------------------------------------------------


def test_ndarray_in_ndarray_out(full):
    body = ok(full.predict({"data": {"ndarray": [[1.5, 2]]}}))
    assert body["data"] == {"names": ["class_a", "class_b"], "ndarray": [[3.0, 4.0]]}


def test_tensor_in_tensor_out(full):
    body = ok(full.predict({"data": {"tensor": {"shape": [2, 2], "values": [1, 2, 3, 4]}}}))
    assert body["data"]["tensor"] == {"shape": [2, 2], "values": [2, 4, 6, 8]}
    assert body["data"]["names"] == ["class_a", "class_b"]
    assert "ndarray" not in body["data"]


def test_tftensor_in_tftensor_out(full):
    tft = {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "1"}, {"size": "2"}]}, "floatVal": [1.5, 2.0]}
    body = ok(full.predict({"data": {"tftensor": tft}}))
    out = body["data"]["tftensor"]
    assert out["dtype"] == "DT_FLOAT"
    assert [int(d["size"]) for d in out["tensorShape"]["dim"]] == [1, 2]
    if "tensorContent" in out:
        values = np.frombuffer(base64.b64decode(out["tensorContent"]), dtype="<f4").tolist()
    else:
        values = out["floatVal"]
    assert values == [3.0, 4.0]
    assert body["data"]["names"] == ["class_a", "class_b"]


def test_strdata_bindata_jsondata_mirror(full):
    assert ok(full.predict({"strData": "hello"}))["strData"] == "full:hello"
    raw = b"\x00abc\xff"
    body = ok(full.predict({"binData": base64.b64encode(raw).decode()}))
    assert base64.b64decode(body["binData"]) == raw[::-1]
    body = ok(full.predict({"jsonData": {"x": [1, "two", None]}}))
    assert body["jsonData"] == {"echo": {"x": [1, "two", None]}}
    assert "data" not in body and "strData" not in body


def test_non_numeric_output_is_ndarray_even_for_tensor_request(full):
    req = {"meta": {"tags": {"op": "strings"}}, "data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}}
    body = ok(full.predict(req))
    assert body["data"] == {"names": ["class_a", "class_b"], "ndarray": [["a", "b"]]}


def test_numeric_output_for_non_data_request_is_tensor(full):
    body = ok(full.predict({"meta": {"tags": {"op": "numbers"}}, "strData": "x"}))
    assert body["data"]["tensor"] == {"shape": [1, 2], "values": [1.5, 2.5]}
    body = ok(full.predict({"meta": {"tags": {"op": "strings"}}, "jsonData": {}}))
    assert body["data"]["ndarray"] == [["a", "b"]]


def test_string_ndarray_input_passes_through(full):
    body = ok(full.predict({"data": {"ndarray": [["x", "y"]]}}))
    assert body["data"]["ndarray"] == [["x", "y"]]


def test_default_names_and_one_dimensional_output(empty):
    body = ok(empty.post("/transform-input", json={"data": {"ndarray": [[1, 2, 3]]}}))
    assert body["data"] == {"names": ["t:0", "t:1", "t:2"], "ndarray": [[1, 2, 3]]}
    body = ok(empty.post("/transform-input", json={"data": {"ndarray": [1, 2, 3]}}))
    assert body["data"] == {"names": [], "ndarray": [1, 2, 3]}


def test_request_names_reach_the_model(full):
    body = ok(full.predict({"meta": {"tags": {"op": "names"}}, "data": {"names": ["f1", "f2"], "ndarray": [[1, 2]]}}))
    assert body["jsonData"] == {"names": ["f1", "f2"]}


def test_missing_predict_answers_empty(empty):
    body = ok(empty.predict({"data": {"ndarray": [[1, 2]]}}))
    assert body["data"]["ndarray"] == []
    assert body["meta"] == {}


# --- meta rules (3.5) ------------------------------------------------------------------------


def test_meta_puid_tags_requestpath_routing_metrics(full):
    req = {
        "meta": {
            "puid": "p-123",
            "tags": {"shared": "request", "req": 1},
            "routing": {"r": 1},
            "requestPath": {"upstream": "img:1"},
        },
        "data": {"ndarray": [[1, 2]]},
    }
    meta = ok(full.predict(req))["meta"]
    assert meta["puid"] == "p-123"
    assert meta["tags"] == {"shared": "tags", "req": 1, "model": "full"}
    assert meta["requestPath"] == {UNIT_ID: UNIT_IMAGE, "upstream": "img:1"}
    assert "routing" not in meta
    keys = [(m["key"], m["type"], m["value"]) for m in meta["metrics"]]
    assert keys == [("full_counter", "COUNTER", 1), ("full_gauge", "GAUGE", 42), ("full_timer", "TIMER", 20.0)]
    assert meta["metrics"][0]["tags"]["kind"] == "count"


def test_runtime_tags_win_over_tags_method(full):
    req = {"meta": {"tags": {"shared": "request", "op": "runtime"}}, "data": {"ndarray": [[1, 2]]}}
    body = ok(full.predict(req))
    assert body["data"]["ndarray"] == [[2, 4]]
    tags = body["meta"]["tags"]
    assert tags == {"shared": "runtime", "op": "runtime", "model": "full", "runtime": True}
    assert [m["key"] for m in body["meta"]["metrics"]] == [
        "full_counter",
        "full_gauge",
        "full_timer",
        "runtime_counter",
    ]


def test_request_path_entries_from_request_win(full):
    req = {"meta": {"requestPath": {UNIT_ID: "overridden:9"}}, "data": {"ndarray": [[1]]}}
    assert ok(full.predict(req))["meta"]["requestPath"] == {UNIT_ID: "overridden:9"}


def test_no_unit_id_no_request_path_and_no_puid_generated(empty):
    meta = ok(empty.post("/transform-input", json={"data": {"ndarray": [[1]]}}))["meta"]
    assert meta == {}


def test_request_metrics_are_kept_first(full):
    incoming = {"key": "upstream_metric", "type": "GAUGE", "value": 3}
    meta = ok(full.predict({"meta": {"metrics": [incoming]}, "data": {"ndarray": [[1]]}}))["meta"]
    assert meta["metrics"][0]["key"] == "upstream_metric"
    assert [m["key"] for m in meta["metrics"][1:]] == ["full_counter", "full_gauge", "full_timer"]


def test_meta_reaches_predict(full):
    body = ok(full.predict({"meta": {"puid": "abc", "tags": {"op": "meta"}}, "strData": "x"}))
    assert body["jsonData"]["meta"]["puid"] == "abc"
    assert body["jsonData"]["meta"]["tags"]["op"] == "meta"


def test_load_ran_in_the_worker(full):
    assert ok(full.predict({"meta": {"tags": {"op": "loaded"}}, "strData": "x"}))["jsonData"] == {"loaded": True}


def test_metrics_not_echoed_when_disabled(serve_module):
    server = serve_module("FullModel", env={"INCLUDE_METRICS_IN_CLIENT_RESPONSE": "FALSE"})
    body = ok(server.predict({"meta": {"tags": {"op": "runtime"}}, "data": {"ndarray": [[1, 2]]}}))
    assert "metrics" not in body["meta"]
    assert body["meta"]["tags"]["shared"] == "runtime"


# --- route, aggregate, transforms, feedback (3.6) ---------------------------------------------


def test_route_int_wrapped(router):
    body = ok(router.post("/route", json={"meta": {"tags": {"t": 1}}, "data": {"ndarray": [[1, 5]]}}))
    assert body["data"] == {"names": ["t:0"], "ndarray": [[1]]}
    assert "tags" not in body["meta"]
    body = ok(router.post("/route", json={"data": {"tensor": {"shape": [1], "values": [2]}}}))
    assert body["data"]["tensor"] == {"shape": [1, 1], "values": [2]}
    body = ok(router.post("/route", json={"jsonData": {"branch": -1}}))
    assert body["data"]["tensor"]["values"] == [-1]


@pytest.mark.parametrize(
    "payload", [{"strData": "left"}, {"jsonData": {"branch": 1.5}}, {"jsonData": {"branch": None}}]
)
def test_route_non_int_is_400(router, payload):
    r = router.post("/route", json=payload)
    assert r.status_code == 400, r.text
    status = failure_body(r)
    assert "Routing response must be int" in status["info"]
    assert status["reason"] == "MICROSERVICE_BAD_DATA"
    assert ok(router.post("/route", json={"data": {"ndarray": [[0]]}}))["data"]["ndarray"] == [[0]]


def test_route_not_defined_is_400(full):
    r = full.post("/route", json=ND)
    assert r.status_code == 400
    assert "Route not defined" in failure_body(r)["info"]


@pytest.fixture(scope="module")
def combiner(serve_module) -> Server:
    return serve_module("MyCombiner")


def test_aggregate_message_list(combiner):
    req = {
        "seldonMessages": [
            {"meta": {"tags": {"a": 1}, "requestPath": {"m1": "i1"}}, "data": {"ndarray": [[1, 2]]}},
            {"meta": {"tags": {"b": 2}, "requestPath": {"m2": "i2"}}, "data": {"ndarray": [[10, 20]]}},
        ]
    }
    body = ok(combiner.post("/aggregate", json=req))
    assert body["data"] == {"names": ["t:0", "t:1"], "ndarray": [[11.0, 22.0]]}
    assert body["meta"]["tags"] == {"a": 1, "b": 2, "combiner": "yes"}
    assert body["meta"]["requestPath"] == {"m1": "i1", "m2": "i2"}


def test_aggregate_bare_list_and_first_kind(combiner):
    req = [{"data": {"tensor": {"shape": [2], "values": [1, 2]}}}, {"data": {"ndarray": [3, 4]}}]
    body = ok(combiner.post("/aggregate", json=req))
    assert body["data"]["tensor"] == {"shape": [2], "values": [4.0, 6.0]}
    body = ok(combiner.post("/aggregate", json=[{"strData": "a"}, {"strData": "b"}]))
    assert body["strData"] == "a + b"
    body = ok(combiner.post("/aggregate", json={"seldonMessages": [{"jsonData": {"k": 1}}, {"jsonData": {"k": 2}}]}))
    assert body["jsonData"] == {"names": [[], []], "count": 2}


def test_get_with_query_json_on_every_post_get_endpoint(full, router, combiner):
    q = {"json": json.dumps({"data": {"ndarray": [[1, 2]]}})}
    assert ok(full.get("/transform-input", params=q))["data"]["ndarray"] == [[1, 2]]
    assert ok(full.get("/transform-output", params=q))["data"]["ndarray"] == [[1, 2]]
    assert ok(router.get("/route", params=q))["data"]["ndarray"] == [[1]]
    agg = {"json": json.dumps({"seldonMessages": [{"data": {"ndarray": [1]}}, {"data": {"ndarray": [2]}}]})}
    assert ok(combiner.get("/aggregate", params=agg))["data"]["ndarray"] == [3.0]
    fb = {"json": json.dumps({"request": {"data": {"ndarray": [[1]]}}, "reward": 1})}
    assert ok(full.get("/send-feedback", params=fb))["jsonData"]["reward"] == 1


def test_aggregate_not_defined_is_400(full):
    r = full.post("/aggregate", json={"seldonMessages": [ND]})
    assert r.status_code == 400
    assert "Aggregate not defined" in failure_body(r)["info"]


def test_transform_defaults_are_identity(full):
    for path in ("/transform-input", "/transform-output"):
        body = ok(
            full.post(path, json={"meta": {"puid": "t1"}, "data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}})
        )
        assert body["data"]["tensor"] == {"shape": [1, 2], "values": [1, 2]}
        assert body["data"]["names"] == ["class_a", "class_b"]
        assert body["meta"]["puid"] == "t1"
        assert body["meta"]["tags"] == {"shared": "tags", "model": "full"}
        assert ok(full.post(path, json={"strData": "s"}))["strData"] == "s"


@pytest.mark.parametrize(
    "model, path, expected",
    [
        ("MyTransformer", "/transform-input", [[2, 3]]),
        ("MyOutputTransformer", "/transform-output", [[10, 20]]),
    ],
)
def test_transformers(serve_module, model, path, expected):
    server = serve_module(model)
    body = ok(server.post(path, json={"meta": {"puid": "z"}, "data": {"ndarray": [[1, 2]]}}))
    assert body["data"] == {"names": ["t:0", "t:1"], "ndarray": expected}
    assert body["meta"]["puid"] == "z"
    # the other transform is the identity on the same class
    other = "/transform-output" if path == "/transform-input" else "/transform-input"
    assert ok(server.post(other, json={"data": {"ndarray": [[1, 2]]}}))["data"]["ndarray"] == [[1, 2]]
    if model == "MyTransformer":
        body = ok(server.post(path, json={"meta": {"puid": "m"}, "strData": "s"}))
        assert body["jsonData"] == {"input": "s", "puid": "m"}


FEEDBACK = {
    "request": {"data": {"names": ["f0", "f1"], "ndarray": [[1, 2]]}},
    "response": {"meta": {"routing": {"router-unit": 1, "full-unit": 0, "other": 5}}, "data": {"ndarray": [[0.5]]}},
    "reward": 2.5,
    "truth": {"data": {"ndarray": [[1]]}},
}


@pytest.mark.parametrize("path", ["/send-feedback", "/api/v1.0/feedback", "/api/v0.1/feedback"])
def test_feedback_paths(full, path):
    body = ok(full.post(path, json=FEEDBACK))
    assert body["jsonData"] == {
        "features": [[1, 2]],
        "names": ["f0", "f1"],
        "reward": 2.5,
        "truth": [[1]],
        "routing": 0,
    }


def test_feedback_routing_uses_unit_id(router):
    assert ok(router.post("/send-feedback", json=FEEDBACK))["jsonData"] == {"routing": 1, "reward": 2.5}
    fb = {**FEEDBACK, "response": {"meta": {"routing": {"someone-else": 3}}, "data": {"ndarray": [[0]]}}}
    assert ok(router.post("/send-feedback", json=fb))["jsonData"]["routing"] is None


def test_feedback_without_send_feedback_answers_empty(empty):
    body = ok(empty.post("/send-feedback", json=FEEDBACK))
    assert body["data"]["ndarray"] == []


# --- raw methods, compat imports, custom errors -----------------------------------------------


@pytest.fixture(scope="module")
def raw(serve_module) -> Server:
    return serve_module("RawModel")


def test_predict_raw_status_code_becomes_http_status(raw):
    r = raw.predict({"jsonData": {"code": 201}})
    assert r.status_code == 201
    body = r.json()
    assert body["jsonData"] == {"raw": True, "proto": False, "got": {"code": 201}}
    assert body["meta"]["metrics"][0]["key"] == "raw_counter"
    r = raw.predict({"jsonData": {"code": 422}})
    assert r.status_code == 422
    assert r.json()["status"]["info"] == "raw answer"
    assert raw.predict({"jsonData": {}}).status_code == 200


def test_send_feedback_raw_gets_a_feedback_proto(raw):
    body = ok(raw.post("/send-feedback", json=FEEDBACK))
    assert body["jsonData"] == {"type": "Feedback", "reward": 2.5, "has_request": True}


@pytest.fixture(scope="module")
def compat(serve_module) -> Server:
    return serve_module("CompatModel")


def test_seldon_core_imports_and_seldon_response(compat):
    body = ok(compat.predict({"meta": {"tags": {"in": 1}}, "data": {"ndarray": [[1, 2]]}}))
    assert body["data"] == {"names": ["t:0", "t:1"], "ndarray": [[1, 2]]}
    assert body["meta"]["tags"] == {"in": 1, "compat": "yes"}
    assert body["meta"]["metrics"] == [{"key": "compat_gauge", "type": "GAUGE", "value": 7}]
    # SeldonComponent's stubs raise "not implemented": identity transforms, route refused, and
    # the health stub is called (upstream answers "not implemented - assuming healthy")
    assert ok(compat.post("/transform-input", json={"strData": "s"}))["strData"] == "s"
    assert ok(compat.get("/health/status"))["strData"] == "not implemented - assuming healthy"
    r = compat.post("/route", json={"data": {"ndarray": [[1]]}})
    assert r.status_code == 400 and failure_body(r)["reason"] == "MICROSERVICE_BAD_DATA"


def test_seldon_microservice_exception_from_compat_import(compat):
    r = compat.predict({"strData": "fail"})
    assert r.status_code == 409
    status = failure_body(r)
    assert status == {"status": 1, "code": -1, "info": "compat says no", "reason": "COMPAT_REFUSED"}
    assert_serving(compat)


@pytest.fixture(scope="module")
def custom_error(serve_module) -> Server:
    return serve_module("CustomErrorModel")


@pytest.mark.parametrize("code", [400, 404, 418, 503])
def test_custom_status_code(custom_error, code):
    server = custom_error
    r = server.predict({"jsonData": {"status": code, "info": f"failed with {code}", "reason": "MY_REASON"}})
    assert r.status_code == code
    assert failure_body(r) == {"status": 1, "code": -1, "info": f"failed with {code}", "reason": "MY_REASON"}
    assert ok(server.predict({"jsonData": {"fine": True}}))["jsonData"] == {"fine": True}


# --- health, metadata, openapi (3.7, 3.8) ------------------------------------------------------


def test_health_ping_and_status(full, empty):
    r = full.get("/health/ping")
    assert r.status_code == 200 and r.text == "pong"
    for path in ("/health/status", "/api/v1.0/health/status"):
        assert ok(empty.get(path)) == {"strData": "healthy", "meta": {}}
        body = ok(full.get(path))
        assert body["jsonData"] == {"healthy": True, "model": "full"}
        assert body["meta"]["requestPath"] == {UNIT_ID: UNIT_IMAGE}


def test_ready_and_live(full):
    assert full.get("/ready").status_code == 200
    assert full.get("/live").status_code == 200


def test_metadata_defaults_from_image(empty):
    expected = {
        "name": "registry.local:5000/team/empty",
        "versions": ["2.0"],
        "platform": "",
        "inputs": [],
        "outputs": [],
        "custom": {},
    }
    assert ok(empty.get("/metadata")) == expected
    assert ok(empty.get("/api/v1.0/metadata")) == expected


def test_metadata_init_metadata_merged_with_env(full):
    body = ok(full.get("/metadata"))
    assert body == {
        "name": "full-model",
        "versions": ["1.2.3"],
        "platform": "from-env",
        "inputs": [{"messagetype": "ndarray", "schema": {"names": ["a", "b"], "shape": [2]}}],
        "outputs": [{"messagetype": "ndarray", "schema": {"shape": [2]}}],
        "custom": {"source": "env"},
    }


def test_invalid_metadata_is_500(serve_module):
    server = serve_module("EmptyModel", env={"MODEL_METADATA": '{"bogus_key": 1, "custom": {"n": 2}}'})
    r = server.get("/metadata")
    assert r.status_code == 500
    status = failure_body(r)
    assert status["reason"] == "MICROSERVICE_BAD_METADATA"
    assert "Model metadata unavailable" in status["info"]
    assert server.get("/health/ping").text == "pong"
    assert ok(server.post("/transform-input", json={"strData": "s"}))["strData"] == "s"


def test_seldon_json(full):
    r = full.get("/seldon.json")
    assert r.status_code == 200
    doc = r.json()
    assert ("openapi" in doc or "swagger" in doc) and doc["paths"]
    assert any("predict" in p for p in doc["paths"])


# --- errors (3.9); the process keeps serving after each -----------------------------------------


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b'{"data": {"ndarray": [[1, 2]]', "application/json"),
        (b"not json at all", "application/json"),
        (b"{'single': 'quotes'}", "application/json"),
    ],
)
def test_malformed_json_is_400(full, body, content_type):
    r = full.post("/predict", content=body, headers={"content-type": content_type})
    assert r.status_code == 400
    assert failure_body(r)["reason"] == "MICROSERVICE_BAD_DATA"
    assert_serving(full)


def test_malformed_query_and_form_json_are_500_with_the_json_error_first(full):
    """Upstream decodes these with json.loads and lets the error escape (500, its message)."""
    for r, part in (
        (full.get("/predict", params={"json": "{nope"}), "query parameter 'json'"),
        (full.post("/predict", data={"json": "{nope"}), "form field 'json'"),
    ):
        assert r.status_code == 500
        status = failure_body(r)
        assert status["reason"] == "MICROSERVICE_INTERNAL_ERROR"
        assert (
            status["info"]
            == f"Expecting property name enclosed in double quotes: line 1 column 2 (char 1): {part} is not valid JSON"
        )
    assert_serving(full)


def test_empty_body_is_400(full):
    r = full.post("/predict", content=b"")
    assert r.status_code == 400
    assert failure_body(r)["reason"] == "MICROSERVICE_BAD_DATA"
    assert_serving(full)


@pytest.mark.parametrize("message", [{}, {"meta": {"puid": "x"}}, {"unknown": 1}])
def test_no_data_is_400(full, message):
    r = full.predict(message)
    assert r.status_code == 400
    status = failure_body(r)
    assert status["info"].startswith("Invalid request data type")
    assert status["reason"] == "MICROSERVICE_BAD_DATA"
    assert_serving(full)


def test_bad_payloads_are_400(full):
    for message in ({"strData": 3}, {"data": "not an object"}, {"meta": "not an object", "strData": "x"}):
        r = full.predict(message)
        assert r.status_code == 400, (message, r.text)
        failure_body(r)
    assert_serving(full)


def test_payloads_numpy_or_base64_refuse_are_500_as_upstream(full):
    for message, first in (
        ({"data": {"tensor": {"shape": [3], "values": [1, 2]}}}, "cannot reshape array of size 2"),
        ({"binData": 5}, "argument should be a bytes-like object"),
    ):
        r = full.predict(message)
        assert r.status_code == 500, (message, r.text)
        assert failure_body(r)["info"].startswith(first)
    assert_serving(full)


def test_user_exception_is_500(full):
    r = full.predict({"meta": {"tags": {"op": "raise"}}, "data": {"ndarray": [[1]]}})
    assert r.status_code == 500
    status = failure_body(r)
    assert status["reason"] == "MICROSERVICE_INTERNAL_ERROR"
    assert status["info"] == "model exploded"
    assert_serving(full)


def test_unknown_return_type_is_400(full):
    # upstream raises its default SeldonMicroserviceException here: 400, MICROSERVICE_BAD_DATA
    r = full.predict({"meta": {"tags": {"op": "unknown"}}, "strData": "x"})
    assert r.status_code == 400
    assert "Unknown data type returned as payload" in failure_body(r)["info"]
    assert_serving(full)


def test_bad_metric_is_500(full):
    r = full.predict({"meta": {"tags": {"op": "bad_metric"}}, "data": {"ndarray": [[1]]}})
    assert r.status_code == 500
    assert failure_body(r)["reason"] == "MICROSERVICE_BAD_METRIC"
    assert_serving(full)


def test_many_bad_requests_then_good(full):
    for _ in range(20):
        assert full.post("/predict", content=b"{", headers={"content-type": "application/json"}).status_code == 400
        assert full.predict({"meta": {"tags": {"op": "raise"}}, "strData": "x"}).status_code == 500
    assert_serving(full)
    assert full.proc.poll() is None


def test_a_model_failing_on_every_call_logs_one_traceback_and_a_bounded_number_of_lines(serve) -> None:
    """300 failing calls, REST and gRPC: one traceback for the one kind of error, and at most the burst
    (20) plus the rate (10/s) of lines over the run, instead of a traceback per call."""
    import time

    import grpc

    from wharf.protocol.pb import prediction_pb2 as pb
    from wharf.protocol.pb import prediction_pb2_grpc as rpc

    server = serve("FullModel", env={"GUNICORN_WORKERS": "1"})
    started = time.monotonic()
    for _ in range(200):
        assert server.predict({"meta": {"tags": {"op": "raise"}}, "data": {"ndarray": [[1]]}}).status_code == 500
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = rpc.ModelStub(channel)
        for _ in range(100):
            message = pb.SeldonMessage(strData="x")
            message.meta.tags["op"].string_value = "raise"
            try:
                stub.Predict(message, timeout=10)
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.UNKNOWN or err.code() == grpc.StatusCode.INTERNAL
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    log = server.log()
    assert log.count("Traceback (most recent call last)") == 1, log[-3000:]
    failed = [line for line in log.splitlines() if "failed: " in line and "model exploded" in line]
    assert 2 <= len(failed) <= 20 + 10 * elapsed + 2, (len(failed), elapsed)
    assert any("seen" in line and "times" in line for line in failed)
