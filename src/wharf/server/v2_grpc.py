"""The Open Inference Protocol (V2) over gRPC: ``inference.GRPCInferenceService`` on ``grpc_h2``.

Served on the component's gRPC port next to the ``seldon.protos`` services. ModelInfer runs on the
model thread like a Seldon Predict and is counted as ``predict`` in the same metrics; the other
calls need no user code and are answered on the loop. Failures carry V2's message as the status
details with the code from the shared table: INVALID_ARGUMENT for a bad request, NOT_FOUND for a
model or version not served, UNAVAILABLE while the model cannot answer, INTERNAL for the model's
own failure. A request's tensors sent raw (``raw_input_contents``, tritonclient's way) are
answered raw; typed ones typed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.message import DecodeError

from wharf.component.v2 import V2Model
from wharf.grpc_h2.server import GrpcError, Metadata, UnaryHandler
from wharf.http_server.error_log import SERVER_ERRORS as errors
from wharf.protocol.errors import as_microservice_error, grpc_code
from wharf.protocol.pb import inference_pb2 as pb
from wharf.protocol.v2 import proto_codec
from wharf.protocol.v2.tensor import DEFAULT_LIMITS, Limits, V2Error
from wharf.server.model_thread import ModelThread
from wharf.server.state import WorkerState, is_internal_failure
from wharf.server.v2_rest import server_metadata

SERVICE = "/inference.GRPCInferenceService/"
POOL = pb.DESCRIPTOR.pool  # for server reflection: the stubs' own descriptor pool


class V2Servicer:
    def __init__(
        self,
        model: V2Model,
        state: WorkerState,
        observer: Any,
        model_thread: ModelThread | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.model = model
        self.state = state
        self.observer = observer
        self.model_thread = model_thread or ModelThread()
        self.limits = limits

    def _unary(self, label: str, request_type: Any, call: Callable[[Any], Any], user_code: bool) -> UnaryHandler:
        state, observer, model_thread = self.state, self.observer, self.model_thread

        def answer(data: bytes) -> bytes:
            code, started = 200, time.perf_counter()
            try:
                try:
                    request = request_type.FromString(data)
                except DecodeError as exc:
                    raise V2Error(f"the request is not a valid {request_type.DESCRIPTOR.full_name}: {exc}") from None
                out = call(request).SerializeToString()
                if user_code:
                    state.succeeded()
                return out
            except Exception as exc:  # noqa: BLE001 - reported to the caller as a status
                if isinstance(exc, V2Error):
                    code, message = exc.status_code, exc.message
                else:
                    err = as_microservice_error(exc)
                    code, message = err.status_code, err.message
                if code >= 500:
                    errors.failed(f"gRPC {label}", exc, traceback=not isinstance(exc, V2Error))
                    if user_code and is_internal_failure(exc):
                        state.failed_internally(exc)
                raise GrpcError(grpc_code(code), message) from None
            finally:
                if user_code:
                    state.served += 1
                    observer.observe_request(label, code, time.perf_counter() - started)

        async def after_load(data: bytes) -> bytes:
            await state.loaded.wait()
            return await model_thread.run(answer, data)

        def handler(data: bytes, metadata: Metadata) -> bytes | Awaitable[bytes]:
            if not user_code:
                return answer(data)
            if not state.loaded.is_set():
                return after_load(data)
            return model_thread.run(answer, data)

        return handler

    def _infer(self, request: Any) -> Any:
        if self.state.load_error is not None:
            raise V2Error(self.state.not_ready_reason(), 503)
        self.model.check(request.model_name, request.model_version)
        parsed = proto_codec.request_from_proto(request, self.limits)
        response = self.model.infer(parsed)
        return proto_codec.response_to_proto(response, raw=bool(request.raw_input_contents))

    def _model_ready(self, request: Any) -> Any:
        self.model.check(request.name, request.version)
        return pb.ModelReadyResponse(ready=self.state.ready)

    def _model_metadata(self, request: Any) -> Any:
        self.model.check(request.name, request.version)
        meta = self.model.metadata()
        out = pb.ModelMetadataResponse(name=meta["name"], versions=meta["versions"], platform=meta["platform"])
        for key in ("inputs", "outputs"):
            for item in meta[key]:
                getattr(out, key).add(name=item["name"], datatype=item["datatype"], shape=item["shape"])
        return out

    def methods(self) -> dict[str, UnaryHandler]:
        meta = server_metadata()
        calls: dict[str, tuple[Any, ...]] = {
            "ServerLive": ("health", pb.ServerLiveRequest, lambda r: pb.ServerLiveResponse(live=True), False),
            "ServerReady": (
                "health",
                pb.ServerReadyRequest,
                lambda r: pb.ServerReadyResponse(ready=self.state.ready),
                False,
            ),
            "ModelReady": ("health", pb.ModelReadyRequest, self._model_ready, False),
            "ServerMetadata": (
                "metadata",
                pb.ServerMetadataRequest,
                lambda r: pb.ServerMetadataResponse(**meta),
                False,
            ),
            "ModelMetadata": ("metadata", pb.ModelMetadataRequest, self._model_metadata, False),
            "ModelInfer": ("predict", pb.ModelInferRequest, self._infer, True),
        }
        return {SERVICE + name: self._unary(*spec) for name, spec in calls.items()}
