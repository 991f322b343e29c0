"""The two message containers a component answers in: JSON dicts (REST) and protos (gRPC)."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from wharf.protocol import message
from wharf.protocol.errors import INVALID_JSON, MicroserviceError, upstream_text
from wharf.protocol.pb import prediction_pb2 as pb


class JsonWire:
    is_proto = False
    decode = staticmethod(message.decode_json)
    encode = staticmethod(message.encode_json)

    @staticmethod
    def decode_list(msg: Any) -> list[message.Payload]:
        return message.decode_json_list(msg)

    @staticmethod
    def set_meta(out: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
        out["meta"] = meta  # upstream always sends "meta", even empty
        return out

    @staticmethod
    def to_feedback_proto(msg: Any) -> pb.Feedback:
        """REST feedback is read through the ``Feedback`` proto, as upstream does (ints become
        floats, ``reward`` a float32). Like upstream, a field Feedback (or a SeldonMessage in it)
        does not have is refused with 400: a SeldonMessage posted here by mistake would otherwise
        be answered 200 with its content dropped. protobuf's message names the field."""
        try:
            return json_format.ParseDict(msg, pb.Feedback())
        except (json_format.ParseError, TypeError, AttributeError) as exc:
            detail = (
                None
                if isinstance(msg, dict)
                else (
                    f"request: expected a Feedback object {{request, response, reward, truth}}, got {type(msg).__name__}"
                )
            )
            raise MicroserviceError(upstream_text(INVALID_JSON.format(error=exc), detail)) from None

    @staticmethod
    def from_any(result: Any) -> Any:
        """What a ``*_raw`` method returned, as JSON (a proto is converted)."""
        if hasattr(result, "DESCRIPTOR"):
            return json_format.MessageToDict(result)
        return result

    @staticmethod
    def take_metrics(result: Any, keep: bool) -> list[dict[str, Any]]:
        if not isinstance(result, dict) or not isinstance(result.get("meta"), dict):
            return []
        metrics = result["meta"].get("metrics") or []
        if not keep:
            result["meta"].pop("metrics", None)
        return metrics


class ProtoWire:
    is_proto = True
    decode = staticmethod(message.decode_proto)
    encode = staticmethod(message.encode_proto)

    @staticmethod
    def decode_list(msg: pb.SeldonMessageList) -> list[message.Payload]:
        return [message.decode_proto(m) for m in msg.seldonMessages]

    @staticmethod
    def set_meta(out: pb.SeldonMessage, meta: dict[str, Any]) -> pb.SeldonMessage:
        out.meta.SetInParent()  # upstream always sets meta, so proto-JSON shows "meta": {}
        if meta:
            json_format.ParseDict(meta, out.meta)
        return out

    @staticmethod
    def to_feedback_proto(msg: pb.Feedback) -> pb.Feedback:
        return msg

    @staticmethod
    def from_any(result: Any) -> Any:
        if isinstance(result, dict):
            return json_format.ParseDict(result, pb.SeldonMessage())
        return result

    @staticmethod
    def take_metrics(result: Any, keep: bool) -> list[dict[str, Any]]:
        if not isinstance(result, pb.SeldonMessage) or not result.meta.metrics:
            return []
        metrics = [json_format.MessageToDict(m) for m in result.meta.metrics]
        for m in metrics:
            m.setdefault("type", "COUNTER")  # proto-JSON omits the zero enum
        if not keep:
            del result.meta.metrics[:]
        return metrics


JSON = JsonWire()
PROTO = ProtoWire()
