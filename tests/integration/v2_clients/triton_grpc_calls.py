"""Run by tritonclient's own venv (wharf.testing.tritonclient): tritonclient.grpc against a Wharf
component at argv[1] (host:port), model argv[2]. Prints one JSON object of what the client saw;
the test asserts on it."""

import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

url, model = sys.argv[1], sys.argv[2]
client = grpcclient.InferenceServerClient(url)
out = {
    "live": client.is_server_live(),
    "ready": client.is_server_ready(),
    "model_ready": client.is_model_ready(model),
    "server_metadata": client.get_server_metadata(as_json=True),
    "model_metadata": client.get_model_metadata(model, as_json=True),
    "echo": {},
}

cases = {
    "FP32": np.arange(6, dtype=np.float32).reshape(2, 3),
    "FP16": np.array([[0.5, -1.25]], dtype=np.float16),
    "FP64": np.array([1e300, -2.5]),
    "INT8": np.array([-128, 127], dtype=np.int8),
    "INT64": np.array([[-(2**62), 2**62]], dtype=np.int64),
    "UINT16": np.array([65535, 0], dtype=np.uint16),
    "UINT64": np.array([2**64 - 1], dtype=np.uint64),
    "BOOL": np.array([[True, False], [False, True]]),
    "BYTES": np.array([b"ab", "\u00e9".encode(), b"\x00\xff", b""], dtype=object),
}
for datatype, array in cases.items():
    inp = grpcclient.InferInput("input-0", list(array.shape), datatype)
    inp.set_data_from_numpy(array)
    result = client.infer(model, [inp], request_id=f"req-{datatype}")
    got = result.as_numpy("echo")
    response = result.get_response(as_json=True)
    out["echo"][datatype] = {
        "equal": bool(
            got is not None and got.dtype == array.dtype and got.shape == array.shape and np.array_equal(got, array)
        ),
        "datatype": response["outputs"][0]["datatype"],
        "id": response.get("id"),
        "got": repr(got),
    }

a = grpcclient.InferInput("a", [1, 2], "INT32")
a.set_data_from_numpy(np.array([[1, 2]], dtype=np.int32))
b = grpcclient.InferInput("b", [1], "BYTES")
b.set_data_from_numpy(np.array([b"text"], dtype=object))
result = client.infer(model, [a, b], outputs=[grpcclient.InferRequestedOutput("b")])
out["multi"] = {
    "outputs": [o["name"] for o in result.get_response(as_json=True)["outputs"]],
    "b": [v.decode() for v in result.as_numpy("b").tolist()],
}


def error(call):
    try:
        call()
    except InferenceServerException as exc:
        return {"status": exc.status(), "message": exc.message()}
    return None


x = grpcclient.InferInput("input-0", [1], "FP32")
x.set_data_from_numpy(np.array([1], dtype=np.float32))
out["errors"] = {
    "unknown_model": error(lambda: client.infer("no-such-model", [x])),
    "unknown_version": error(lambda: client.get_model_metadata(model, model_version="99")),
    "model_fails": error(lambda: client.infer(model, [x], parameters={"fail": True})),
}
print(json.dumps(out))
