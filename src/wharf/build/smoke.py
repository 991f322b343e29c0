"""The image smoke test: start a built image as an unprivileged user, wait until it is ready, then
call the endpoint its SERVICE_TYPE serves over REST and gRPC, checking the answers against the
model's ``contract.json`` when there is one (the contract tester's checks), else for a non-failure
SeldonMessage. Ports are published on 127.0.0.1 only."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wharf.contract import core as ct

HTTP_PORT, GRPC_PORT = 9000, 5000
ENDPOINT = {
    "MODEL": "predict",
    "TRANSFORMER": "transform-input",
    "OUTPUT_TRANSFORMER": "transform-output",
    "ROUTER": "route",
    "COMBINER": "aggregate",
    "OUTLIER_DETECTOR": "predict",
}
PLAIN_REQUEST = {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}


# (stub, method, request message) per endpoint of a unit's gRPC services.
GRPC_METHODS = {
    "predict": ("ModelStub", "Predict", "SeldonMessage"),
    "transform-input": ("TransformerStub", "TransformInput", "SeldonMessage"),
    "transform-output": ("OutputTransformerStub", "TransformOutput", "SeldonMessage"),
    "route": ("RouterStub", "Route", "SeldonMessage"),
    "aggregate": ("CombinerStub", "Aggregate", "SeldonMessageList"),
}


def call_rest(port: int, endpoint: str, message: dict, timeout: float = 30) -> tuple[dict | None, list[str]]:
    """POST a JSON SeldonMessage to ``/<endpoint>``; the parsed answer and any problems."""
    where = f"http://127.0.0.1:{port}/{endpoint}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", f"/{endpoint}", body=json.dumps(message), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        status, raw = resp.status, resp.read()
    except (OSError, http.client.HTTPException) as exc:
        return None, [f"{where}: no answer: {exc}"]
    finally:
        conn.close()
    problems = [] if status == 200 else [f"{where}: HTTP {status}: {raw[:300]!r}"]
    try:
        return json.loads(raw), problems
    except ValueError:
        return None, problems + [f"{where}: answer is not JSON: {raw[:200]!r}"]


def call_grpc(port: int, endpoint: str, message: dict, timeout: float = 30) -> tuple[dict | None, list[str]]:
    import grpc
    from google.protobuf import json_format

    from wharf.protocol.pb import prediction_pb2, prediction_pb2_grpc

    stub_name, method, message_type = GRPC_METHODS[endpoint]
    where = f"grpc://127.0.0.1:{port} {stub_name[:-4]}.{method}"
    request = json_format.ParseDict(message, getattr(prediction_pb2, message_type)())
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.enable_http_proxy", 0)]) as channel:
        try:
            reply = getattr(getattr(prediction_pb2_grpc, stub_name)(channel), method)(request, timeout=timeout)
        except grpc.RpcError as exc:
            return None, [f"{where}: {exc.code().name}: {exc.details()}"]
    return json_format.MessageToDict(reply), []


@dataclass
class SmokeResult:
    problems: list[str] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    seconds_to_ready: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def request_for(service_type: str, contract: ct.Contract | None, rng: np.random.Generator) -> tuple[dict, int | None]:
    """The message to send (pure) and the row count the contract check should expect."""
    endpoint = ENDPOINT[service_type]
    if contract is not None and endpoint in ("predict", "transform-input"):
        return ct.build_request(contract, ct.generate_batch(contract, 3, rng)), 3
    if endpoint == "aggregate":
        return {"seldonMessages": [PLAIN_REQUEST, PLAIN_REQUEST]}, None
    return PLAIN_REQUEST, None


def answer_problems(service_type: str, contract: ct.Contract | None, body: dict | None, rows: int | None) -> list[str]:
    if body is None:
        return []
    failure = ct.failure_of(body)
    if failure:
        return [f"the component answered with a failure: {failure}"]
    if rows is not None and contract is not None:
        return ct.check_response(contract, body, rows=rows)
    if "data" not in body and "jsonData" not in body and "strData" not in body and "binData" not in body:
        return [f"answer has no data: {str(body)[:200]}"]
    return []


def _host_port(container, port: int) -> int:
    bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
    return int(bindings[0]["HostPort"])


def _wait_ready(container, port: int, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            return f"the container exited with {container.attrs['State'].get('ExitCode')} before it was ready"
        try:
            conn = http.client.HTTPConnection("127.0.0.1", _host_port(container, port), timeout=2)
            conn.request("GET", "/ready")
            if conn.getresponse().status == 200:
                return None
        except (OSError, http.client.HTTPException, IndexError, KeyError, TypeError):
            pass
        time.sleep(0.3)
    return f"not ready (GET /ready != 200) within {timeout:.0f} s"


def smoke_test(
    client: Any,
    image: str,
    service_type: str,
    contract: ct.Contract | None = None,
    user: str = "1001:0",
    timeout: float = 60.0,
    environment: dict[str, str] | None = None,
    seed: int = 7,
) -> SmokeResult:
    result = SmokeResult()
    started = time.monotonic()
    container = client.containers.run(
        image,
        detach=True,
        user=user,
        environment=environment or {},
        ports={f"{HTTP_PORT}/tcp": ("127.0.0.1", None), f"{GRPC_PORT}/tcp": ("127.0.0.1", None)},
        read_only=True,
        tmpfs={"/tmp": ""},  # the image must run with a read-only root fs
    )
    try:
        problem = _wait_ready(container, HTTP_PORT, timeout)
        if problem:
            logs = container.logs(tail=30).decode(errors="replace")
            result.problems.append(f"{image}: {problem}; last log lines:\n{logs}")
            return result
        result.seconds_to_ready = time.monotonic() - started
        endpoint = ENDPOINT[service_type]
        rng = np.random.default_rng(seed)
        for name, call, port in (("REST", call_rest, HTTP_PORT), ("gRPC", call_grpc, GRPC_PORT)):
            message, rows = request_for(service_type, contract, rng)
            body, problems = call(_host_port(container, port), endpoint, message)
            result.answers[name] = body
            result.problems += problems + [
                f"{name} {endpoint}: {p}" for p in answer_problems(service_type, contract, body, rows)
            ]
        return result
    finally:
        container.remove(force=True)
