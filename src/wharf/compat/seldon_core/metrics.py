"""``seldon_core.metrics`` helpers that build custom metric dicts."""

from __future__ import annotations

from typing import Any


def _metric(kind: str, key: str, value: float, tags: dict[str, str] | None) -> dict[str, Any]:
    metric: dict[str, Any] = {"type": kind, "key": key, "value": value}
    if tags:
        metric["tags"] = tags
    return metric


def create_counter(key: str, value: float, tags: dict[str, str] | None = None) -> dict[str, Any]:
    return _metric("COUNTER", key, value, tags)


def create_gauge(key: str, value: float, tags: dict[str, str] | None = None) -> dict[str, Any]:
    return _metric("GAUGE", key, value, tags)


def create_timer(key: str, value: float, tags: dict[str, str] | None = None) -> dict[str, Any]:
    """``value`` in milliseconds, as upstream."""
    return _metric("TIMER", key, value, tags)


__all__ = ["create_counter", "create_gauge", "create_timer"]
