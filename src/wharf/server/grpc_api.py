"""The component's gRPC services (``seldon.protos``: Generic, Model, Router, Transformer,
OutputTransformer, Combiner, Seldon, plus server reflection) on the worker's event loop.

They run on ``wharf.grpc_h2``, next to the REST server, and call user code where REST does: on
the worker's model thread (see ``model_thread``), shared with REST, so that with one thread a
model sees one call at a time whichever transport it came by. Metadata is built once and answered
on the loop. All services route to one Component, so a call to
``Model/Predict`` and ``Seldon/Predict`` is the same thing. Failures map to gRPC status codes
through the same table REST uses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf import empty_pb2, json_format
from google.protobuf.message import DecodeError

from wharf.component.model import Component
from wharf.component.wire import PROTO
from wharf.grpc_h2.reflection import reflection_method
from wharf.grpc_h2.server import GrpcError, GrpcServer, Metadata, UnaryHandler
from wharf.http_server.error_log import SERVER_ERRORS as errors
from wharf.protocol.errors import NOT_READY, MicroserviceError, as_microservice_error, grpc_code, upstream_text
from wharf.protocol.pb import prediction_pb2 as pb
from wharf.server.model_thread import ModelThread
from wharf.server.state import WorkerState, is_internal_failure

log = logging.getLogger(__name__)

# grpcio's details for what upstream's servicer raises, and for a request it cannot parse.
GRPC_APPLICATION_ERROR = "Exception calling application: "
GRPC_BAD_REQUEST = "Exception deserializing request!"


class ComponentServicer:
    def __init__(
        self, component: Component, state: WorkerState, observer: Any, model_thread: ModelThread | None = None
    ) -> None:
        self.component = component
        self.state = state
        self.observer = observer
        self.model_thread = model_thread or ModelThread()

    def _unary(self, label: str, request_type: Any, call: Callable[[Any], Any], user_code: bool = True) -> UnaryHandler:
        """``user_code``: the call runs on the model thread (else on the loop: it must be quick)."""
        state, observer, model_thread = self.state, self.observer, self.model_thread
        parse = request_type.FromString

        def answer(data: bytes) -> bytes:
            code, started = 200, time.perf_counter()
            called = False
            try:
                if state.load_error is not None:
                    raise MicroserviceError(f"load() failed: {state.load_error}", 503, reason=NOT_READY)
                try:
                    request = parse(data)
                except DecodeError as exc:
                    raise MicroserviceError(
                        upstream_text(
                            GRPC_BAD_REQUEST, f"request is not a valid {request_type.DESCRIPTOR.full_name}: {exc}"
                        ),
                        400,
                    ) from exc
                called = True
                out = call(request).SerializeToString()
                if user_code:
                    state.succeeded()
                return out
            except Exception as exc:  # noqa: BLE001 - reported to the caller as a status
                err = as_microservice_error(exc)
                code = err.status_code
                if code >= 500:
                    errors.failed(f"gRPC {label}", exc, traceback=not isinstance(exc, MicroserviceError))
                    if called and user_code and is_internal_failure(exc):
                        state.failed_internally(exc)
                # grpcio's text for an error raised in the servicer comes first, as from upstream
                # (whose own exceptions print as nothing after it); the code is from our table.
                raise GrpcError(
                    grpc_code(code), GRPC_APPLICATION_ERROR + err.message if called else err.message
                ) from None
            finally:
                state.served += 1
                observer.observe_request(label, code, time.perf_counter() - started)

        async def after_load(data: bytes) -> bytes:
            await state.loaded.wait()
            return await model_thread.run(answer, data) if user_code else answer(data)

        def handler(data: bytes, metadata: Metadata) -> bytes | Awaitable[bytes]:
            if not state.loaded.is_set():
                return after_load(data)
            if user_code:
                return model_thread.run(answer, data)  # a future: no coroutine of our own per call
            return answer(data)  # no user code: answered in this turn of the loop

        return handler

    def _metadata(self, _request: Any) -> pb.SeldonModelMetadata:
        return json_format.ParseDict(
            self.component.require_metadata(), pb.SeldonModelMetadata(), ignore_unknown_fields=True
        )

    def _graph_metadata(self, _request: Any) -> Any:
        # upstream's text (its NotImplementedError), then where the graph's metadata is served
        raise MicroserviceError(
            upstream_text(
                "GraphMetadata not available on the Model level.", "the graph orchestrator serves it, not a component"
            ),
            501,
        )

    def methods(self) -> dict[str, UnaryHandler]:
        """``/package.Service/Method`` -> handler, for every Seldon service a component offers."""
        c = self.component
        msg, msg_list, fb = pb.SeldonMessage, pb.SeldonMessageList, pb.Feedback
        calls: dict[str, tuple[Any, ...]] = {
            "Predict": ("predict", msg, lambda r: c.predict(r, PROTO)),
            "SendFeedback": ("feedback", fb, lambda r: c.send_feedback(r, PROTO)),
            "TransformInput": ("inputtransform", msg, lambda r: c.transform_input(r, PROTO)),
            "TransformOutput": ("outputtransform", msg, lambda r: c.transform_output(r, PROTO)),
            "Route": ("router", msg, lambda r: c.route(r, PROTO)),
            "Aggregate": ("aggregate", msg_list, lambda r: c.aggregate(r, PROTO)),
            "Metadata": ("metadata", empty_pb2.Empty, self._metadata, False),
            "ModelMetadata": ("metadata", pb.SeldonModelMetadataRequest, self._metadata, False),
            "GraphMetadata": ("metadata", empty_pb2.Empty, self._graph_metadata, False),
        }
        services = {
            "Generic": ("TransformInput", "TransformOutput", "Route", "Aggregate", "SendFeedback"),
            "Model": ("Predict", "SendFeedback", "Metadata"),
            "Router": ("Route", "SendFeedback"),
            "Transformer": ("TransformInput",),
            "OutputTransformer": ("TransformOutput",),
            "Combiner": ("Aggregate",),
            "Seldon": ("Predict", "SendFeedback", "ModelMetadata", "GraphMetadata"),
        }
        out: dict[str, UnaryHandler] = {}
        for service, names in services.items():
            for name in names:
                out[f"/seldon.protos.{service}/{name}"] = self._unary(*calls[name])
        return out


def build_server(
    servicer: ComponentServicer, max_message_bytes: int | None, tracing: Any = None, v2: Any = None, seldon: bool = True
) -> GrpcServer:
    """The component's gRPC server: the Seldon services (unless ``seldon`` is False) and, with
    ``v2`` (a ``v2_grpc.V2Servicer``), ``inference.GRPCInferenceService``, all in reflection."""
    methods = servicer.methods() if seldon else {}
    pools = []
    if v2 is not None:
        from wharf.server.v2_grpc import POOL

        methods.update(v2.methods())
        pools.append(POOL)
    return GrpcServer(
        methods,
        reflection_method(methods, pools),
        max_receive_bytes=max_message_bytes,
        span=tracing.grpc_server_span if tracing is not None else None,
    )
