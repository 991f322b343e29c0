"""The graph walk (upstream executor's predict and feedback rules), over REST (JSON) or gRPC (protobuf) nodes.

Payloads stay bytes on the way through: a node's answer is the next node's request as is; the
walker decodes only a router's answer (to read the branch) and builds a combiner's
SeldonMessageList by joining bytes. What the client gets back is decoded once at the end, to add
``meta.puid`` and ``meta.routing`` (so feedback can find its way back to the routers). The
``wire`` (``wires.JSON_WIRE`` or ``wires.PROTO_WIRE``) is the only part that knows the encoding.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from wharf.deployment.graph import Predictor, Unit
from wharf.orchestrator import builtins
from wharf.orchestrator.routing import ROUTE_ALL, ROUTE_NONE
from wharf.orchestrator.wires import JSON_WIRE


class GraphCallError(Exception):
    """A node failed; ``status`` and ``body`` go back to the client as they are."""

    def __init__(self, status: int, body: bytes, node: str) -> None:
        super().__init__(f"node {node!r} answered {status}")
        self.status = status
        self.body = body
        self.node = node


def naming_the_node(answer: bytes, node: str) -> bytes:
    """A node's error answer with the node named after its own ``status.info`` (``<info>: from
    graph node 'x'``): in a graph of several, the client otherwise cannot tell which one failed.
    Every other field, and the info's own text first, stay as the node wrote them; an answer that is
    not a JSON status (a proxy's HTML page) passes unchanged."""
    try:
        body = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return answer
    status = body.get("status") if isinstance(body, dict) else None
    if isinstance(status, dict) and isinstance(status.get("info"), str):
        status["info"] = f"{status['info']}: from graph node {node!r}"
    elif isinstance(body, dict) and isinstance(body.get("error"), str):  # TF Serving's and V2's shape
        body["error"] = f"{body['error']}: from graph node {node!r}"
    else:
        return answer
    return orjson.dumps(body)


def failure(status: int, info: str) -> bytes:
    """The executor's error body for failures that have no downstream body."""
    return orjson.dumps({"status": {"code": status, "info": info, "status": "FAILURE"}})


class Transport(Protocol):
    async def post(self, unit: Unit, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]: ...


@dataclass
class Walk:
    """One request's state: its id, headers to forward, and the routes taken."""

    puid: str
    headers: dict[str, str]
    routing: dict[str, int] = field(default_factory=dict)
    skip_logging: bool = False  # the client sent Seldon-Skip-Logging
    # protocols tensorflow and v2 (dialects.py): the client's message, and the model name its
    # path or request gave (every node is called by it), else "" (each node by its own name)
    request: bytes | None = None
    model: str = ""


@dataclass
class CallTimer:
    """Records each outgoing call (node, path, status, seconds) for metrics."""

    observe: Any = None

    def __call__(self, unit: Unit, path: str, status: int, seconds: float) -> None:
        if self.observe is not None:
            self.observe(unit, path, status, seconds)


class Walker:
    log_content_type: str | None = None  # the payload logger's own default

    def __init__(
        self,
        predictor: Predictor,
        transport: Transport,
        timer: CallTimer | None = None,
        wire: Any = JSON_WIRE,
        payload_log: Any = None,
    ) -> None:
        self.predictor = predictor
        self.payload_log = payload_log  # a PayloadLogger, or None when no node has a logger
        self.transport = transport
        self.wire = wire
        self.timer = timer or CallTimer()
        self.builtins = builtins.Builtins(predictor, wire)
        self.has_routes = any(
            u.routes or u.aggregates or u.implementation in builtins.ROUTING for u in predictor.graph.walk()
        )

    def _log(self, unit: Unit, kind: str, body: bytes, walk: Walk) -> None:
        if self.payload_log is not None and not walk.skip_logging and self.payload_log.wants(unit, kind):
            self.payload_log.log(unit, kind, body, walk.puid, self.log_content_type)

    def _builtin(self, unit: Unit, step: Any, *args: Any) -> Any:
        """A built-in unit's step (:mod:`builtins`), its failure answered as a node's would be."""
        try:
            return step(unit, *args)
        except builtins.BuiltinError as exc:
            raise GraphCallError(
                exc.status, naming_the_node(failure(exc.status, exc.info), unit.name), unit.name
            ) from None

    async def _call(self, unit: Unit, path: str, body: bytes, walk: Walk) -> bytes:
        if path != "/send-feedback":
            self._log(unit, "request", body, walk)
        started = time.perf_counter()
        status, answer = await self.transport.post(unit, path, body, walk.headers)
        self.timer(unit, path, status, time.perf_counter() - started)
        if status != 200:
            raise GraphCallError(status, naming_the_node(answer, unit.name), unit.name)
        if path != "/send-feedback":
            self._log(unit, "response", answer, walk)
        return answer

    # --- predict ---------------------------------------------------------------------------

    async def predict(self, body: bytes, walk: Walk) -> bytes:
        answer = await self._predict(self.predictor.graph, body, walk)
        return self.finish(answer, walk)

    async def _predict(self, unit: Unit, msg: bytes, walk: Walk) -> bytes:
        if unit.transforms_input:
            msg = await self._call(unit, "/" + unit.input_call, msg, walk)
        elif unit.implementation == builtins.SIMPLE_MODEL:
            msg = self._builtin(unit, self.builtins.transform_input, msg)
        if unit.children:
            msg = await self._children(unit, msg, walk)
        elif unit.implementation == builtins.AVERAGE_COMBINER:  # nothing to average: upstream's error
            msg = self._builtin(unit, self.builtins.aggregate, [])
        if unit.transforms_output:
            msg = await self._call(unit, "/transform-output", msg, walk)
        return msg

    async def _children(self, unit: Unit, msg: bytes, walk: Walk) -> bytes:
        route = await self._route(unit, msg, walk)
        walk.routing[unit.name] = route
        if route == ROUTE_NONE:
            return msg
        if route == ROUTE_ALL:
            results = await asyncio.gather(
                *(self._predict(c, msg, walk) for c in unit.children), return_exceptions=True
            )
            for result in results:  # the first error in child order wins, as upstream
                if isinstance(result, BaseException):
                    raise result
            outputs: list[bytes] = list(results)  # type: ignore[arg-type]
        else:
            if not 0 <= route < len(unit.children):
                raise GraphCallError(
                    500,
                    failure(500, f"router {unit.name!r} chose branch {route} but has {len(unit.children)} children"),
                    unit.name,
                )
            outputs = [await self._predict(unit.children[route], msg, walk)]
        if unit.aggregates:
            return await self._call(unit, "/aggregate", self.wire.join(outputs), walk)
        if unit.implementation == builtins.AVERAGE_COMBINER:
            return self._builtin(unit, self.builtins.aggregate, outputs)
        return outputs[0]

    async def _route(self, unit: Unit, msg: bytes, walk: Walk) -> int:
        if unit.routes:
            answer = await self._call(unit, "/route", msg, walk)
            try:
                return self.wire.route(answer)
            except ValueError as exc:
                raise GraphCallError(
                    500, failure(500, f"router {unit.name!r} gave no usable route: {exc}"), unit.name
                ) from None
        if unit.implementation in builtins.ROUTERS:
            return self._builtin(unit, self.builtins.route)
        return ROUTE_ALL

    def finish(self, answer: bytes, walk: Walk) -> bytes:
        """Add ``meta.puid`` (when absent) and ``meta.routing`` to the graph's answer."""
        try:
            return self.wire.finish(answer, walk.puid, walk.routing if self.has_routes else None)
        except ValueError as exc:
            raise GraphCallError(500, failure(500, str(exc)), self.predictor.graph.name) from None

    # --- feedback ----------------------------------------------------------------------------

    async def feedback(self, body: bytes, walk: Walk) -> bytes:
        try:
            routing = self.wire.feedback_routing(body)
        except ValueError as exc:
            raise GraphCallError(400, failure(400, str(exc)), self.predictor.graph.name) from None
        answer = await self._feedback(self.predictor.graph, body, routing, walk)
        return answer if answer is not None else self.wire.empty

    async def _feedback(self, unit: Unit, body: bytes, routing: dict[str, Any], walk: Walk) -> bytes | None:
        self._log(unit, "feedback", body, walk)
        answer: bytes | None = None
        if unit.children:
            route = routing.get(unit.name, ROUTE_ALL)
            if not isinstance(route, int) or route == ROUTE_ALL:
                children = unit.children
            elif 0 <= route < len(unit.children):
                children = (unit.children[route],)
            else:
                children = ()
            results = await asyncio.gather(
                *(self._feedback(c, body, routing, walk) for c in children), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            answer = next((r for r in results if r is not None), None)  # type: ignore[misc]
        if unit.takes_feedback:
            answer = await self._call(unit, "/send-feedback", body, walk)
        return answer
