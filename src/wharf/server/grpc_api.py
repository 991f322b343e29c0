"""The component's gRPC services (``seldon.protos``: Generic, Model, Router, Transformer,
OutputTransformer, Combiner, Seldon, plus server reflection) on the worker's event loop.

They run on ``wharf.grpc_h2``, next to the REST server, and call user code the way REST does:
on the loop thread (one call at a time per worker, as upstream's default), or in the REST app's
thread pool when ``--threads`` asks for more. All services route to one Component, so a call to
``Model/Predict`` and ``Seldon/Predict`` is the same thing. Failures map to gRPC status codes
through the same table REST uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor
from typing import Any, Awaitable, Callable

from google.protobuf import empty_pb2, json_format
from google.protobuf.message import DecodeError

from wharf.component.model import Component
from wharf.component.wire import PROTO
from wharf.grpc_h2.reflection import reflection_method
from wharf.grpc_h2.server import GrpcError, GrpcServer, Metadata, UnaryHandler
from wharf.protocol.errors import NOT_READY, MicroserviceError, as_microservice_error, grpc_code
from wharf.protocol.pb import prediction_pb2 as pb
from wharf.server.state import WorkerState

log = logging.getLogger(__name__)


class ComponentServicer:
    def __init__(self, component: Component, state: WorkerState, observer: Any,
                 pool: Executor | None = None) -> None:
        self.component = component
        self.state = state
        self.observer = observer
        self.pool = pool

    def _unary(self, label: str, request_type: Any, call: Callable[[Any], Any]) -> UnaryHandler:
        state, observer, pool = self.state, self.observer, self.pool
        parse = request_type.FromString

        def answer(data: bytes) -> bytes:
            code, started = 200, time.perf_counter()
            try:
                if state.load_error is not None:
                    raise MicroserviceError(f"load() failed: {state.load_error}", 503, reason=NOT_READY)
                try:
                    request = parse(data)
                except DecodeError as exc:
                    raise MicroserviceError(f"request is not a valid {request_type.DESCRIPTOR.full_name}: {exc}", 400) from exc
                with state.user_code:
                    return call(request).SerializeToString()
            except Exception as exc:  # noqa: BLE001 - reported to the caller as a status
                err = as_microservice_error(exc)
                code = err.status_code
                if code >= 500:
                    log.error("gRPC %s failed: %s", label, exc, exc_info=not isinstance(exc, MicroserviceError))
                raise GrpcError(grpc_code(code), err.message) from None
            finally:
                state.served += 1
                observer.observe_request(label, code, time.perf_counter() - started)

        async def later(data: bytes) -> bytes:  # before load() finishes, or on the thread pool
            await state.loaded.wait()
            if pool is None:
                return answer(data)
            return await asyncio.get_running_loop().run_in_executor(pool, answer, data)

        def handler(data: bytes, metadata: Metadata) -> bytes | Awaitable[bytes]:
            if pool is None and state.loaded.is_set():
                return answer(data)  # the common case: no task, the answer leaves in this turn
            return later(data)

        return handler

    def _metadata(self, _request: Any) -> pb.SeldonModelMetadata:
        return json_format.ParseDict(self.component.require_metadata(), pb.SeldonModelMetadata(), ignore_unknown_fields=True)

    def _graph_metadata(self, _request: Any) -> Any:
        raise MicroserviceError("GraphMetadata is served by the graph orchestrator, not by a component", 501)

    def methods(self) -> dict[str, UnaryHandler]:
        """``/package.Service/Method`` -> handler, for every Seldon service a component offers."""
        c = self.component
        msg, msg_list, fb = pb.SeldonMessage, pb.SeldonMessageList, pb.Feedback
        calls: dict[str, tuple[str, Any, Callable[[Any], Any]]] = {
            "Predict": ("predict", msg, lambda r: c.predict(r, PROTO)),
            "SendFeedback": ("feedback", fb, lambda r: c.send_feedback(r, PROTO)),
            "TransformInput": ("inputtransform", msg, lambda r: c.transform_input(r, PROTO)),
            "TransformOutput": ("outputtransform", msg, lambda r: c.transform_output(r, PROTO)),
            "Route": ("router", msg, lambda r: c.route(r, PROTO)),
            "Aggregate": ("aggregate", msg_list, lambda r: c.aggregate(r, PROTO)),
            "Metadata": ("metadata", empty_pb2.Empty, self._metadata),
            "ModelMetadata": ("metadata", pb.SeldonModelMetadataRequest, self._metadata),
            "GraphMetadata": ("metadata", empty_pb2.Empty, self._graph_metadata),
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


def build_server(servicer: ComponentServicer, max_message_bytes: int | None, tracing: Any = None) -> GrpcServer:
    methods = servicer.methods()
    return GrpcServer(methods, reflection_method(methods), max_receive_bytes=max_message_bytes,
                      span=tracing.grpc_server_span if tracing is not None else None)
