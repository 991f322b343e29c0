"""The graph walk for protocols ``tensorflow`` and ``v2``/``kfserving``: node paths, chaining and
errors, as upstream's executor applies them, over JSON (REST) or protobuf (gRPC).

What upstream's executor does for these protocols, and so what Wharf does:

- A node is called at the protocol's own path, named by a model name: the name in the client's
  path or request (every node of the graph is then called with that same name), or, for the
  non-standard paths without one (``/v1/models:predict``, ``/v2/models/infer``), the node's own name.
- Before each predict, transform-input or transform-output call, the message is *chained*: a
  node's answer becomes a request. TF Serving's ``predictions`` become ``instances``; V2's
  ``outputs`` become ``inputs`` (the rest of the answer stays). Over gRPC a PredictResponse's
  ``outputs`` become a PredictRequest's ``inputs`` and a ModelInferResponse's outputs a
  ModelInferRequest's inputs, named for the model.
- A combiner gets its children's answers as a JSON list; a router's answer is read as for the
  seldon protocol (a SeldonMessage or ``[n]``). Neither exists over gRPC in these protocols.
- Feedback is not sent to nodes; the answer is the graph's last message, never edited.

Where Wharf differs (docs/compatibility.md): a client's request that cannot be chained is 400
(upstream: 500); TF Serving's columnar ``outputs`` chain into ``inputs`` (upstream: 500); over
gRPC V2, ``raw_output_contents`` are carried into ``raw_input_contents`` (upstream drops them);
errors the orchestrator makes itself are ``{"error": ...}``, the shape these protocols' clients read;
a gRPC PredictRequest naming no model is sent to each node under the node's name (upstream: empty).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import orjson
from google.protobuf.message import DecodeError

from wharf.deployment.graph import Predictor, Unit
from wharf.grpc_h2.client import Channel, NotSent
from wharf.grpc_h2.frames import GrpcError
from wharf.orchestrator import builtins
from wharf.orchestrator.routing import route_from_json
from wharf.orchestrator.walker import GraphCallError, Walk, Walker, naming_the_node
from wharf.orchestrator.wires import JSON_WIRE
from wharf.protocol.errors import GRPC_CODES, grpc_code, http_status_for_grpc
from wharf.protocol.pb import inference_pb2 as v2pb
from wharf.protocol.pb import tfserving_model_pb2 as tfmodel
from wharf.protocol.pb import tfserving_predict_pb2 as tfpb

TENSORFLOW = "tensorflow"
V2_PROTOCOLS = ("v2", "kfserving")
PROTOCOLS = ("seldon", TENSORFLOW, *V2_PROTOCOLS)

CHAINED = frozenset(("predict", "transform-input", "transform-output"))
# ``--full_health_checks``: the GET each node must answer 200 (tensorflow: TCP only, as upstream).
HEALTH_PATHS = {"seldon": "/api/v1.0/health/status", "v2": "/v2/health/ready", "kfserving": "/v2/health/ready"}


class ChainError(ValueError):
    """A message that cannot become the next node's request (upstream's Chain* failure)."""


def error_body(text: str) -> bytes:
    """An error the orchestrator makes itself, as TF Serving and V2 servers write theirs."""
    return orjson.dumps({"error": text})


def _segment(model: str) -> str:
    return quote(model, safe="")


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ChainError(f"{what} is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ChainError(f"{what} is a JSON {type(message).__name__}, not an object")
    return message


class _Dialect:
    """What the walker needs of a protocol on one encoding (the role ``wires.JSON_WIRE`` has for seldon)."""

    protocol = ""
    content_type = "application/json"

    def path(self, call: str, model: str) -> str:
        raise NotImplementedError

    def chain(self, body: bytes, model: str, fresh: bool) -> bytes:
        raise NotImplementedError

    # The built-ins SIMPLE_MODEL and AVERAGE_COMBINER (the Java engine's) read and write
    # SeldonMessages: they have no meaning in these protocols.
    def decode(self, body: Any) -> Any:
        raise builtins.BuiltinError(500, f"this built-in unit speaks only the seldon protocol, not {self.protocol}")

    encode = decode


class _JsonDialect(_Dialect):
    name = "rest"
    calls: dict[str, str] = {}

    def path(self, call: str, model: str) -> str:
        return self.calls[call].format(m=_segment(model))

    @staticmethod
    def join(outputs: list[bytes]) -> bytes:
        """The children's answers as a JSON list, without parsing them (upstream's combiner body)."""
        return b"[" + b",".join(outputs) + b"]"

    @staticmethod
    def route(answer: bytes) -> int:
        try:
            return route_from_json(orjson.loads(answer))
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"answer is not JSON: {exc}") from None


class TensorflowJson(_JsonDialect):
    protocol = TENSORFLOW
    calls = {
        "predict": "/v1/models/{m}:predict",
        "transform-input": "/v1/models/{m}:predict",
        "transform-output": "/v1/models/{m}:predict",
        "route": "/v1/models/{m}:route",
        "aggregate": "/v1/models/{m}:aggregate",
        "status": "/v1/models/{m}",
        "metadata": "/v1/models/{m}/metadata",
    }

    def chain(self, body: bytes, model: str, fresh: bool) -> bytes:
        message = _json_object(body, "the request" if fresh else "the answer")
        if "instances" in message or "inputs" in message:
            return body
        for answer_key, request_key in (("predictions", "instances"), ("outputs", "inputs")):
            if answer_key in message:
                message[request_key] = message.pop(answer_key)
                return orjson.dumps(message)
        raise ChainError(
            "Failed to convert tensorflow response so it could be chained to new input: "
            "expected 'instances' or 'inputs' (a request), or 'predictions' or 'outputs' (an answer)"
        )


class V2Json(_JsonDialect):
    def __init__(self, protocol: str = "v2") -> None:
        self.protocol = protocol

    calls = {
        "predict": "/v2/models/{m}/infer",
        "transform-input": "/v2/models/{m}/infer",
        "transform-output": "/v2/models/{m}/infer",
        "route": "/v2/models/{m}/route",
        "aggregate": "/v2/models/{m}/aggregate",
        "status": "/v2/models/{m}/ready",
        "metadata": "/v2/models/{m}",
    }

    def chain(self, body: bytes, model: str, fresh: bool) -> bytes:
        message = _json_object(body, "the request" if fresh else "the answer")
        if "inputs" in message:
            return body
        if "outputs" in message:
            message["inputs"] = message.pop("outputs")
            return orjson.dumps(message)
        raise ChainError(
            "Failed to convert kfserving response so it could be chained to new input: "
            "expected 'inputs' (a request) or 'outputs' (an answer)"
        )


class _ProtoDialect(_Dialect):
    name = "grpc"
    content_type = "application/protobuf"
    calls: dict[str, str] = {}

    def path(self, call: str, model: str) -> str:
        return self.calls[call]

    def join(self, outputs: list[bytes]) -> bytes:
        return b""  # never sent: the walker refuses the aggregate call itself (no such gRPC method)


class TensorflowProto(_ProtoDialect):
    protocol = TENSORFLOW
    calls = {
        "predict": "/tensorflow.serving.PredictionService/Predict",
        "transform-input": "/tensorflow.serving.PredictionService/Predict",
        "transform-output": "/tensorflow.serving.PredictionService/Predict",
        "status": "/tensorflow.serving.ModelService/GetModelStatus",
        "metadata": "/tensorflow.serving.PredictionService/GetModelMetadata",
    }

    def chain(self, body: bytes, model: str, fresh: bool) -> bytes:
        if fresh:
            if model_spec_name(body):
                return body
            # Wharf names the node when the client named no model, as upstream's V2 chain does
            # (upstream's TF chain sends the empty name on, which no TF Serving can serve)
            try:
                request = tfpb.PredictRequest.FromString(body)
            except DecodeError as exc:
                raise ChainError(f"the request is not a PredictRequest: {exc}") from None
            request.model_spec.name = model
            return request.SerializeToString()
        try:
            answer = tfpb.PredictResponse.FromString(body)
        except DecodeError as exc:
            raise ChainError(f"the answer is not a PredictResponse: {exc}") from None
        request = tfpb.PredictRequest(model_spec=tfmodel.ModelSpec(name=model))
        for key, tensor in answer.outputs.items():
            request.inputs[key].CopyFrom(tensor)
        return request.SerializeToString()


class V2Proto(_ProtoDialect):
    def __init__(self, protocol: str = "v2") -> None:
        self.protocol = protocol

    calls = {
        "predict": "/inference.GRPCInferenceService/ModelInfer",
        "transform-input": "/inference.GRPCInferenceService/ModelInfer",
        "transform-output": "/inference.GRPCInferenceService/ModelInfer",
        "status": "/inference.GRPCInferenceService/ModelReady",
        "metadata": "/inference.GRPCInferenceService/ModelMetadata",
    }

    def chain(self, body: bytes, model: str, fresh: bool) -> bytes:
        if fresh:
            try:
                request = v2pb.ModelInferRequest.FromString(body)
            except DecodeError as exc:
                raise ChainError(f"the request is not a ModelInferRequest: {exc}") from None
            if request.model_name:
                return body
            request.model_name = model
            return request.SerializeToString()
        try:
            answer = v2pb.ModelInferResponse.FromString(body)
        except DecodeError as exc:
            raise ChainError(f"the answer is not a ModelInferResponse: {exc}") from None
        request = v2pb.ModelInferRequest(model_name=model)
        for key, value in answer.parameters.items():
            request.parameters[key].CopyFrom(value)
        for output in answer.outputs:
            request.inputs.add(
                name=output.name,
                datatype=output.datatype,
                shape=output.shape,
                parameters=output.parameters,
                contents=output.contents,
            )
        request.raw_input_contents.extend(answer.raw_output_contents)
        return request.SerializeToString()


def dialects(protocol: str) -> tuple[_JsonDialect, _ProtoDialect]:
    """The REST and gRPC dialect of a protocol other than seldon."""
    if protocol == TENSORFLOW:
        return TensorflowJson(), TensorflowProto()
    if protocol in V2_PROTOCOLS:
        return V2Json(protocol), V2Proto(protocol)
    raise ValueError(f"protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")


def model_spec_name(data: bytes) -> str:
    """``model_spec.name`` of a TF Serving request: PredictRequest, GetModelStatusRequest and
    GetModelMetadataRequest all carry their ModelSpec as field 1 (the last one wins, as protobuf)."""
    spec = b""
    pos, end = 0, len(data)
    try:
        while pos < end:
            key, pos = _varint(data, pos)
            kind = key & 7
            if kind == 0:
                _, pos = _varint(data, pos)
            elif kind == 1:
                pos += 8
            elif kind == 5:
                pos += 4
            elif kind == 2:
                size, pos = _varint(data, pos)
                if key >> 3 == 1:
                    spec = data[pos : pos + size]
                pos += size
            else:
                raise DecodeError(f"wire type {kind}")
            if pos > end:
                raise DecodeError("truncated")
        return tfmodel.ModelSpec.FromString(spec).name
    except (DecodeError, IndexError) as exc:
        raise GrpcError(GRPC_CODES["INVALID_ARGUMENT"], f"request is not a valid TF Serving request: {exc}") from None


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint too long")


class DialectGrpcTransport:
    """Calls nodes' gRPC methods with the client's bytes; a node's failure is raised as its own
    gRPC status (upstream's gRPC server returns the node's error as it is), the node named."""

    def __init__(self, timeout_s: float | None, max_message_bytes: int) -> None:
        self.timeout_s = timeout_s
        self.max_message_bytes = max_message_bytes
        self._channels: dict[tuple[str, int], Channel] = {}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()

    async def post(self, unit: Unit, method: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        key = (unit.endpoint.host, unit.endpoint.grpc_port)
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = Channel(*key, max_answer_bytes=self.max_message_bytes)
        try:
            return 200, await channel.unary(method, body, tuple(headers.items()), self.timeout_s)
        except GrpcError as err:  # NotSent included: UNAVAILABLE, the node never saw the call
            where = f"graph node {unit.name!r} ({channel.target})"
            if isinstance(err, NotSent) or err.code == GRPC_CODES["DEADLINE_EXCEEDED"]:
                raise GrpcError(err.code, f"{where}: {err.message}") from None
            raise GrpcError(err.code, f"{err.message}: from {where}") from None


class DialectWalker(Walker):
    """Upstream's walk (the seldon walker's rules) with a protocol's paths and chaining; the
    graph's answer goes back unedited."""

    def __init__(
        self, predictor: Predictor, transport: Any, dialect: Any, timer: Any = None, payload_log: Any = None
    ) -> None:
        super().__init__(predictor, transport, timer, dialect, payload_log)
        self.dialect = dialect
        self.has_routes = False
        self.log_content_type = dialect.content_type

    async def predict(self, body: bytes, walk: Walk) -> bytes:
        walk.request = body
        return await self._predict(self.predictor.graph, body, walk)

    async def feedback(self, body: bytes, walk: Walk) -> bytes:
        """Upstream walks feedback (and logs it) but calls no node in these protocols: the answer
        is the feedback itself."""
        await self._feedback(self.predictor.graph, body, JSON_WIRE.feedback_routing(body), walk)
        return body

    async def _call(self, unit: Unit, path: str, body: bytes, walk: Walk) -> bytes:
        call = path[1:]
        if call == "send-feedback":
            return body
        model = walk.model or unit.name
        if call in CHAINED:
            fresh = body is walk.request  # the client's own message, not some node's answer
            try:
                body = self.dialect.chain(body, model, fresh)
            except ChainError as exc:
                status = 400 if fresh else 500
                text = str(exc) if fresh else f"{exc}: the answer before graph node {unit.name!r}"
                if self.dialect.name == "grpc":
                    raise GrpcError(grpc_code(status), text) from None
                raise GraphCallError(status, error_body(text), unit.name) from None
        if call not in self.dialect.calls:  # route or aggregate over gRPC
            service = self.dialect.calls["predict"].split("/")[1]
            raise GrpcError(
                GRPC_CODES["UNIMPLEMENTED"],
                f"graph node {unit.name!r} needs a {call} call, which {service} does not have: in "
                f"protocol {self.dialect.protocol} a graph with routers or combiners is served over REST only",
            )
        self._log(unit, "request", body, walk)
        started = time.perf_counter()
        try:
            status, answer = await self.transport.post(unit, self.dialect.path(call, model), body, walk.headers)
        except GrpcError as err:  # a gRPC node's failure, raised as its own status
            self.timer(unit, path, http_status_for_grpc(err.code), time.perf_counter() - started)
            raise
        # timed under the call's kind (/predict, /route...), not its path: the path holds the client's
        # model name, and a metric label per name a client sends would grow without end
        self.timer(unit, path, status, time.perf_counter() - started)
        if status != 200:
            raise GraphCallError(status, naming_the_node(answer, unit.name), unit.name)
        self._log(unit, "response", answer, walk)
        return answer
