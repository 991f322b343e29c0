"""What one worker process knows about itself: loaded yet, draining yet, and whether its model
still answers (readiness after repeated internal failures)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from wharf.protocol.errors import MicroserviceError

# Readiness after failures. A call into user code that ends in an unexpected exception (not an
# error the model raised on purpose with a status, not a bad request) is an internal failure.
# After UNREADY_AFTER_FAILURES of them in a row, or one MemoryError, the worker reports not ready
# (/ready and /health/status answer 503 naming the last error) so that traffic goes to replicas
# that can answer. Any call that succeeds makes it ready again. While it reports not ready it gets
# no traffic through a Service, so after RETRY_AFTER_S it reports ready again on trial: the next
# call decides, and one more internal failure makes it not ready at once.
UNREADY_AFTER_FAILURES = 5
RETRY_AFTER_S = 30.0


def is_internal_failure(exc: BaseException) -> bool:
    """An exception nobody raised on purpose: not a MicroserviceError (ours, or the model's own
    answer with a status), nor upstream's exceptions, which carry a ``status_code``."""
    return not isinstance(exc, MicroserviceError) and not isinstance(getattr(exc, "status_code", None), int)


class WorkerState:
    def __init__(
        self,
        unready_after: int = UNREADY_AFTER_FAILURES,
        retry_after_s: float = RETRY_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.loaded = asyncio.Event()  # for the event loop (REST)
        self.loaded_thread = threading.Event()  # for gRPC's server threads
        self.load_error: BaseException | None = None
        self.draining = False
        self.retiring = False  # about to drain: answers say Connection: close so clients move on
        self.served = 0  # requests answered (REST and gRPC); approximate under threads, which is enough
        self._unready_after, self._retry_after_s, self._clock = unready_after, retry_after_s, clock
        self._lock = threading.Lock()  # outcomes are recorded from the model thread(s)
        self._failures = 0  # internal failures in a row
        self._failing: str | None = None  # why the model cannot answer, while it cannot
        self._failing_since = 0.0
        self._on_trial = False

    def mark_loaded(self, error: BaseException | None = None) -> None:
        self.load_error = error
        self.loaded.set()
        self.loaded_thread.set()

    # --- outcomes of calls into user code ------------------------------------------------------

    def succeeded(self) -> None:
        if self._failures or self._failing:  # the common case reads two attributes and leaves
            with self._lock:
                self._failures, self._failing, self._on_trial = 0, None, False

    def failed_internally(self, exc: BaseException) -> None:
        """Record a call that raised ``exc``, an exception the model did not raise on purpose."""
        if self._unready_after <= 0:
            return
        with self._lock:
            self._failures += 1
            if self._failures >= self._unready_after or self._on_trial or isinstance(exc, MemoryError):
                if self._failing is None or self._on_trial:
                    self._failing_since = self._clock()
                self._on_trial = False
                kind = "out of memory" if isinstance(exc, MemoryError) else f"{self._failures} calls in a row failed"
                self._failing = f"the model cannot answer ({kind}; last error: {type(exc).__name__}: {exc})"

    def failing(self) -> str | None:
        """Why the model cannot answer, or None. Past the retry delay: None, on trial."""
        if self._failing is None or self._on_trial:
            return None
        with self._lock:
            if self._failing is not None and self._clock() - self._failing_since >= self._retry_after_s:
                self._on_trial = True
                return None
            return self._failing

    @property
    def ready(self) -> bool:
        return self.loaded.is_set() and self.load_error is None and not self.draining and self.failing() is None

    def not_ready_reason(self) -> str:
        if self.draining:
            return "shutting down"
        if self.load_error is not None:
            return f"load() failed: {self.load_error}"
        if not self.loaded.is_set():
            return "model is loading"
        return self.failing() or "ready"
