"""Every error path of the component server's REST API, against the real seldon-core 1.19.0.

Clients, dashboards and alerts match on upstream's ``status.info`` texts, so for each bad request
both servers must answer the same HTTP status and ``status.reason``, and Wharf's ``info`` must be
upstream's text unchanged, optionally followed by ": " and Wharf's own detail (which names the
request part at fault). The same request is sent to both servers; nothing here is copied from
upstream's answers by hand.

Also here: a Feedback body with a field Feedback does not have is refused (400), as upstream's
protobuf parse does, with the field named; the SeldonMessage and SeldonMessageList that upstream
reads as plain JSON keep accepting extra fields on both servers.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

from wharf.protocol.pb import prediction_pb2 as pb

pytestmark = pytest.mark.reference

MODELS = {
    "Errs": """
        import numpy as np
        from seldon_core.user_model import SeldonResponse


        class Errs:
            def predict(self, X, names, meta=None):
                if isinstance(X, str):
                    if X == "float":
                        return 1.5
                    if X == "set":
                        return {1, 2}
                    if X == "badmetric":
                        return SeldonResponse(X, metrics=[{"key": "k", "value": 1}])
                    if X == "badmetrictype":
                        return SeldonResponse(X, metrics=[{"type": "HISTOGRAM", "key": "k", "value": 1}])
                    return X
                return X

            def route(self, X, names):
                return "left" if X == "str" else 0

            def aggregate(self, Xs, names_list):
                return Xs[0]

            def send_feedback(self, features, feature_names, reward, truth, routing=None):
                return []
    """,
    # A user metrics() that is not a list, and metadata that fails validation.
    "BadMeta": """
        class BadMeta:
            def predict(self, X, names, meta=None):
                return X

            def metrics(self):
                return {"type": "COUNTER", "key": "k", "value": 1}

            def init_metadata(self):
                return {"inputs": "not a list"}
    """,
    # SeldonComponent subclass: upstream calls the base stubs, whose texts are the answer.
    "Stubbed": """
        from seldon_core.user_model import SeldonComponent


        class Stubbed(SeldonComponent):
            def predict(self, X, names, meta=None):
                return X
    """,
}

SCENARIOS = {"errs": ("Errs", {}), "badmeta": ("BadMeta", {}), "stubbed": ("Stubbed", {})}


@dataclass(frozen=True)
class Case:
    id: str
    path: str
    body: Any = None  # JSON-encoded unless bytes
    method: str = "POST"
    content_type: str | None = "application/json"
    scenario: str = "errs"


FEEDBACK_OK = {"request": {"data": {"ndarray": [[1]]}}, "reward": 1}

CASES = [
    # --- finding the JSON ------------------------------------------------------------------
    Case("no-json-malformed-body", "/predict", b'{"data":{"ndarray":[[1,2]'),
    Case("no-json-empty-body", "/predict", b""),
    Case("no-json-feedback", "/send-feedback", b"{"),
    Case("no-json-null-body", "/predict", b"null"),
    Case("no-json-not-utf8", "/predict", b"\xff\xfe"),
    Case("multipart-broken", "/predict", b"garbage", content_type="multipart/form-data; boundary=XX"),
    Case(
        "bad-json-multipart-field",
        "/predict",
        b'--XX\r\nContent-Disposition: form-data; name="data"\r\n\r\n{bad\r\n--XX--\r\n',
        content_type="multipart/form-data; boundary=XX",
    ),
    Case("bad-json-query", "/predict?json=%7Bnope", method="GET", content_type=None),
    Case("bad-json-form", "/predict", b"json=%7Bnope", content_type="application/x-www-form-urlencoded"),
    # --- the SeldonMessage -----------------------------------------------------------------
    Case("no-payload", "/predict", {"meta": {"puid": "p"}, "other": [1, "x"]}),
    Case("no-payload-empty", "/predict", {}),
    Case("not-an-object-list", "/predict", [1, 2]),
    Case("not-an-object-string", "/transform-input", "text"),
    Case("no-payload-route", "/route", {"foo": True, "bar": None}),
    Case("no-payload-transform-output", "/transform-output", {"x": 1.5}),
    Case("tensor-does-not-fit", "/predict", {"data": {"tensor": {"shape": [2, 2], "values": [1, 2, 3]}}}),
    Case("bindata-not-base64", "/predict", {"binData": "abc"}),
    Case("bindata-not-a-string", "/predict", {"binData": 5}),
    # --- aggregate's SeldonMessageList ------------------------------------------------------
    Case("aggregate-not-a-list", "/aggregate", {"foo": []}),
    Case("aggregate-empty", "/aggregate", {"seldonMessages": []}),
    Case("aggregate-message-without-payload", "/aggregate", {"seldonMessages": [{"strData": "a"}, {"foo": 1}]}),
    # --- Feedback: read through the protobuf message, unknown fields refused ----------------
    Case("feedback-seldon-message-by-mistake", "/send-feedback", {"data": {"ndarray": [[1, 2]]}}),
    Case("feedback-seldon-message-api", "/api/v1.0/feedback", {"strData": "x", "meta": {}}),
    Case(
        "feedback-unknown-field-in-request",
        "/send-feedback",
        {"request": {"data": {"ndarray": [1]}, "bogus": 2}, "reward": 1},
    ),
    Case("feedback-unknown-field-in-truth", "/send-feedback", {**FEEDBACK_OK, "truth": {"strData": "t", "x": 1}}),
    Case("feedback-unknown-top-level-field", "/send-feedback", {**FEEDBACK_OK, "rewrd": 1}),
    Case("feedback-bad-reward", "/send-feedback", {**FEEDBACK_OK, "reward": "high"}),
    Case("feedback-not-an-object", "/send-feedback", [1]),
    # --- what the user's code returns --------------------------------------------------------
    Case("unknown-return-float", "/predict", {"strData": "float"}),
    Case("unknown-return-set", "/predict", {"strData": "set"}),
    Case("route-not-an-int", "/route", {"strData": "str"}),
    Case("bad-runtime-metric-keys", "/predict", {"strData": "badmetric"}),
    Case("bad-runtime-metric-type", "/predict", {"strData": "badmetrictype"}),
    Case("bad-user-metrics-not-a-list", "/predict", {"strData": "x"}, scenario="badmeta"),
    Case("metadata-unavailable", "/metadata", method="GET", content_type=None, scenario="badmeta"),
    Case("metadata-unavailable-api", "/api/v1.0/metadata", method="GET", content_type=None, scenario="badmeta"),
    # --- methods the class does not have -----------------------------------------------------
    Case("route-not-defined", "/route", {"strData": "x"}, scenario="badmeta"),
    Case("aggregate-not-defined", "/aggregate", {"seldonMessages": [{"strData": "x"}]}, scenario="badmeta"),
    Case("route-base-class-stub", "/route", {"strData": "x"}, scenario="stubbed"),
    Case("aggregate-base-class-stub", "/aggregate", {"seldonMessages": [{"strData": "x"}]}, scenario="stubbed"),
    # --- paths and methods not served ---------------------------------------------------------
    Case("unknown-path-get", "/no/such/path", method="GET", content_type=None),
    Case("unknown-path-post", "/no/such/path", {"strData": "x"}),
    Case("get-on-post-only-path", "/api/v1.0/predictions", method="GET", content_type=None),
    Case("delete-on-predict", "/predict", method="DELETE", content_type=None),
    Case("put-on-predictions", "/api/v1.0/predictions", {"strData": "x"}, method="PUT"),
    Case("post-on-health-status", "/health/status", {"strData": "x"}),
    Case("post-on-metadata", "/metadata", {"strData": "x"}),
    Case("post-on-health-ping", "/health/ping", {"strData": "x"}),
]

# Extra fields in messages upstream reads as plain JSON (not through protobuf) stay accepted; HEAD
# is served wherever GET is (Flask adds it), not refused as an unserved method.
ACCEPTED = [
    Case("predict-extra-field", "/predict", {"strData": "x", "extra": 1}),
    Case("aggregate-extra-field", "/aggregate", {"seldonMessages": [{"strData": "a", "x": 1}], "y": 2}),
    Case("route-extra-field", "/route", {"data": {"ndarray": [1]}, "extra": {"a": 1}}),
    Case("head-on-health-status", "/health/status", method="HEAD", content_type=None),
]


@pytest.fixture(scope="module")
def pairs(server_pairs) -> dict[str, Any]:
    return server_pairs({name: textwrap.dedent(src).lstrip() for name, src in MODELS.items()}, SCENARIOS)


def _send(pair: Any, case: Case) -> list[Any]:
    body = case.body
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return [server.request(case.method, case.path, body, case.content_type) for server in (pair.reference, pair.wharf)]


def keeps_upstream_text(ours: str, upstream: str) -> bool:
    """Upstream's text first and unchanged; anything Wharf adds follows after ": "."""
    return (
        ours == upstream or ours.startswith(upstream + ": ") or (upstream.endswith(": ") and ours.startswith(upstream))
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_error_keeps_upstream_status_reason_and_text(pairs: dict[str, Any], case: Case) -> None:
    ref, ours = _send(pairs[case.scenario], case)
    shown = f"\nseldon-core {ref.status}: {ref.text}\nwharf       {ours.status}: {ours.text}"
    assert ref.status >= 400, "not an error upstream: the case is wrong" + shown
    assert ours.status == ref.status, shown
    ref_status, our_status = ref.json()["status"], ours.json()["status"]
    assert our_status["reason"] == ref_status["reason"], shown
    assert (our_status["code"], our_status["status"]) == (ref_status["code"], ref_status["status"]), shown
    assert keeps_upstream_text(our_status["info"], ref_status["info"]), shown


UNKNOWN_FEEDBACK_FIELDS = {
    "feedback-seldon-message-by-mistake": "data",
    "feedback-seldon-message-api": "strData",
    "feedback-unknown-field-in-request": "bogus",
    "feedback-unknown-field-in-truth": "x",
    "feedback-unknown-top-level-field": "rewrd",
}


@pytest.mark.parametrize("case_id, field", UNKNOWN_FEEDBACK_FIELDS.items())
def test_feedback_refusal_names_the_unknown_field(pairs: dict[str, Any], case_id: str, field: str) -> None:
    case = next(c for c in CASES if c.id == case_id)
    _, ours = _send(pairs[case.scenario], case)
    assert ours.status == 400
    assert f'no field named "{field}"' in ours.json()["status"]["info"], ours.text


@pytest.mark.parametrize("case", ACCEPTED, ids=[c.id for c in ACCEPTED])
def test_extra_fields_upstream_accepts_stay_accepted(pairs: dict[str, Any], case: Case) -> None:
    ref, ours = _send(pairs[case.scenario], case)
    assert ref.status == ours.status == 200, f"\n{ref.text}\n{ours.text}"
    assert ours.text == ref.text == "" if case.method == "HEAD" else ours.json() == ref.json()


# --- gRPC ---------------------------------------------------------------------------------------
# Upstream's servicer lets every error escape to grpcio: details "Exception calling application: "
# and str(exception), which is empty for its own SeldonMicroserviceException. Wharf keeps that
# text first (its REST text follows); its status codes come from its HTTP-to-gRPC table instead of
# upstream's UNKNOWN for everything (docs/compatibility.md, "Error texts").

GRPC_CASES = [
    ("no-payload", "errs", "Model/Predict", pb.SeldonMessage()),
    ("bad-runtime-metric", "errs", "Model/Predict", pb.SeldonMessage(strData="badmetric")),
    ("aggregate-empty", "errs", "Combiner/Aggregate", pb.SeldonMessageList()),
    ("route-not-defined", "badmeta", "Router/Route", pb.SeldonMessage(strData="x")),
    ("graph-metadata", "errs", "Seldon/GraphMetadata", empty_pb2.Empty()),
]


def _grpc_details(server: Any, rpc: str, request: Any) -> tuple[grpc.StatusCode, str]:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        fn = channel.unary_unary(
            f"/seldon.protos.{rpc}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=pb.SeldonMessage.FromString,
        )
        with pytest.raises(grpc.RpcError) as err:
            fn(request, timeout=20)
    return err.value.code(), err.value.details() or ""


@pytest.mark.parametrize("case_id, scenario, rpc, message", GRPC_CASES, ids=[c[0] for c in GRPC_CASES])
def test_grpc_error_keeps_upstream_details_first(
    pairs: dict[str, Any], case_id: str, scenario: str, rpc: str, message: Any
) -> None:
    pair = pairs[scenario]
    ref_code, ref_details = _grpc_details(pair.reference, rpc, message)
    our_code, our_details = _grpc_details(pair.wharf, rpc, message)
    assert ref_code == grpc.StatusCode.UNKNOWN and ref_details.startswith("Exception calling application: ")
    assert keeps_upstream_text(our_details, ref_details), f"\nseldon-core {ref_details!r}\nwharf       {our_details!r}"
    assert our_code != grpc.StatusCode.OK
