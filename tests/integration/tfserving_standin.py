"""A stand-in for TF Serving, for the TENSORFLOW_SERVER proxy's tests.

Why a stand-in: TF Serving cannot run here. Its only distribution is the ``tensorflow/serving``
image (no image registry is reachable, so it cannot be pulled) and PyPI has only its client API,
which needs TensorFlow. So this module serves the two APIs the proxy calls, as TF Serving 2.x
serves them, for a real model trained by the test (a linear model, numpy least squares):

- REST ``POST /v1/models/<name>:predict`` with ``{"instances": [...]}`` (or ``{"inputs": ...}``) and
  ``signature_name``, answering ``{"predictions": [...]}``; errors as TF Serving writes them,
  ``{"error": "..."}`` with 404 for an unknown model and 400 for a bad signature or shape.
- gRPC ``tensorflow.serving.PredictionService/Predict``: input tensor ``x`` (DT_FLOAT), output
  ``y``; NOT_FOUND and INVALID_ARGUMENT with TF Serving's messages.

The model is read as TF Serving reads a model: the highest numbered version folder under
``--model_base_path`` (``<base>/1/linear.npz`` here, where TF Serving would find saved_model.pb).
Signature ``serving_default`` has one output ``y``; ``two_outputs`` adds ``label`` (the argmax).
Two model names exist only to test the proxy's limits: ``slow`` answers after 3 s and ``endless``
streams a REST answer that never ends (over gRPC: a 4 MiB answer).

For the orchestrator's ``tensorflow`` protocol it also serves a model's status (REST
``GET /v1/models/<name>``, gRPC ``tensorflow.serving.ModelService/GetModelStatus``: version 1,
AVAILABLE) and its metadata (REST ``GET /v1/models/<name>/metadata``: the signature's inputs and
outputs; gRPC ``PredictionService/GetModelMetadata``: the model spec only), as TF Serving answers them; the gRPC input alias may be other than ``x`` (``input_name``),
so that one stand-in's output ``y`` can be the next one's input.

Run as TF Serving is run: ``python tfserving_standin.py --port=2000 --rest_api_port=2001
--model_name=NAME --model_base_path=/mnt/models`` (the args the operator renders).
"""

from __future__ import annotations

import argparse
import http.server
import json
import re
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import numpy as np

from wharf.protocol.codecs.tftensor import from_numpy, to_numpy
from wharf.protocol.pb import tensor_pb2
from wharf.protocol.pb import tfserving_predict_pb2 as tfs

SIGNATURES = {"serving_default": ("y",), "two_outputs": ("y", "label")}
PREDICT_PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/\d+)?:predict$")
MODEL_PATH = re.compile(r"^/v1/models/([^/:]+)(/metadata)?$")
# GetModelStatusResponse{model_version_status: [{version: 1, state: AVAILABLE (30), status: {}}]}, as
# TF Serving's proto encodes it (field 1; in it version=1, state=2, status=3)
_AVAILABLE = b"\x08\x01\x10\x1e\x1a\x00"
MODEL_STATUS_ANSWER = b"\x0a" + bytes([len(_AVAILABLE)]) + _AVAILABLE


