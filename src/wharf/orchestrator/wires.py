"""The two payload encodings the walker carries between nodes: JSON (REST) and protobuf (gRPC).

The walker never looks inside a payload except through these few operations, so a graph whose
nodes speak gRPC passes serialized protos from node to node without converting them.
"""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from wharf.orchestrator.routing import route_from_json
from wharf.protocol.codecs.listvalue import varint
from wharf.protocol.errors import BAD_DATA, CANT_FIND_JSON, INVALID_JSON, error_body, upstream_text
from wharf.protocol.pb import prediction_pb2 as pb


class JsonWire:
    name = "rest"
    empty = b'{"meta":{}}'

    @staticmethod
    def join(outputs: list[bytes]) -> bytes:
        """A SeldonMessageList of the children's answers, without parsing them."""
        return b'{"seldonMessages":[' + b",".join(outputs) + b"]}"

    @staticmethod
    def route(answer: bytes) -> int:
        try:
            return route_from_json(orjson.loads(answer))
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"answer is not JSON: {exc}") from None

    @staticmethod
    def finish(answer: bytes, puid: str, routing: dict[str, int] | None) -> bytes:
        try:
            message = orjson.loads(answer)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"the graph's answer is not JSON: {exc}") from None
        if not isinstance(message, dict):
            return answer
        meta = message.get("meta")
        if not isinstance(meta, dict):
            meta = message["meta"] = {}
        meta.setdefault("puid", puid)
        if routing is not None:
            meta["routing"] = {**routing, **(meta.get("routing") or {})}
        return orjson.dumps(message)

    @staticmethod
    def feedback_routing(body: bytes) -> dict[str, Any]:
        """The routers' choices in ``response.meta.routing``. A body that is not JSON has none, and
        goes to every child as it is (upstream's RouteFromFeedbackJsonMeta), so the nodes that
        take feedback answer it: the client gets their error, as from upstream."""
        try:
            feedback = orjson.loads(body)
        except orjson.JSONDecodeError:
            return {}
        if not isinstance(feedback, dict):
            return {}
        routing = ((feedback.get("response") or {}).get("meta") or {}).get("routing")
        return routing if isinstance(routing, dict) else {}

    # A built-in unit (SIMPLE_MODEL, AVERAGE_COMBINER) reads and writes a SeldonMessage as a dict.
    @staticmethod
    def decode(body: bytes) -> Any:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None

    @staticmethod
    def encode(message: dict[str, Any]) -> bytes:
        return orjson.dumps(message)

    # The external API speaks JSON on REST and protos on gRPC.
    @staticmethod
    def from_json(body: bytes) -> bytes:
        return body

    @staticmethod
    def feedback_from_json(body: bytes) -> bytes:
        return body

    @staticmethod
    def to_json(answer: bytes) -> bytes:
        return answer

    @staticmethod
    def from_proto(message: Any) -> bytes:
        return json_format.MessageToJson(message, indent=None).encode()

    @staticmethod
    def to_proto(answer: bytes, message: Any) -> Any:
        return json_format.Parse(answer, message, ignore_unknown_fields=True)


def _parse(data: bytes, message: Any, what: str) -> Any:
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise ValueError(f"{what} is not a valid protobuf message: {exc}") from None
    return message


class Refused(ValueError):
    """A client's request refused with the answer a component would give (``status``, ``body``).

    Upstream's executor sends REST requests to the nodes over REST whatever the graph's transport,
    so a component reads the client's JSON; when Wharf converts it to a proto for gRPC nodes, it
    refuses what that component would, with the component's answer.
    """

    def __init__(self, status: int, info: str) -> None:
        super().__init__(info)
        self.status = status
        self.body = orjson.dumps(error_body(info, BAD_DATA))


def _json_to_proto_bytes(body: bytes, message: Any) -> bytes:
    """Unknown fields are dropped from a SeldonMessage (upstream reads it as plain JSON) and refused
    in a Feedback (upstream parses it through protobuf, whose message names the field)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, upstream_text(CANT_FIND_JSON, f"request body is not valid JSON: {exc}")) from None
    strict = message.DESCRIPTOR.name == "Feedback"
    try:
        return json_format.ParseDict(parsed, message, ignore_unknown_fields=not strict).SerializeToString()
    except (json_format.ParseError, TypeError, AttributeError) as exc:
        if strict:
            raise Refused(400, INVALID_JSON.format(error=exc)) from None
        raise ValueError(f"request is not a {message.DESCRIPTOR.name}: {exc}") from None


class ProtoWire:
    name = "grpc"
    empty = pb.SeldonMessage(meta=pb.Meta()).SerializeToString()

    @staticmethod
    def join(outputs: list[bytes]) -> bytes:
        """SeldonMessageList field 1, repeated: each answer framed as tag + length + bytes."""
        parts = []
        for output in outputs:
            parts.append(b"\x0a" + varint(len(output)) + output)
        return b"".join(parts)

    @staticmethod
    def route(answer: bytes) -> int:
        message = _parse(answer, pb.SeldonMessage(), "the router's answer")
        return route_from_json(json_format.MessageToDict(message))

    @staticmethod
    def finish(answer: bytes, puid: str, routing: dict[str, int] | None) -> bytes:
        message = _parse(answer, pb.SeldonMessage(), "the graph's answer")
        if not message.meta.puid:
            message.meta.puid = puid
        if routing is not None:
            for name, route in routing.items():
                if name not in message.meta.routing:  # a node's own routing entry wins, as for JSON
                    message.meta.routing[name] = route
        return message.SerializeToString()

    @staticmethod
    def feedback_routing(body: bytes) -> dict[str, Any]:
        feedback = _parse(body, pb.Feedback(), "the feedback")
        return dict(feedback.response.meta.routing)

    @staticmethod
    def decode(body: bytes) -> Any:
        return json_format.MessageToDict(_parse(body, pb.SeldonMessage(), "the message"))

    @staticmethod
    def encode(message: dict[str, Any]) -> bytes:
        return json_format.ParseDict(message, pb.SeldonMessage()).SerializeToString()

    @staticmethod
    def from_json(body: bytes) -> bytes:
        return _json_to_proto_bytes(body, pb.SeldonMessage())

    @staticmethod
    def feedback_from_json(body: bytes) -> bytes:
        return _json_to_proto_bytes(body, pb.Feedback())

    @staticmethod
    def to_json(answer: bytes) -> bytes:
        return orjson.dumps(json_format.MessageToDict(_parse(answer, pb.SeldonMessage(), "the answer")))

    @staticmethod
    def from_proto(message: Any) -> bytes:
        return message.SerializeToString()

    @staticmethod
    def to_proto(answer: bytes, message: Any) -> Any:
        return _parse(answer, message, "the answer")


JSON_WIRE = JsonWire()
PROTO_WIRE = ProtoWire()
