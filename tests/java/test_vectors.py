"""The shared vectors in tests/vectors/, against the Python component server and the Java wrapper.

Both servers run the same echo model (tests/java/models/VectorModel.{py,java}); every case must
give the same status and the same JSON (1 and 1.0 count as different) on both.
"""

from __future__ import annotations

import json
from typing import Any

import grpc
import httpx
import java_support as js
import pytest
from google.protobuf import empty_pb2, json_format

from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as pb_grpc

SERVERS = ("python", "java")


def load_cases() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for path in sorted(js.VECTORS.glob("*.json")):
        for case in json.loads(path.read_text())["cases"]:
            cases.append((f"{path.stem}:{case['name']}", case))
    return cases


CASES = load_cases()


def same(a: Any, b: Any) -> bool:
    """JSON equality where an int and a float are different values (orjson/Jackson keep them apart)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# --- REST --------------------------------------------------------------------------------------


def call_rest(server: js.Server, case: dict[str, Any]) -> httpx.Response:
    headers = {}
    content: bytes | None = None
    if "body" in case:
        content = json.dumps(case["body"]).encode()
        headers["content-type"] = "application/json"
    elif "raw" in case:
        content = case["raw"].encode()
    if "content_type" in case:
        headers["content-type"] = case["content_type"]
    url = server.url + case["path"] + (f"?{case['query']}" if case.get("query") else "")
    return httpx.request(case.get("method", "POST"), url, content=content, headers=headers, timeout=10)


def check_rest(resp: httpx.Response, expect: dict[str, Any]) -> None:
    assert resp.status_code == expect["status"], resp.text
    if "text" in expect:
        assert resp.text == expect["text"]
    if "json" in expect:
        body = resp.json()
        assert same(body, expect["json"]), f"got {json.dumps(body)}\nexpected {json.dumps(expect['json'])}"
    if "info_startswith" in expect:
        status = resp.json()["status"]
        assert status["info"].startswith(expect["info_startswith"]), status
        assert status["code"] == -1 and status["status"] == 1
    if "reason" in expect:
        assert resp.json()["status"]["reason"] == expect["reason"], resp.text


# --- gRPC --------------------------------------------------------------------------------------

_REQUEST_TYPES = {"Aggregate": pb.SeldonMessageList, "SendFeedback": pb.Feedback, "Metadata": empty_pb2.Empty}


def call_grpc(server: js.Server, case: dict[str, Any]) -> tuple[str, Any, str]:
    service, method = case["rpc"].split("/")
    request_type = _REQUEST_TYPES.get(method, pb.SeldonMessage)
    request = json_format.ParseDict(case["request"], request_type())
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = getattr(pb_grpc, f"{service}Stub")(channel)
        try:
            reply = getattr(stub, method)(request, timeout=10)
        except grpc.RpcError as exc:
            return exc.code().name, None, exc.details() or ""
    return "OK", json_format.MessageToDict(reply), ""


def check_grpc(result: tuple[str, Any, str], expect: dict[str, Any]) -> None:
    code, body, details = result
    assert code == expect.get("code", "OK"), details
    if "json" in expect:
        assert same(body, expect["json"]), f"got {json.dumps(body)}\nexpected {json.dumps(expect['json'])}"
    if "info_startswith" in expect:
        assert details.startswith(expect["info_startswith"]), details


@pytest.mark.parametrize("server_name", SERVERS)
@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_vector(vector_servers: dict[str, js.Server], server_name: str, case: dict[str, Any]) -> None:
    server = vector_servers[server_name]
    if case.get("transport", "rest") == "grpc":
        check_grpc(call_grpc(server, case), case["expect"])
    else:
        check_rest(call_rest(server, case), case["expect"])


def test_vectors_cover_every_rest_endpoint() -> None:
    """A guard that the shared set keeps covering every REST endpoint of upstream's microservice."""
    paths = {c["path"] for _, c in CASES if c.get("transport", "rest") == "rest"}
    for needed in (
        "/predict",
        "/api/v1.0/predictions",
        "/route",
        "/aggregate",
        "/transform-input",
        "/transform-output",
        "/send-feedback",
        "/api/v1.0/feedback",
        "/health/status",
        "/health/ping",
        "/metadata",
    ):
        assert needed in paths, needed


def test_both_servers_answer_byte_identical_json(vector_servers: dict[str, js.Server]) -> None:
    """Keys sorted and numbers spelled alike: the two servers' bodies are the same bytes."""
    body = {"data": {"ndarray": [[1, 2.5], [3, 4]]}, "meta": {"puid": "b", "tags": {"z": 1, "a": [1, 2]}}}
    answers = {
        name: httpx.post(f"{s.url}/predict", json=body, timeout=10).content for name, s in vector_servers.items()
    }
    assert answers["python"] == answers["java"], answers
