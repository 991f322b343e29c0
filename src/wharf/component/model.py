"""``Component``: a user object behind the Seldon v1 method contract.

Everything about *which* user method answers a request lives here, resolved once at start-up:
``<m>_rest``/``<m>_grpc`` (deprecated) win, then ``<m>_raw``, then the high-level method with the
payload decoded and the response built by the mirroring rules. Transports pass a wire
(``wire.JSON`` or ``wire.PROTO``) and get a message of the same kind back.
"""

from __future__ import annotations

import inspect
import logging
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from wharf.component.metadata import build_metadata
from wharf.component.metrics import MetricsSink, NullSink, validate_metrics
from wharf.component.user_api import SeldonComponent, SeldonNotImplementedError, is_not_implemented, is_seldon_response
from wharf.component.wire import PROTO
from wharf.protocol.errors import BAD_METADATA, INTERNAL_ERROR, METADATA_UNAVAILABLE, MicroserviceError, upstream_text
from wharf.protocol.message import Payload, decode_feedback_part, default_names, response_meta

log = logging.getLogger(__name__)

NO_PAYLOAD = Payload("none", None, [], None)
# PREDICTIVE_UNIT_IMAGE's fallback: used in requestPath, but metadata then defaults to "" as upstream.
UNSET_IMAGE = "NOT_IMPLEMENTED:NOT_IMPLEMENTED"


@dataclass(frozen=True, slots=True)
class UnitInfo:
    """Who this component is in the graph (from the PREDICTIVE_UNIT_* environment)."""

    unit_id: str | None = None  # PREDICTIVE_UNIT_ID; None when unset (then no requestPath)
    image: str = UNSET_IMAGE
    include_metrics_in_response: bool = True
    executor_enabled: bool = True
    metadata_env: str | None = None  # MODEL_METADATA


@dataclass(frozen=True, slots=True)
class _Api:
    label: str  # the metrics "method" label
    rest: Callable | None
    grpc: Callable | None
    raw: Callable | None
    plain: Callable | None


