"""Custom metrics returned by user code: validation, and the sink the server records them in."""

from __future__ import annotations

import json
from typing import Any, Protocol

from wharf.protocol.errors import BAD_METRIC, BAD_METRIC_TEXT, MicroserviceError, upstream_text

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
    """Check each ``{"type", "key", "value", "tags"?}``; a bad list is a 500 MICROSERVICE_BAD_METRIC
    with upstream's text (the list as JSON), then which entry is wrong and why."""
    problem = _problem(metrics, where)
    if problem is not None:
        try:
            shown = json.dumps(metrics)
        except (TypeError, ValueError):
            shown = repr(metrics)
        raise MicroserviceError(upstream_text(BAD_METRIC_TEXT.format(metrics=shown), problem), 500, reason=BAD_METRIC)
    return metrics


def _problem(metrics: Any, where: str) -> str | None:
    if not isinstance(metrics, list):
        return f"{where}: expected a list of dicts, got {type(metrics).__name__}"
    for i, metric in enumerate(metrics):
        if not isinstance(metric, dict) or not {"key", "value", "type"} <= metric.keys():
            return f"{where}[{i}]: needs keys key, value and type, got {metric!r}"
        if metric["type"] not in METRIC_TYPES:
            return f"{where}[{i}] ({metric['key']}): type {metric['type']!r} is not one of {', '.join(METRIC_TYPES)}"
        try:
            metric["value"] + 1
        except TypeError:
            return f"{where}[{i}] ({metric['key']}): value {metric['value']!r} is not a number"
        tags = metric.get("tags")
        if tags is not None and not isinstance(tags, dict):
            return f"{where}[{i}] ({metric['key']}): tags must be a mapping"
    return None
