"""Custom metrics returned by user code: validation, and the sink the server records them in."""

from __future__ import annotations

from typing import Any, Protocol

from wharf.protocol.errors import BAD_METRIC, MicroserviceError

METRIC_TYPES = ("COUNTER", "GAUGE", "TIMER")


class MetricsSink(Protocol):
    def record(self, method: str, metrics: list[dict[str, Any]]) -> None: ...

    def feedback(self, reward: float) -> None: ...


class NullSink:
    def record(self, method: str, metrics: list[dict[str, Any]]) -> None:
        pass

    def feedback(self, reward: float) -> None:
        pass


def validate_metrics(metrics: Any, where: str = "metrics") -> list[dict[str, Any]]:
    """Check each ``{"type", "key", "value", "tags"?}``; a bad one is a 500 naming ``where`` and its position."""
    if not isinstance(metrics, list):
        raise MicroserviceError(f"{where}: expected a list of dicts, got {type(metrics).__name__}", 500, reason=BAD_METRIC)
    for i, metric in enumerate(metrics):
        if not isinstance(metric, dict) or not {"key", "value", "type"} <= metric.keys():
            raise MicroserviceError(f"{where}[{i}]: needs keys key, value and type, got {metric!r}", 500,
                                    reason=BAD_METRIC)
        if metric["type"] not in METRIC_TYPES:
            raise MicroserviceError(
                f"{where}[{i}] ({metric['key']}): type {metric['type']!r} is not one of {', '.join(METRIC_TYPES)}",
                500, reason=BAD_METRIC)
        try:
            metric["value"] + 1
        except TypeError:
            raise MicroserviceError(f"{where}[{i}] ({metric['key']}): value {metric['value']!r} is not a number",
                                    500, reason=BAD_METRIC) from None
        tags = metric.get("tags")
        if tags is not None and not isinstance(tags, dict):
            raise MicroserviceError(f"{where}[{i}] ({metric['key']}): tags must be a mapping", 500, reason=BAD_METRIC)
    return metrics
