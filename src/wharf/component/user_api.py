"""What user code may import: a base class, a per-request response, and the error types.

The ``seldon_core`` compatibility package re-exports these under upstream's names.
"""

from __future__ import annotations

from typing import Any

from wharf.protocol.errors import MicroserviceError, NotImplementedByModel


class SeldonNotImplementedError(NotImplementedByModel):
    """Raised by a method that a class does not really provide; the wrapper then falls back."""


class SeldonResponse:
    """A method's result plus tags and metrics that apply to this one request only."""

    __slots__ = ("data", "tags", "metrics")

    def __init__(self, data: Any, tags: dict[str, Any] | None = None, metrics: list[dict[str, Any]] | None = None):
        self.data = data
        self.tags = tags
        self.metrics = metrics

    @classmethod
    def create(cls, data: Any) -> SeldonResponse:
        return data if isinstance(data, cls) else cls(data)


class SeldonComponent:
    """Optional base class; every method is optional and these stubs mean "not provided"."""

    def __init__(self, **kwargs: Any) -> None:
        pass

    def load(self) -> None:
        pass

    def _missing(self, name: str) -> Any:
        raise SeldonNotImplementedError(f"{name} is not implemented")

    def predict(self, X, names, meta=None):  # noqa: N803 - upstream's argument names
        return self._missing("predict")

    def predict_raw(self, msg):
        return self._missing("predict_raw")

    def transform_input(self, X, names, meta=None):  # noqa: N803
        return self._missing("transform_input")

    def transform_input_raw(self, msg):
        return self._missing("transform_input_raw")

    def transform_output(self, X, names, meta=None):  # noqa: N803
        return self._missing("transform_output")

    def transform_output_raw(self, msg):
        return self._missing("transform_output_raw")

    def route(self, features, feature_names):
        return self._missing("route")

    def route_raw(self, msg):
        return self._missing("route_raw")

    def aggregate(self, features_list, feature_names_list):
        return self._missing("aggregate")

    def aggregate_raw(self, msgs):
        return self._missing("aggregate_raw")

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        return self._missing("send_feedback")

    def send_feedback_raw(self, feedback):
        return self._missing("send_feedback_raw")

    def health_status(self):
        return self._missing("health_status")

    def health_status_raw(self):
        return self._missing("health_status_raw")

    def metadata(self):
        return self._missing("metadata")

    def init_metadata(self):
        return self._missing("init_metadata")

    def class_names(self):
        return self._missing("class_names")

    def feature_names(self):
        return self._missing("feature_names")

    def tags(self):
        return self._missing("tags")

    def metrics(self):
        return self._missing("metrics")


def is_not_implemented(exc: BaseException) -> bool:
    """Ours, or upstream's ``SeldonNotImplementedError`` when a user still imports seldon_core."""
    return isinstance(exc, (SeldonNotImplementedError, NotImplementedError)) or any(
        c.__name__ == "SeldonNotImplementedError" for c in type(exc).__mro__
    )


def is_seldon_response(value: Any) -> bool:
    return isinstance(value, SeldonResponse) or (
        type(value).__name__ == "SeldonResponse" and hasattr(value, "data") and hasattr(value, "tags")
    )


__all__ = [
    "SeldonComponent",
    "SeldonResponse",
    "SeldonNotImplementedError",
    "MicroserviceError",
    "is_not_implemented",
    "is_seldon_response",
]