def _takes_meta(fn: Callable) -> bool | None:
    """Whether ``fn`` accepts ``meta=``; None when its signature cannot be read."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    return any(p.name == "meta" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _with_meta(fn: Callable) -> Callable[[Any, list, Any], Any]:
    """Call ``fn(X, names, meta=meta)`` or ``fn(X, names)`` as its signature allows.

    Upstream tries with ``meta`` and retries without on any TypeError, which runs user code twice
    when the TypeError came from inside it; reading the signature once avoids that.
    """
    takes = _takes_meta(fn)
    if takes is True:
        return lambda x, names, meta: fn(x, names, meta=meta)
    if takes is False:
        return lambda x, names, meta: fn(x, names)

    def call(x: Any, names: list, meta: Any) -> Any:
        try:
            return fn(x, names, meta=meta)
        except TypeError:
            return fn(x, names)

    return call


class Component:
    def __init__(self, user: Any, unit: UnitInfo = UnitInfo(), sink: MetricsSink | None = None) -> None:
        self.user = user
        self.unit = unit
        self.sink: MetricsSink = sink or NullSink()
        self._request_path = {unit.unit_id: unit.image} if unit.unit_id else None
        self._feedback_key = unit.unit_id or "0"
        self._tags = self._method("tags")
        self._metrics = self._method("metrics")
        self._class_names = getattr(user, "class_names", None)
        self._apis = {
            "predict": self._api("predict", "predict"),
            "transform_input": self._api("transform_input", "inputtransform"),
            "transform_output": self._api("transform_output", "outputtransform"),
            "route": self._api("route", "router"),
            "aggregate": self._api("aggregate", "aggregate"),
            "send_feedback": self._api("send_feedback", "feedback"),
            "health_status": self._api("health_status", "health"),
        }
        self._calls = {
            name: _with_meta(api.plain)
            for name, api in self._apis.items()
            if api.plain and name in ("predict", "transform_input", "transform_output", "route")
        }
        self.metadata, self.metadata_error = self._build_metadata()

    # --- resolution, once ------------------------------------------------------------------

    def _method(self, name: str) -> Callable | None:
        fn = getattr(self.user, name, None)
        if fn is None or not callable(fn):
            return None
        if getattr(type(self.user), name, None) is getattr(SeldonComponent, name, object()):
            return None  # the base-class stub: the user did not provide it
        return fn

    def _api(self, name: str, label: str) -> _Api:
        rest, grpc = self._method(f"{name}_rest"), self._method(f"{name}_grpc")
        for fn in (rest, grpc):
            if fn is not None:
                log.warning("%s is deprecated; implement %s_raw instead", fn.__name__, name)
        return _Api(label, rest, grpc, self._method(f"{name}_raw"), self._method(name))

    def _build_metadata(self) -> tuple[dict | None, str]:
        from_user = None
        for name in ("init_metadata", "metadata"):
            fn = self._method(name)
            if fn is None:
                continue
            try:
                from_user = fn()
                break
            except Exception as exc:  # noqa: BLE001 - a broken metadata method must not stop serving
                if not is_not_implemented(exc):
                    log.error("%s() failed: %s", name, exc)
                    return None, f"{name}() failed: {exc}"
        image = "" if self.unit.image == UNSET_IMAGE else self.unit.image
        return build_metadata(image, from_user, self.unit.metadata_env)

    def provides(self, name: str) -> bool:
        """Whether the user's class has its own ``name`` (any of its variants: plain, _raw, _rest, _grpc)."""
        api = self._apis[name]
        return any(fn is not None for fn in (api.rest, api.grpc, api.raw, api.plain))

    def health_calls_user_code(self) -> bool:
        """Whether ``health_status`` runs user code (its own method, or tags/metrics merged into
        the answer); if not, a server may answer it without waiting for the model's calls."""
        return self.provides("health_status") or self._tags is not None or self._metrics is not None

    def load(self) -> None:
        fn = getattr(self.user, "load", None)
        if fn is None or not callable(fn):
            return
        try:
            fn()
        except (NotImplementedError, AttributeError) as exc:
            log.debug("load() skipped: %s", exc)

    # --- the request path --------------------------------------------------------------------

    def _special(self, api: _Api, msg: Any, wire: Any) -> tuple[bool, Any]:
        """Run a deprecated ``_rest``/``_grpc`` or a ``_raw`` method if the class has one."""
        special = api.grpc if wire.is_proto else api.rest
        if special is not None:
            return True, special(msg)
        if api.raw is not None:
            try:
                result = api.raw(msg)
            except Exception as exc:
                if not is_not_implemented(exc):
                    raise
            else:
                return True, self._finish_raw(api.label, wire.from_any(result), wire)
        return False, None

    def _finish_raw(self, label: str, result: Any, wire: Any) -> Any:
        metrics = wire.take_metrics(result, self.unit.include_metrics_in_response)
        if metrics:
            self.sink.record(label, validate_metrics(metrics, "meta.metrics"))
        return result

    def _optional(self, fn: Callable | None) -> Any:
        if fn is None:
            return None
        try:
            return fn()
        except Exception as exc:
            if is_not_implemented(exc):
                return None
            raise

    def _names(self, arr: np.ndarray) -> list[str]:
        if arr.ndim > 1 and self._class_names is not None:
            names = self._class_names
            if callable(names):
                try:
                    names = names()
                except Exception as exc:
                    if not is_not_implemented(exc):
                        raise
                    return default_names(arr)
            return list(names)
        return default_names(arr)

    def _respond(self, result: Any, request: Payload, wire: Any, label: str, request_meta: dict | None) -> Any:
        runtime_tags = runtime_metrics = None
        if is_seldon_response(result):
            runtime_tags, runtime_metrics, result = result.tags, result.metrics, result.data
        user_tags = self._optional(self._tags)
        user_metrics = self._optional(self._metrics)
        # Each list is checked on its own, so that a non-list is a bad metric, not a crash.
        metrics = [
            *(validate_metrics(user_metrics, "metrics()") if user_metrics is not None else []),
            *(validate_metrics(runtime_metrics, "SeldonResponse.metrics") if runtime_metrics else []),
        ]
        if metrics:
            self.sink.record(label, metrics)
        out = wire.encode(result, request, self._names)
        meta = response_meta(
            request_meta,
            tags=[user_tags, runtime_tags],
            metrics=metrics if self.unit.include_metrics_in_response else [],
            request_path=self._request_path,
        )
        return wire.set_meta(out, meta)

    def _plain(self, name: str, payload: Payload, default: Callable[[], Any]) -> Any:
        call = self._calls.get(name)
        if call is None:
            return default()
        try:
            return call(payload.value, payload.names, payload.meta)
        except Exception as exc:
            if is_not_implemented(exc):
                return default()
            raise

    def predict(self, msg: Any, wire: Any) -> Any:
        return self._unary("predict", msg, wire, lambda p: [])

    def transform_input(self, msg: Any, wire: Any) -> Any:
        return self._unary("transform_input", msg, wire, lambda p: p.value)

    def transform_output(self, msg: Any, wire: Any) -> Any:
        return self._unary("transform_output", msg, wire, lambda p: p.value)

    def _unary(self, name: str, msg: Any, wire: Any, default: Callable[[Payload], Any]) -> Any:
        api = self._apis[name]
        done, result = self._special(api, msg, wire)
        if done:
            return result
        payload = wire.decode(msg)
        result = self._plain(name, payload, lambda: default(payload))
        return self._respond(result, payload, wire, api.label, payload.meta)

    def route(self, msg: Any, wire: Any) -> Any:
        api = self._apis["route"]
        done, result = self._special(api, msg, wire)
        if done:
            return result
        payload = wire.decode(msg)

        call = self._calls.get("route")
        if call is None:
            raise self._undefined("route", "Route not defined")
        # Upstream has no fallback for route: a stub's "route is not implemented" (or any
        # not-implemented error) reaches the client as it is, so it is not caught here.
        result = call(payload.value, payload.names, payload.meta)
        branch = result.data if is_seldon_response(result) else result
        if isinstance(branch, bool) or not isinstance(branch, numbers.Integral):
            raise MicroserviceError(f"Routing response must be int but got {branch}")
        routed = np.array([[int(branch)]])
        if is_seldon_response(result):
            result.data = routed
        else:
            result = routed
        # Only the puid of the request reaches the route response (not its tags or requestPath).
        return self._respond(result, payload, wire, api.label, _puid_only(payload.meta))

    def aggregate(self, msg: Any, wire: Any) -> Any:
        api = self._apis["aggregate"]
        done, result = self._special(api, msg, wire)
        if done:
            return result
        payloads = wire.decode_list(msg)
        if not payloads:
            # Upstream indexes the first message and fails with Python's IndexError (500).
            raise MicroserviceError(
                upstream_text(
                    "list index out of range", "aggregate: the request holds no messages (seldonMessages is empty)"
                ),
                500,
                reason=INTERNAL_ERROR,
            )
        if api.plain is None:
            raise self._undefined("aggregate", "Aggregate not defined")
        # As for route, a not-implemented error from the user's aggregate reaches the client as it is.
        result = api.plain([p.value for p in payloads], [p.names for p in payloads])
        return self._respond(result, payloads[0], wire, api.label, _merge_child_meta(payloads))

    def _undefined(self, name: str, text: str) -> MicroserviceError:
        """Upstream's 400 for a method the class lacks; a ``SeldonComponent`` subclass has the base
        class's stub, which upstream calls, so its text ("route is not implemented") is the answer."""
        if hasattr(self.user, name):
            return SeldonNotImplementedError(f"{name} is not implemented")
        return MicroserviceError(text)

    def send_feedback(self, msg: Any, wire: Any) -> Any:
        """Feedback goes through the ``Feedback`` proto on both transports, as upstream does for
        REST too: features and truth arrive as floats, the reward as a float32, and a REST
        answer is the proto-JSON of the response (empty ``names`` omitted)."""
        api = self._apis["send_feedback"]
        special = api.grpc if wire.is_proto else api.rest
        if special is not None:
            return special(msg)
        feedback = wire.to_feedback_proto(msg)
        reward = feedback.reward
        if self.unit.executor_enabled and reward:
            self.sink.feedback(reward)
        if api.raw is not None:  # upstream always hands send_feedback_raw a Feedback proto
            try:
                result = api.raw(feedback)
            except Exception as exc:
                if not is_not_implemented(exc):
                    raise
            else:
                return self._finish_raw(api.label, wire.from_any(result), wire)
        request = decode_feedback_part(feedback.request)
        truth = decode_feedback_part(feedback.truth).value
        routing = feedback.response.meta.routing
        result: Any = None
        if api.plain is not None:
            try:
                result = api.plain(
                    request.value,
                    request.names,
                    reward,
                    truth,
                    routing=routing[self._feedback_key] if self._feedback_key in routing else None,
                )
            except Exception as exc:
                if not is_not_implemented(exc):
                    raise
        # Like route, only the request's puid is carried over (upstream passes no meta here).
        out = self._respond([] if result is None else result, request, PROTO, api.label, _puid_only(request.meta))
        return out if wire.is_proto else wire.from_any(out)

    def health_status(self, wire: Any) -> Any:
        api = self._apis["health_status"]
        if api.raw is not None:
            try:
                return wire.from_any(api.raw())
            except Exception as exc:
                if not is_not_implemented(exc):
                    raise
        if api.plain is None:
            # A SeldonComponent subclass has the base stub, which upstream calls and which raises.
            result: Any = "not implemented - assuming healthy" if hasattr(self.user, "health_status") else "healthy"
        else:
            try:
                result = api.plain()
            except Exception as exc:
                if not is_not_implemented(exc):
                    raise
                result = "not implemented - assuming healthy"
        return self._respond(result, NO_PAYLOAD, wire, api.label, None)

    def require_metadata(self) -> dict[str, Any]:
        if self.metadata is None:
            raise MicroserviceError(upstream_text(METADATA_UNAVAILABLE, self.metadata_error), 500, reason=BAD_METADATA)
        return self.metadata


def _puid_only(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    return {"puid": meta["puid"]} if meta and meta.get("puid") else None


def _merge_child_meta(payloads: list[Payload]) -> dict[str, Any]:
    """Children's tags and requestPath merged, metrics concatenated, the first child's puid kept."""
    merged: dict[str, Any] = {"tags": {}, "requestPath": {}, "metrics": []}
    if payloads and payloads[0].meta and payloads[0].meta.get("puid"):
        merged["puid"] = payloads[0].meta["puid"]
    for p in payloads:
        meta = p.meta or {}
        merged["tags"].update(meta.get("tags") or {})
        merged["requestPath"].update(meta.get("requestPath") or {})
        merged["metrics"].extend(meta.get("metrics") or [])
    return merged
