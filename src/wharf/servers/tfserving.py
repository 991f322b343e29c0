"""``TENSORFLOW_SERVER`` with the Seldon protocol: a proxy in front of TF Serving, as upstream's TfServingProxy.

The operator runs this class in the node's container and TF Serving beside it in the same pod
(REST on 2001, gRPC on 2000, the model from /mnt/models), and passes ``rest_endpoint``,
``grpc_endpoint`` and ``model_name`` (the node's name, which is TF Serving's ``--model_name``).

Upstream's contract, kept:
- REST: ``data`` (ndarray, tensor or tftensor) is sent to ``<rest_endpoint>/v1/models/<model_name>:predict``
  as ``{"instances": [...], "signature_name": ...}``; the answer's ``predictions`` come back in the
  request's own format (one row made two-dimensional, as upstream does). ``jsonData`` is sent to
  TF Serving unchanged and its answer comes back as ``jsonData``.
- gRPC: ``data`` becomes the input tensor ``model_input`` of a PredictService/Predict call (a
  ``tftensor`` as it is, other data as a float32 tensor, as TensorFlow's ``make_tensor_proto`` makes
  it from a list), and the output tensor ``model_output`` comes back as ``tftensor``. ``customData``
  holding a ``tensorflow.serving.PredictRequest`` is sent as it is (model and signature set here)
  and the ``PredictResponse`` comes back as ``customData``.
- ``signature_name`` defaults to ``serving_default``.

Where Wharf differs, on purpose: no TensorFlow is needed (TF Serving's messages are compiled from its
Apache-2.0 .proto files into ``wharf.protocol.pb``); an error from TF Serving is the Seldon
protocol's error with TF Serving's message and status (upstream returned TF Serving's error body
as a successful answer over REST, and a traceback over gRPC); every call has a time limit
(``timeout``, 60 s) and TF Serving's answer a size limit (``max_answer_bytes``, 512 MiB), so a
TF Serving that hangs or streams without end costs one bounded call; without ``model_output``, a
model with one output tensor answers with it.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import numpy as np
import orjson
from google.protobuf import any_pb2

from wharf.protocol.codecs.tftensor import from_numpy
from wharf.protocol.errors import BAD_DATA, INTERNAL_ERROR, MicroserviceError, http_status_for_grpc
from wharf.protocol.message import decode_proto
from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import tfserving_predict_pb2 as tfs

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"  # TensorFlow's DEFAULT_SERVING_SIGNATURE_DEF_KEY
# TF Serving's service and method (prediction_service.proto); the path is all the wire carries.
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
ANY_PREFIX = "type.googleapis.com/"
PREDICT_REQUEST = "tensorflow.serving.PredictRequest"  # the names TF Serving's own clients pack
PREDICT_RESPONSE = "tensorflow.serving.PredictResponse"
TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 5.0
MAX_ANSWER_BYTES = 512 * 2**20  # the orchestrator's limit on a node's answer: nothing larger gets through


class TfServingError(MicroserviceError):
    """TF Serving refused, failed, or could not be reached; the message names the endpoint."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message, status_code, reason=BAD_DATA if status_code == 400 else INTERNAL_ERROR)


class ProxyConfigError(MicroserviceError):
    """A parameter of the proxy is missing or malformed; the message names it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 500, reason=INTERNAL_ERROR)


def _positive(name: str, value: Any, kind: type) -> Any:
    """A limit given as a parameter (a STRING parameter arrives as text)."""
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = 0
    if not number > 0:
        raise ProxyConfigError(f"parameter {name}: {value!r} is not a positive {kind.__name__}")
    return number


def _status_from_tf(status: int) -> int:
    """TF Serving's HTTP status as the proxy's: its 4xx (bad input, unknown model) and its 503/504
    pass through; any other failure of TF Serving is the proxy's upstream failing (502)."""
    return status if 400 <= status < 500 or status in (503, 504) else 502


