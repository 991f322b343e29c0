"""Run by MLServer's venv (wharf.testing.mlserver): MLServer 1.7.1's own pydantic types and codecs
build requests for, and parse the answers of, a Wharf component at argv[1] (http://host:port),
model argv[2]. Prints one JSON object; the test asserts on it. A body MLServer's types reject
fails here with pydantic's error."""

import json
import sys
import urllib.error
import urllib.request

import numpy as np
from mlserver.codecs import NumpyCodec, StringCodec
from mlserver.types import (
    InferenceErrorResponse,
    InferenceRequest,
    InferenceResponse,
    MetadataModelResponse,
    MetadataServerResponse,
)

base, model = sys.argv[1], sys.argv[2]


def call(method, path, body=None):
    req = urllib.request.Request(base + path, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


out = {}
status, body = call("GET", "/v2")
out["server_metadata"] = MetadataServerResponse.model_validate_json(body).model_dump()
status, body = call("GET", f"/v2/models/{model}")
out["model_metadata"] = MetadataModelResponse.model_validate_json(body).model_dump()

x = np.array([[1.5, 2.5, 3.5]], dtype=np.float32)
request = InferenceRequest(
    id="mlserver-1",
    parameters={"show_call": False},
    inputs=[NumpyCodec.encode_input("x", x), StringCodec.encode_input("text", ["hi", "there"])],
)
status, body = call("POST", f"/v2/models/{model}/infer", request.model_dump_json().encode())
response = InferenceResponse.model_validate_json(body)
by_name = {o.name: o for o in response.outputs}
out["infer"] = {
    "status": status,
    "id": response.id,
    "model_name": response.model_name,
    "x": NumpyCodec.decode_output(by_name["x"]).tolist(),
    "x_datatype": by_name["x"].datatype,
    "text": StringCodec.decode_output(by_name["text"]),
    "text_shape": by_name["text"].shape,
}

request = InferenceRequest(
    inputs=[NumpyCodec.encode_input("input-0", np.array([1, 2], dtype=np.int16))], parameters={"show_call": True}
)
status, body = call("POST", f"/v2/models/{model}/infer", request.model_dump_json().encode())
response = InferenceResponse.model_validate_json(body)
out["call"] = json.loads(StringCodec.decode_output(response.outputs[0])[0])

bad = InferenceRequest(inputs=[{"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [1, 2, 3]}])
status, body = call("POST", f"/v2/models/{model}/infer", bad.model_dump_json().encode())
out["bad"] = {"status": status, "error": InferenceErrorResponse.model_validate_json(body).error}
status, body = call("POST", "/v2/models/other/infer", request.model_dump_json().encode())
out["unknown"] = {"status": status, "error": InferenceErrorResponse.model_validate_json(body).error}
print(json.dumps(out))