class LinearModel:
    def __init__(self, base_path: Path) -> None:
        versions = sorted((p for p in base_path.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        if not versions:
            raise SystemExit(f"no servable versions under {base_path}")
        saved = np.load(versions[-1] / "linear.npz")
        self.weights, self.bias = saved["weights"].astype(np.float32), saved["bias"].astype(np.float32)

    def run(self, x: np.ndarray, signature: str) -> dict[str, np.ndarray]:
        if signature not in SIGNATURES:
            raise ValueError(f'Serving signature name: "{signature}" not found in signature def')
        if x.ndim != 2 or x.shape[1] != self.weights.shape[0]:
            raise ValueError(
                f"Matrix size-incompatible: In[0]: [{','.join(map(str, x.shape))}], "
                f"In[1]: [{self.weights.shape[0]},{self.weights.shape[1]}]"
            )
        y = x.astype(np.float32) @ self.weights + self.bias
        outputs = {"y": y, "label": y.argmax(axis=1).astype(np.int64)}
        return {name: outputs[name] for name in SIGNATURES[signature]}


class StandIn:
    def __init__(self, model_name: str, base_path: Path, input_name: str = "x") -> None:
        self.model_name = model_name
        self.model = LinearModel(base_path)
        self.input_name = input_name

    def known(self, name: str) -> bool:
        return name in (self.model_name, "slow", "endless")

    # --- REST ------------------------------------------------------------------------------

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:  # the proxy gave up on this call (its timeout): nothing to tell
                    pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                match = MODEL_PATH.match(self.path)
                if not match:
                    return self._send(404, {"error": "Malformed request: GET " + self.path})
                name = match.group(1)
                if name != standin.model_name:
                    return self._send(404, {"error": f"Could not find any versions of model {name}"})
                if not match.group(2):
                    return self._send(
                        200,
                        {
                            "model_version_status": [
                                {
                                    "version": "1",
                                    "state": "AVAILABLE",
                                    "status": {"error_code": "OK", "error_message": ""},
                                }
                            ]
                        },
                    )
                weights = standin.model.weights
                tensor = {
                    "dtype": "DT_FLOAT",
                    "tensor_shape": {"dim": [{"size": "-1"}, {"size": str(weights.shape[0])}]},
                }
                return self._send(
                    200,
                    {
                        "model_spec": {"name": name, "signature_name": "", "version": "1"},
                        "metadata": {
                            "signature_def": {
                                "signature_def": {
                                    "serving_default": {
                                        "inputs": {standin.input_name: tensor},
                                        "outputs": {"y": {"dtype": "DT_FLOAT"}},
                                        "method_name": "tensorflow/serving/predict",
                                    }
                                }
                            }
                        },
                    },
                )

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = PREDICT_PATH.match(self.path)
                if not match:
                    return self._send(404, {"error": "Malformed request: POST " + self.path})
                name = match.group(1)
                if not standin.known(name):
                    return self._send(404, {"error": f"Servable not found for request: Latest({name})"})
                if name == "slow":
                    time.sleep(3)
                if name == "endless":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b" " * 65536
                    try:
                        self.wfile.write(b'11\r\n{"predictions": [\r\n')
                        while True:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    except OSError:
                        return None
                try:
                    request = json.loads(body)
                except ValueError as exc:
                    return self._send(400, {"error": f"JSON Parse error: {exc}"})
                signature = request.get("signature_name", "serving_default")
                rows = request.get("instances", request.get("inputs"))
                try:
                    outputs = standin.model.run(np.array(rows, dtype=np.float64), signature)
                except ValueError as exc:
                    return self._send(400, {"error": str(exc)})
                if len(outputs) == 1:
                    predictions = next(iter(outputs.values())).tolist()
                else:
                    predictions = [{k: v[i].tolist() for k, v in outputs.items()} for i in range(len(rows))]
                return self._send(200, {"predictions": predictions})

        return Handler

    # --- gRPC ------------------------------------------------------------------------------

    def predict(self, request: tfs.PredictRequest, context) -> tfs.PredictResponse:
        import grpc

        name = request.model_spec.name
        if not self.known(name):
            context.abort(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")
        if name == "slow":
            time.sleep(3)
        if name == "endless":  # over gRPC: an answer of 4 MiB, past a small max_answer_bytes
            response = tfs.PredictResponse()
            response.outputs["y"].CopyFrom(from_numpy(np.zeros((2**20,), dtype=np.float32)))
            return response
        signature = request.model_spec.signature_name or "serving_default"
        alias = self.input_name
        if alias not in request.inputs:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input tensor alias not found in signature: {', '.join(request.inputs)}. "
                f"Inputs expected to be in the set {{{alias}}}.",
            )
        tensor = request.inputs[alias]
        if tensor.dtype != tensor_pb2.DT_FLOAT:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Expects arg[0] to be float but {tensor_pb2.DataType.Name(tensor.dtype)} is provided",
            )
        try:
            outputs = self.model.run(to_numpy(tensor), signature)
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        response = tfs.PredictResponse()
        response.model_spec.name = name
        response.model_spec.signature_name = signature
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(from_numpy(value))
        return response

    def model_status(self, data: bytes, context) -> bytes:
        import grpc

        # GetModelStatusRequest's model_spec (field 1) holds the name (ModelSpec field 1)
        spec = tfs.PredictRequest.FromString(data[: 2 + data[1]]).model_spec if data[:1] == b"\x0a" else None
        name = spec.name if spec is not None else ""
        if name != self.model_name:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}")
        return MODEL_STATUS_ANSWER

    def model_metadata(self, data: bytes, context) -> bytes:
        """GetModelMetadataResponse with the model's spec (field 1) and no signature map."""
        import grpc

        spec = tfs.PredictRequest.FromString(data[: 2 + data[1]]).model_spec if data[:1] == b"\x0a" else None
        if spec is None or spec.name != self.model_name:
            context.abort(
                grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {spec.name if spec else ''}"
            )
        answer = tfs.PredictResponse(model_spec=spec)  # model_spec is field 2 there: re-frame it as field 1
        inner = answer.model_spec.SerializeToString()
        return b"\x0a" + bytes([len(inner)]) + inner

    def start(self, rest_port: int, grpc_port: int, host: str = "127.0.0.1"):
        """Both servers on background threads; returns a function that stops them."""
        import grpc

        httpd = http.server.ThreadingHTTPServer((host, rest_port), self.handler())
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "tensorflow.serving.PredictionService",
                    {
                        "Predict": grpc.unary_unary_rpc_method_handler(
                            self.predict,
                            request_deserializer=tfs.PredictRequest.FromString,
                            response_serializer=tfs.PredictResponse.SerializeToString,
                        ),
                        "GetModelMetadata": grpc.unary_unary_rpc_method_handler(self.model_metadata),
                    },
                ),
                grpc.method_handlers_generic_handler(
                    "tensorflow.serving.ModelService",
                    {"GetModelStatus": grpc.unary_unary_rpc_method_handler(self.model_status)},
                ),
            ]
        )
        bound = server.add_insecure_port(f"{host}:{grpc_port}")
        if bound == 0:
            raise RuntimeError(f"gRPC port {grpc_port} is taken")
        server.start()

        def stop() -> None:
            server.stop(0)
            httpd.shutdown()
            httpd.server_close()

        return stop


def save_linear_model(folder: Path, weights: np.ndarray, bias: np.ndarray) -> Path:
    """The model where TF Serving looks for it: version 1 under the base path."""
    (folder / "1").mkdir(parents=True, exist_ok=True)
    np.savez(folder / "1" / "linear.npz", weights=weights, bias=bias)
    return folder


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="TF Serving stand-in (test only)")
    parser.add_argument("--port", type=int, default=8500)
    parser.add_argument("--rest_api_port", type=int, default=8501)
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--model_base_path", required=True)
    args = parser.parse_args(argv)
    stop = StandIn(args.model_name, Path(args.model_base_path)).start(args.rest_api_port, args.port, host="0.0.0.0")
    print(f"stand-in TF Serving: model {args.model_name}, gRPC {args.port}, REST {args.rest_api_port}", flush=True)
    threading.Event().wait()
    stop()  # never reached; holds the gRPC server, which stops when nothing refers to it


if __name__ == "__main__":
    main(sys.argv[1:])
