"""Readiness follows whether the model can still answer: after UNREADY_AFTER_FAILURES internal
failures in a row (or one MemoryError) /ready and /health/status answer 503 naming the last
error; a call that succeeds makes them 200 again. User errors (4xx) never count."""

from __future__ import annotations

import grpc
from google.protobuf import json_format

from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as rpc
from wharf.server.state import UNREADY_AFTER_FAILURES


def _ready(server) -> tuple[int, str]:
    r = server.get("/ready")
    return r.status_code, r.text


def test_consecutive_internal_failures_turn_readiness_off_and_success_back_on(serve):
    server = serve("FlakyModel")
    for _ in range(UNREADY_AFTER_FAILURES - 1):
        assert server.predict({"jsonData": {"fail": True}}).status_code == 500
    assert _ready(server)[0] == 200  # one short of the rule
    assert server.predict({"jsonData": {"fail": True}}).status_code == 500
    status, text = _ready(server)
    assert status == 503
    assert (
        f"{UNREADY_AFTER_FAILURES} calls in a row failed" in text and "RuntimeError: the feature store is gone" in text
    )
    health = server.get("/health/status")
    assert health.status_code == 503 and "the feature store is gone" in health.json()["status"]["info"]
    assert server.get("/live").status_code == 200  # not a reason to restart the container
    assert server.predict({"jsonData": {}}).status_code == 200  # still served when called: it recovers
    assert _ready(server)[0] == 200
    assert server.get("/health/status").status_code == 200


def test_the_models_own_health_status_does_not_reset_the_count(serve):
    """Readiness follows the model's real calls: a health_status that says all is well between
    failures does not hide them."""
    server = serve("FlakyModel")
    for _ in range(UNREADY_AFTER_FAILURES - 1):
        server.predict({"jsonData": {"fail": True}})
    health = server.get("/health/status")
    assert health.status_code == 200 and health.json()["jsonData"] == {"fine": True}
    server.predict({"jsonData": {"fail": True}})
    assert _ready(server)[0] == 503


def test_memory_error_turns_readiness_off_at_once(serve):
    server = serve("FlakyModel")
    assert server.predict({"jsonData": {"oom": True}}).status_code == 500
    status, text = _ready(server)
    assert status == 503 and "out of memory" in text and "MemoryError" in text
    assert server.predict({"jsonData": {}}).status_code == 200
    assert _ready(server)[0] == 200


def test_user_errors_never_count(serve):
    server = serve("FlakyModel")
    for _ in range(3 * UNREADY_AFTER_FAILURES):
        assert server.predict({"jsonData": {"refuse": True}}).status_code == 400
        assert (
            server.post("/predict", content=b"{not json", headers={"content-type": "application/json"}).status_code
            == 400
        )
    assert _ready(server)[0] == 200


def test_a_success_in_between_resets_the_count(serve):
    server = serve("FlakyModel")
    for _ in range(3):
        for _ in range(UNREADY_AFTER_FAILURES - 1):
            server.predict({"jsonData": {"fail": True}})
        server.predict({"jsonData": {}})
    assert _ready(server)[0] == 200


def test_grpc_failures_count_too(serve):
    server = serve("FlakyModel")
    request = json_format.ParseDict({"jsonData": {"fail": True}}, pb.SeldonMessage())
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = rpc.ModelStub(channel)
        for _ in range(UNREADY_AFTER_FAILURES):
            try:
                stub.Predict(request, timeout=10)
            except grpc.RpcError as exc:
                assert exc.code() != grpc.StatusCode.OK
        assert _ready(server)[0] == 503
        stub.Predict(json_format.ParseDict({"jsonData": {}}, pb.SeldonMessage()), timeout=10)
    assert _ready(server)[0] == 200