def _tf_input_tensor(arr: np.ndarray) -> Any:
    """A TensorProto as ``tf.make_tensor_proto(arr.tolist())`` makes it: Python floats become
    float32 and ints int32, which is what a TF Serving signature usually takes."""
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float32)
    elif arr.dtype.kind in "iu" and (arr.size == 0 or (arr.min() >= -(2**31) and arr.max() < 2**31)):
        arr = arr.astype(np.int32)
    return from_numpy(arr)


class TfServingProxy:
    def __init__(
        self,
        rest_endpoint: str | None = None,
        grpc_endpoint: str | None = None,
        model_name: str | None = None,
        signature_name: str | None = None,
        model_input: str | None = None,
        model_output: str | None = None,
        timeout: float = TIMEOUT_S,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        if not model_name:
            raise ProxyConfigError(
                "parameter model_name is not set: give the name TF Serving serves the model "
                "under (its --model_name; the operator passes the node's name)"
            )
        if rest_endpoint and not rest_endpoint.startswith(("http://", "https://")):
            raise ProxyConfigError(f"parameter rest_endpoint: {rest_endpoint!r} is not an http:// or https:// URL")
        if (
            grpc_endpoint
            and "://" in grpc_endpoint
            and not grpc_endpoint.startswith(("dns:", "unix:", "ipv4:", "ipv6:"))
        ):
            raise ProxyConfigError(f"parameter grpc_endpoint: {grpc_endpoint!r} is a URL; give host:port")
        if not rest_endpoint and not grpc_endpoint:
            raise ProxyConfigError(
                "neither rest_endpoint nor grpc_endpoint is set: give TF Serving's REST URL "
                "(http://host:port) and/or its gRPC address (host:port)"
            )
        timeout = _positive("timeout", timeout, float)
        max_answer_bytes = _positive("max_answer_bytes", max_answer_bytes, int)
        self.model_name = model_name
        self.rest_endpoint = rest_endpoint.rstrip("/") if rest_endpoint else None
        self.rest_url = f"{self.rest_endpoint}/v1/models/{model_name}:predict" if rest_endpoint else None
        self.grpc_endpoint = grpc_endpoint
        self.signature_name = signature_name or DEFAULT_SIGNATURE
        self.model_input = model_input
        self.model_output = model_output
        self.timeout = float(timeout)
        self.max_answer_bytes = int(max_answer_bytes)
        # Clients are made in the process that uses them: the server forks its workers after
        # __init__, and neither a gRPC channel nor a pooled socket survives a fork.
        self._pid = -1
        self._http: Any = None
        self._predict_call: Any = None
        log.info(
            "TF Serving model %s: REST %s, gRPC %s, signature %s",
            model_name,
            self.rest_url or "(none)",
            grpc_endpoint or "(none)",
            self.signature_name,
        )

    def load(self) -> None:
        self._clients()

    def _clients(self) -> None:
        if self._pid == os.getpid():
            return
        import grpc
        import urllib3

        self._http = urllib3.PoolManager(
            maxsize=4, retries=False, timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=self.timeout)
        )
        if self.grpc_endpoint:
            channel = grpc.insecure_channel(
                self.grpc_endpoint,
                options=[
                    ("grpc.max_receive_message_length", self.max_answer_bytes),
                    ("grpc.max_send_message_length", -1),
                ],
            )  # the request was already bounded when it reached us
            self._predict_call = channel.unary_unary(
                PREDICT_METHOD,
                request_serializer=tfs.PredictRequest.SerializeToString,
                response_deserializer=tfs.PredictResponse.FromString,
            )
        self._pid = os.getpid()

    # --- REST -------------------------------------------------------------------------------

    def predict(self, X: Any, names: Any = None, meta: Any = None) -> Any:  # noqa: N803 - upstream's names
        if isinstance(X, dict):  # jsonData: TF Serving's own request body, answered with its own body
            return self._post(X)
        if isinstance(X, (str, bytes)):
            raise MicroserviceError(
                "TF Serving's predict API takes data (ndarray, tensor or tftensor) or jsonData "
                "(its own request body), not strData or binData"
            )
        arr = np.asarray(X)
        answer = self._post({"instances": arr.tolist(), "signature_name": self.signature_name})
        if not isinstance(answer, dict) or "predictions" not in answer:
            raise TfServingError(
                f"TF Serving ({self.rest_url}) answered without predictions: "
                f"{orjson.dumps(answer)[:300].decode(errors='replace')}",
                502,
            )
        predictions = answer["predictions"]
        if isinstance(predictions, list) and predictions and isinstance(predictions[0], dict):
            predictions = self._named_output(predictions)
        result = np.array(predictions)
        if result.dtype == object:
            raise TfServingError(f"TF Serving ({self.rest_url}) answered predictions that are not an array", 502)
        return np.expand_dims(result, axis=0) if result.ndim == 1 else result

    def _named_output(self, rows: list[dict]) -> list:
        """A signature with several outputs answers one object per instance; take ``model_output``."""
        outputs = sorted(rows[0])
        if self.model_output not in rows[0]:
            raise TfServingError(
                f"TF Serving ({self.rest_url}) answered the outputs {', '.join(outputs)} per "
                f"instance: set the parameter model_output to one of them, or send jsonData "
                f"to get them all",
                502 if self.model_output else 500,
            )
        return [row.get(self.model_output) for row in rows]

    def _post(self, body: Any) -> Any:
        import urllib3

        if not self.rest_url:
            raise ProxyConfigError("parameter rest_endpoint is not set, so REST requests have nowhere to go")
        self._clients()
        started = time.monotonic()
        try:
            response = self._http.request(
                "POST",
                self.rest_url,
                body=orjson.dumps(body),
                headers={"Content-Type": "application/json"},
                preload_content=False,
            )
        except urllib3.exceptions.NewConnectionError as exc:  # before TimeoutError: urllib3 derives it from one
            raise TfServingError(f"TF Serving ({self.rest_url}) is unreachable: {exc}", 503) from None
        except urllib3.exceptions.ConnectTimeoutError:
            raise TfServingError(
                f"TF Serving ({self.rest_url}) is unreachable: no connection within {CONNECT_TIMEOUT_S:g} s", 503
            ) from None
        except urllib3.exceptions.TimeoutError:
            raise TfServingError(
                f"TF Serving ({self.rest_url}) did not answer within {self.timeout:g} s", 504
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise TfServingError(f"TF Serving ({self.rest_url}) is unreachable: {reason}", 503) from None
        data = self._read_bounded(response, started)
        try:
            answer = orjson.loads(data) if data else None
        except orjson.JSONDecodeError:
            answer = None
        if response.status != 200:
            error = answer.get("error") if isinstance(answer, dict) else None
            error = error or data[:300].decode(errors="replace").strip() or "(no body)"
            raise TfServingError(
                f"TF Serving ({self.rest_url}) answered {response.status}: {error}", _status_from_tf(response.status)
            )
        if answer is None:
            raise TfServingError(
                f"TF Serving ({self.rest_url}) answered 200 with a body that is not JSON: "
                f"{data[:200].decode(errors='replace')!r}",
                502,
            )
        return answer

    def _read_bounded(self, response: Any, started: float) -> bytes:
        """The body, or a 502/504 once it passes ``max_answer_bytes`` or the call's time limit; the
        connection is then closed, not drained (a body without end would never drain)."""
        import urllib3

        declared = response.headers.get("Content-Length")
        chunks, size = [], 0
        try:
            if declared and declared.isdigit() and int(declared) > self.max_answer_bytes:
                raise TfServingError(
                    f"TF Serving ({self.rest_url}) answered {declared} bytes, more than the "
                    f"limit of {self.max_answer_bytes} (parameter max_answer_bytes)",
                    502,
                )
            for chunk in response.stream(2**16):
                size += len(chunk)
                if size > self.max_answer_bytes:
                    raise TfServingError(
                        f"TF Serving ({self.rest_url}) answered more than "
                        f"{self.max_answer_bytes} bytes (parameter max_answer_bytes)",
                        502,
                    )
                if time.monotonic() - started > self.timeout:
                    raise TfServingError(
                        f"TF Serving ({self.rest_url}) did not finish its answer within {self.timeout:g} s", 504
                    )
                chunks.append(chunk)
        except TfServingError:
            response.close()
            raise
        except urllib3.exceptions.TimeoutError:
            response.close()
            raise TfServingError(
                f"TF Serving ({self.rest_url}) did not finish its answer within {self.timeout:g} s", 504
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            response.close()
            raise TfServingError(f"TF Serving ({self.rest_url}) broke off its answer: {exc}", 502) from None
        response.release_conn()
        return b"".join(chunks)

    # --- gRPC -------------------------------------------------------------------------------

    def predict_raw(self, msg: Any) -> Any:
        """gRPC only: the request goes to TF Serving's PredictionService as tensors, not as arrays."""
        if not isinstance(msg, pb.SeldonMessage):
            if isinstance(msg, (bytes, bytearray)):  # payload passthrough hands over the raw REST body
                raise MicroserviceError("TfServingProxy does not take raw payloads: unset PAYLOAD_PASSTHROUGH")
            raise NotImplementedError  # REST: predict() above, with the Seldon protocol's answer rules
        which = msg.WhichOneof("data_oneof")
        request = tfs.PredictRequest()
        if which == "customData":
            type_name = msg.customData.type_url.rpartition("/")[2]
            if type_name != PREDICT_REQUEST:
                raise MicroserviceError(
                    f"customData: expected a packed {PREDICT_REQUEST}, got {type_name or '(no type)'}"
                )
            try:
                request.ParseFromString(msg.customData.value)
            except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
                raise MicroserviceError(f"customData: not a valid {PREDICT_REQUEST}: {exc}") from None
        elif which == "data":
            if not self.model_input:
                raise ProxyConfigError(
                    "parameter model_input is not set: a gRPC data request needs the name of "
                    "the signature's input tensor (or send customData with a PredictRequest)"
                )
            if msg.data.WhichOneof("data_oneof") == "tftensor":
                request.inputs[self.model_input].CopyFrom(msg.data.tftensor)
            else:
                request.inputs[self.model_input].CopyFrom(_tf_input_tensor(np.asarray(decode_proto(msg).value)))
        else:
            raise MicroserviceError(
                f"{which or 'an empty message'}: TF Serving's gRPC predict takes data (tftensor, "
                f"tensor or ndarray) or customData (a {PREDICT_REQUEST})"
            )
        request.model_spec.name = self.model_name
        request.model_spec.signature_name = self.signature_name
        response = self._call(request)
        if which == "customData":
            return pb.SeldonMessage(
                customData=any_pb2.Any(type_url=ANY_PREFIX + PREDICT_RESPONSE, value=response.SerializeToString())
            )
        return pb.SeldonMessage(data=pb.DefaultData(tftensor=response.outputs[self._output_name(response)]))

    def _output_name(self, response: Any) -> str:
        names = sorted(response.outputs)
        if self.model_output and self.model_output in response.outputs:
            return self.model_output
        if not self.model_output and len(names) == 1:
            return names[0]
        what = f"has no output {self.model_output!r}" if self.model_output else "has several outputs"
        raise TfServingError(
            f"TF Serving's answer for model {self.model_name} {what} (it has: "
            f"{', '.join(names) or 'none'}): set the parameter model_output to one of them",
            500,
        )

    def _call(self, request: Any) -> Any:
        import grpc

        if not self.grpc_endpoint:
            raise ProxyConfigError("parameter grpc_endpoint is not set, so gRPC requests have nowhere to go")
        self._clients()
        where = f"TF Serving ({self.grpc_endpoint})"
        try:
            return self._predict_call(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
            if code == grpc.StatusCode.UNAVAILABLE:
                raise TfServingError(f"{where} is unavailable: {details}", 503) from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise TfServingError(f"{where} did not answer within {self.timeout:g} s", 504) from None
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in (details or ""):
                raise TfServingError(
                    f"{where} answered more than {self.max_answer_bytes} bytes (parameter max_answer_bytes): {details}",
                    502,
                ) from None
            status = http_status_for_grpc(code.value[0])
            raise TfServingError(f"{where} answered {code.name}: {details}", 502 if status == 500 else status) from None
