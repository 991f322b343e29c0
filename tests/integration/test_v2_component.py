"""The Open Inference Protocol (V2) served by the component server from a Seldon-style class.

Clients that are not ours: NVIDIA's tritonclient (HTTP in this venv; gRPC in its own venv, since
its stubs need protobuf 6: wharf.testing.tritonclient), MLServer 1.7.1's pydantic types and codecs
(in MLServer's venv: wharf.testing.mlserver), and KServe's V2 example payloads as published.
Bad input is sent as raw bytes (httpx, grpcio with Wharf's stubs): no client library would send it.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import orjson
import pytest
import tritonclient.http as tritonhttp
from prometheus_client.parser import text_string_to_metric_families
from support import ports_args, run_to_exit
from tritonclient.utils import InferenceServerException

from wharf.protocol.pb import inference_pb2 as pb

MODEL = "V2EchoModel"
CLIENTS = Path(__file__).parent / "v2_clients"
INFER = f"/v2/models/{MODEL}/infer"


@pytest.fixture(scope="module")
def server(serve_module):
    return serve_module(MODEL)


@pytest.fixture(scope="module")
def v2_only(serve_module):
    """V2 alone (--protocols v2), a model name of our choosing, and a small REST body limit."""
    return serve_module(MODEL, "--protocols", "v2", "--model-name", "echo", env={"WHARF_MAX_BODY_BYTES": "4096"})


def _run_client(python: Path, script: str, *args: str) -> dict:
    proc = subprocess.run([str(python), str(CLIENTS / script), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


# --- real clients ---------------------------------------------------------------------------


def test_tritonclient_http_binary_and_json(server) -> None:
    client = tritonhttp.InferenceServerClient(f"127.0.0.1:{server.http_port}")
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(MODEL)
    meta = client.get_model_metadata(MODEL)
    assert meta == {
        "name": MODEL,
        "versions": ["7"],
        "platform": "wharf-tests",
        # the Seldon-style ndarray entry of init_metadata() has no V2 form and is left out
        "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [{"name": "echo", "datatype": "FP32", "shape": [-1, 3]}],
    }
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for binary in (True, False):  # tritonclient's default is the binary data extension, both ways
        inp = tritonhttp.InferInput("input-0", [2, 3], "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        result = client.infer(
            MODEL, [inp], request_id="r1", outputs=[tritonhttp.InferRequestedOutput("echo", binary_data=binary)]
        )
        np.testing.assert_array_equal(result.as_numpy("echo"), x)
        response = result.get_response()
        assert response["id"] == "r1" and response["model_version"] == "7"
        assert response["parameters"] == {"served_by": "V2EchoModel"}  # the class's tags()
        assert ("binary_data_size" in response["outputs"][0].get("parameters", {})) is binary
    text = np.array([b"ab", "\u00e9".encode(), b"\x00\xff"], dtype=object)  # BYTES: binary by default
    inp = tritonhttp.InferInput("input-0", [3], "BYTES")
    inp.set_data_from_numpy(text)
    np.testing.assert_array_equal(client.infer(MODEL, [inp]).as_numpy("echo"), text)
    with pytest.raises(InferenceServerException) as err:
        client.infer("no-such-model", [inp])
    assert err.value.status() == "404" and "model 'no-such-model' not found" in err.value.message()


def test_tritonclient_grpc(server) -> None:
    from wharf.testing.tritonclient import tritonclient_python

    seen = _run_client(tritonclient_python(), "triton_grpc_calls.py", server.grpc_target, MODEL)
    assert seen["live"] and seen["ready"] and seen["model_ready"]
    assert seen["model_metadata"]["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": ["-1", "3"]}]
    for datatype, case in seen["echo"].items():  # every datatype, raw both ways as tritonclient sends it
        assert case["equal"] and case["datatype"] == datatype and case["id"] == f"req-{datatype}", case
    assert seen["multi"] == {"outputs": ["b"], "b": ["text"]}
    errors = seen["errors"]
    assert errors["unknown_model"] == {
        "status": "StatusCode.NOT_FOUND",
        "message": "model 'no-such-model' not found: this server serves 'V2EchoModel'",
    }
    assert errors["unknown_version"]["status"] == "StatusCode.NOT_FOUND"
    assert errors["model_fails"] == {"status": "StatusCode.INTERNAL", "message": "the model was asked to fail"}


def test_mlserver_types_read_and_write_our_json(server) -> None:
    from wharf.testing.mlserver import mlserver_venv

    seen = _run_client(mlserver_venv() / "python", "mlserver_types_calls.py", server.url, MODEL)
    assert seen["server_metadata"]["name"] == "wharf"
    assert seen["model_metadata"]["outputs"][0]["name"] == "echo"
    assert seen["infer"] == {
        "status": 200,
        "id": "mlserver-1",
        "model_name": MODEL,
        "x": [[1.5, 2.5, 3.5]],
        "x_datatype": "FP32",
        "text": ["hi", "there"],
        "text_shape": [2, 1],
    }
    # one input: predict gets the array itself, names [], the request parameters as meta tags
    assert seen["call"] == {
        "names": [],
        "meta": {"tags": {"show_call": True}},
        "type": "ndarray",
        "inputs": {"": ["int16", [2, 1]]},
    }
    assert seen["bad"] == {"status": 400, "error": "input 'x': shape [2, 2] holds 4 elements but data has 3"}
    assert seen["unknown"]["status"] == 404


# KServe's V2 REST examples, as published: the sklearn iris example's request
# (kserve/website docs/modelserving/v1beta1/sklearn/v2/iris-input-v2.json) and the inference
# request example of the Open Inference Protocol's REST specification (kserve/open-inference-protocol,
# specification/protocol/inference_rest.md), whose input1 says shape [3] but has one element.
KSERVE_IRIS = {
    "inputs": [
        {"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}
    ]
}
OIP_EXAMPLE = {
    "id": "42",
    "inputs": [
        {"name": "input0", "shape": [2, 2], "datatype": "UINT32", "data": [1, 2, 3, 4]},
        {"name": "input1", "shape": [3], "datatype": "BOOL", "data": [True]},
    ],
    "outputs": [{"name": "output0"}],
}


def test_kserve_example_payloads(server) -> None:
    r = server.post(INFER, json=KSERVE_IRIS)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"] == [
        {
            "name": "echo",
            "datatype": "FP32",
            "shape": [2, 4],
            "data": pytest.approx([6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6]),
        }
    ]
    r = server.post(INFER, json=OIP_EXAMPLE)
    assert (r.status_code, r.json()) == (400, {"error": "input 'input1': shape [3] holds 3 elements but data has 1"})
    fixed = {**OIP_EXAMPLE, "inputs": [OIP_EXAMPLE["inputs"][0], {**OIP_EXAMPLE["inputs"][1], "shape": [1]}]}
    r = server.post(INFER, json=fixed)
    # two inputs: the class gets a dict and answers one; output0 was asked for and is not among them
    assert (r.status_code, r.json()) == (
        400,
        {"error": "output 'output0' was requested but the model returned 'input0', 'input1'"},
    )
    fixed["outputs"] = [{"name": "input0"}]
    r = server.post(INFER, json=fixed)
    assert r.status_code == 200 and r.json()["id"] == "42"
    assert r.json()["outputs"] == [{"name": "input0", "datatype": "UINT32", "shape": [2, 2], "data": [1, 2, 3, 4]}]


# --- bad input: status and body ------------------------------------------------------------------


def _inp(**over) -> dict:
    return {"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2], **over}


BAD_REST = [
    (
        "post",
        INFER,
        {"inputs": [_inp(datatype="FP8")]},
        400,
        "input 'x': datatype 'FP8' is not one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, "
        "FP16, FP32, FP64, BYTES",
    ),
    ("post", INFER, {"inputs": [_inp(shape=[3])]}, 400, "input 'x': shape [3] holds 3 elements but data has 2"),
    (
        "post",
        INFER,
        {"inputs": [_inp(datatype="INT32", data=[1, "2"])]},
        400,
        "input 'x': data holds strings, not INT32 values",
    ),
    (
        "post",
        INFER,
        {"inputs": [_inp(datatype="UINT8", data=[1, -1])]},
        400,
        "input 'x': a value is out of the range of UINT8 [0, 255]",
    ),
    (
        "post",
        INFER,
        {"inputs": [_inp(shape=[1] * 33, data=[1])]},
        400,
        "input 'x': shape has 33 dimensions, more than the limit of 32",
    ),
    (
        "post",
        INFER,
        {"inputs": [_inp(name=f"x{i}", shape=[1], data=[1]) for i in range(129)]},
        400,
        "129 inputs, more than the limit of 128",
    ),
    (
        "post",
        INFER,
        {"inputs": [_inp(shape=[65536, 65536, 2], data=[1])]},
        400,
        "input 'x': shape [65536, 65536, 2] holds 8589934592 elements, more than the limit of 2147483648",
    ),
    ("post", INFER, {"inputs": []}, 400, "the request has no inputs"),
    ("post", INFER, {"input": []}, 400, "inputs must be a list of tensors"),
    (
        "post",
        "/v2/models/other/infer",
        {"inputs": [_inp()]},
        404,
        "model 'other' not found: this server serves 'V2EchoModel'",
    ),
    (
        "post",
        f"/v2/models/{MODEL}/versions/3/infer",
        {"inputs": [_inp()]},
        404,
        "model 'V2EchoModel' has no version '3' (versions: '7')",
    ),
    ("get", "/v2/models/other", None, 404, "model 'other' not found: this server serves 'V2EchoModel'"),
    ("get", "/v2/models/other/ready", None, 404, "model 'other' not found: this server serves 'V2EchoModel'"),
    ("get", INFER, None, 405, f"no endpoint GET {INFER}"),
    ("get", "/v2/nothing", None, 404, "no endpoint GET /v2/nothing"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"), BAD_REST, ids=[f"{c[3]}-{c[4][:40]}" for c in BAD_REST]
)
def test_bad_rest_request_is_answered_with_v2_error_body(server, method, path, body, status, error) -> None:
    r = server.post(path, json=body) if method == "post" else server.get(path)
    assert (r.status_code, r.json()) == (status, {"error": error})


def test_binary_extension_bad_sizes(server) -> None:
    header = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}
    )
    ok = server.post(
        INFER,
        content=header + np.array([1, 2], dtype="<f4").tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert ok.status_code == 200 and ok.json()["outputs"][0]["data"] == [1.0, 2.0]
    r = server.post(INFER, content=header + b"\x00" * 4, headers={"Inference-Header-Content-Length": str(len(header))})
    assert (r.status_code, r.json()) == (
        400,
        {"error": "input 'x': binary_data_size 8 does not fit the 4 bytes of binary data left after the JSON header"},
    )
    r = server.post(INFER, content=header, headers={"Inference-Header-Content-Length": "x1"})
    assert (r.status_code, r.json()) == (400, {"error": "Inference-Header-Content-Length 'x1' is not a number"})
    raw_bytes = orjson.dumps(
        {"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}]}
    )
    r = server.post(
        INFER,
        content=raw_bytes + b"\xff\xff\xff\x7fab",
        headers={"Inference-Header-Content-Length": str(len(raw_bytes))},
    )
    assert (r.status_code, r.json()) == (
        400,
        {"error": "input 's': raw BYTES element 0 says 2147483647 bytes but only 2 follow"},
    )


def _grpc(server, method: str, request, response_type):
    with grpc.insecure_channel(server.grpc_target) as channel:
        call = channel.unary_unary(
            f"/inference.GRPCInferenceService/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        return call(request, timeout=20)


def test_bad_grpc_request_codes(server) -> None:
    tensor = pb.ModelInferRequest.InferInputTensor
    cases = [
        (
            pb.ModelInferRequest(
                model_name=MODEL,
                inputs=[tensor(name="x", datatype="FP32", shape=[3])],
                raw_input_contents=[b"\x00" * 8],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'x': shape [3] of FP32 needs 12 bytes but the raw data has 8",
        ),
        (
            pb.ModelInferRequest(model_name=MODEL, inputs=[tensor(name="x", datatype="COMPLEX", shape=[1])]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'x': datatype 'COMPLEX' is not one of",
        ),
        (
            pb.ModelInferRequest(
                model_name=MODEL,
                inputs=[
                    tensor(name="x", datatype="INT32", shape=[2], contents=pb.InferTensorContents(int_contents=[1]))
                ],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'x': shape [2] holds 2 elements but int_contents has 1",
        ),
        (pb.ModelInferRequest(model_name="other"), grpc.StatusCode.NOT_FOUND, "model 'other' not found"),
    ]
    for request, code, message in cases:
        with pytest.raises(grpc.RpcError) as err:
            _grpc(server, "ModelInfer", request, pb.ModelInferResponse)
        assert err.value.code() == code and err.value.details().startswith(message), err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        _grpc(server, "ModelReady", pb.ModelReadyRequest(name="other"), pb.ModelReadyResponse)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    typed = pb.ModelInferRequest(
        model_name=MODEL,
        inputs=[tensor(name="x", datatype="INT64", shape=[2], contents=pb.InferTensorContents(int64_contents=[5, -5]))],
    )
    answer = _grpc(server, "ModelInfer", typed, pb.ModelInferResponse)  # typed in, typed out (MLServer's way)
    assert list(answer.outputs[0].contents.int64_contents) == [5, -5] and not answer.raw_output_contents


def test_grpc_reflection_lists_both_apis(server) -> None:
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    with grpc.insecure_channel(server.grpc_target) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        services = set(db.get_services())
        assert {"inference.GRPCInferenceService", "seldon.protos.Seldon"} <= services
        file = db.FindFileContainingSymbol("inference.ModelInferRequest")
        assert file.name == "inference/grpc_service.proto" and file.package == "inference"


def test_v2_calls_count_as_predict_in_the_same_metrics(server) -> None:
    def count() -> float:
        text = httpx.get(server.metrics_url + "/metrics", timeout=10).text
        return sum(
            s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "wharf_component_request_seconds_count"
            and s.labels.get("method") == "predict"
            and s.labels.get("code") == "200"
        )

    before, settled = count(), -1.0
    while before != settled:  # earlier tests' timings still arriving (0.1 s batches)
        time.sleep(0.3)
        before, settled = count(), before
    assert server.post(INFER, json=KSERVE_IRIS).status_code == 200
    _grpc(
        server,
        "ModelInfer",
        pb.ModelInferRequest(
            model_name=MODEL,
            inputs=[
                pb.ModelInferRequest.InferInputTensor(
                    name="x", datatype="FP64", shape=[1], contents=pb.InferTensorContents(fp64_contents=[1.0])
                )
            ],
        ),
        pb.ModelInferResponse,
    )
    deadline = time.monotonic() + 5  # timings reach the metrics file in 0.1 s batches
    while count() < before + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert count() == before + 2


# --- choosing the protocols -------------------------------------------------------------------------


def test_v2_only_with_a_model_name(v2_only) -> None:
    assert v2_only.get("/v2/models/echo").json()["name"] == "echo"
    assert v2_only.get("/v2/models/echo/ready").status_code == 200
    r = v2_only.post("/api/v1.0/predictions", json={"data": {"ndarray": [[1]]}})
    assert (r.status_code, r.json()) == (
        404,
        {"error": "no endpoint /api/v1.0/predictions: this component serves the V2 protocol only (--protocols)"},
    )
    assert v2_only.get("/ready").status_code == 200  # the probes stay
    with grpc.insecure_channel(v2_only.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as err:
            channel.unary_unary("/seldon.protos.Seldon/Predict")(b"", timeout=20)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # the REST body limit holds for V2 too
    r = v2_only.post("/v2/models/echo/infer", json={"inputs": [_inp(shape=[2000], data=[1.5] * 2000)]})
    assert r.status_code == 413


def test_seldon_only_and_a_bad_protocol_list(serve) -> None:
    seldon = serve(MODEL, "--protocols", "seldon")
    assert seldon.predict({"data": {"ndarray": [[1, 2]]}}).json()["data"]["ndarray"] == [[1, 2]]
    r = seldon.post(INFER, json=KSERVE_IRIS)
    assert r.status_code == 500 and "405 Method Not Allowed" in r.json()["status"]["info"]  # Seldon's unknown path
    done = run_to_exit([MODEL, *ports_args(), "--protocols", "seldon,v3"])
    assert done.returncode == 2
    assert "--protocols/WHARF_PROTOCOLS 'seldon,v3': give one or more of seldon, v2 (unknown: v3)" in done.stdout
