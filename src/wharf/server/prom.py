"""Prometheus metrics of one component: request metrics, user custom metrics, feedback rewards.

Workers write through prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by
the supervisor before any worker starts); the supervisor serves the merged view.

The request-time histogram is on every request's path, and one prometheus_client ``observe`` (a
lock, a pid check and two writes into the mmapped file) cost more than the rest of a small
request's bookkeeping. Requests are therefore counted in plain Python and copied into the
multiprocess file every ``REQUEST_FLUSH_S`` by a thread of the worker, and once more when the
worker stops: a scrape lags by at most that interval.
"""

from __future__ import annotations

import bisect
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

# Custom TIMER buckets as the real seldon-core 1.19.0 exposes them: 50 log-spaced bounds from
# 1 ms to 30 s, then +Inf (checked against its /metrics output).
TIMER_BUCKETS = (*np.logspace(np.log10(0.001), np.log10(30), 50).tolist(), float("inf"))
_LABEL_OK = re.compile(r"[^a-zA-Z0-9_]")
REQUEST_FLUSH_S = 0.1


@dataclass(frozen=True, slots=True)
class Identity:
    """The labels every series carries, from the operator-provided environment."""

    deployment_name: str = "NOT_IMPLEMENTED"
    model_name: str = "NOT_IMPLEMENTED"
    model_image: str = "NOT_IMPLEMENTED"
    model_version: str = "NOT_IMPLEMENTED"
    predictor_name: str = "NOT_IMPLEMENTED"
    predictor_version: str = "NOT_IMPLEMENTED"

    def labels(self) -> dict[str, str]:
        return {
            "deployment_name": self.deployment_name,
            "model_name": self.model_name,
            "model_image": self.model_image,
            "model_version": self.model_version,
            "predictor_name": self.predictor_name,
            "predictor_version": self.predictor_version,
            "seldon_deployment_name": self.deployment_name,
            "image_name": self.model_image,
            "image_version": self.model_version,
        }


def _label_name(tag: str) -> str:
    name = _LABEL_OK.sub("_", str(tag))
    return name if name and not name[0].isdigit() else f"_{name}"


class PrometheusSink:
    """Records custom metrics and feedback for one worker; built after the worker forked."""

    def __init__(self, identity: Identity) -> None:
        self._base = {**identity.labels(), "worker_id": str(os.getpid())}
        self._families: dict[tuple[str, str, tuple[str, ...]], Any] = {}
        base_names = ["method", *self._base]
        self._requests = Histogram(
            "wharf_component_request_seconds",
            "Time spent answering requests, by endpoint method and status",
            [*base_names, "code"],
            registry=None,
        )
        self._bounds = list(self._requests._upper_bounds)  # ends with +Inf: every time has a bucket
        # (method, code) -> [sum of seconds, count per bucket...] not yet in the multiprocess file
        self._pending: dict[tuple[str, int], list[float]] = {}
        self._pending_lock = threading.Lock()  # REST (event loop) and gRPC threads both observe
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._feedback = Counter(
            "seldon_api_model_feedback", "Feedback requests with a reward", base_names, registry=None
        )
        self._reward = Counter("seldon_api_model_feedback_reward", "Sum of feedback rewards", base_names, registry=None)

    def observe_request(self, method: str, code: int, seconds: float) -> None:
        # Same bucket rule as prometheus_client: the first upper bound >= seconds.
        bucket = bisect.bisect_left(self._bounds, seconds) + 1
        with self._pending_lock:
            counts = self._pending.get((method, code))
            if counts is None:
                counts = self._pending[(method, code)] = [0.0] * (len(self._bounds) + 1)
            counts[0] += seconds
            counts[bucket] += 1

    def start_flushing(self) -> None:
        """Copy request timings into the multiprocess file every REQUEST_FLUSH_S (a daemon thread)."""
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_loop, name="wharf-metrics-flush", daemon=True)
            self._flusher.start()

    def stop_flushing(self) -> None:
        """Stop the thread and write what is still pending (call before the worker exits)."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(5)
        self.flush()

    def _flush_loop(self) -> None:
        while not self._stop.wait(REQUEST_FLUSH_S):
            self.flush()

    def flush(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        for (method, code), counts in pending.items():
            child = self._requests.labels(method=method, code=str(code), **self._base)
            child._sum.inc(counts[0])  # the histogram's own value files, as observe() writes them
            for value, n in zip(child._buckets, counts[1:]):
                if n:
                    value.inc(n)

    def feedback(self, reward: float) -> None:
        self._feedback.labels(method="feedback", **self._base).inc()
        self._reward.labels(method="feedback", **self._base).inc(reward)

    def record(self, method: str, metrics: list[dict[str, Any]]) -> None:
        for metric in metrics:
            tags = {_label_name(k): str(v) for k, v in (metric.get("tags") or {}).items()}
            family = self._family(metric["type"], metric["key"], tuple(sorted(tags)))
            child = family.labels(method=method, **self._base, **tags)
            value = float(metric["value"])
            if metric["type"] == "COUNTER":
                child.inc(value)
            elif metric["type"] == "GAUGE":
                child.set(value)
            else:  # TIMER: milliseconds in, seconds out
                child.observe(value / 1000.0)

    def _family(self, kind: str, key: str, tag_names: tuple[str, ...]) -> Any:
        ident = (kind, key, tag_names)
        family = self._families.get(ident)
        if family is None:
            names = [*tag_names, "method", *self._base]
            name = _label_name(key)
            if kind == "COUNTER":
                family = Counter(name, f"custom counter {key}", names, registry=None)
            elif kind == "GAUGE":
                family = Gauge(name, f"custom gauge {key}", names, registry=None, multiprocess_mode="mostrecent")
            else:
                family = Histogram(name, f"custom timer {key}", names, registry=None, buckets=TIMER_BUCKETS)
            self._families[ident] = family
        return family
