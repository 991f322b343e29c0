"""Logging of failed requests that cannot fill a disk: one line per failure, a traceback once per
distinct error, and at most a burst of lines per second.

A model that fails on every call used to log a full traceback per request (about 1.5 KB each;
70 MB for 47,000 errors in one measured run). Here the first failure of a kind (exception type and
the code location that raised it) is logged with its traceback; the next ones get one line that
says how often the kind has been seen. Past ``rate_per_s`` lines per second (with a burst of
``burst``) lines are dropped and counted, and the next line that is allowed says how many were.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_KINDS = 1000  # distinct errors remembered; the oldest is forgotten (and may log its traceback again)


def _kind(exc: BaseException) -> tuple[str, str, int]:
    """An error's kind: its type and where it was raised (the innermost frame of its traceback)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return type(exc).__qualname__, "", 0
    return type(exc).__qualname__, tb.tb_frame.f_code.co_filename, tb.tb_lineno


class ErrorLog:
    def __init__(
        self,
        log: logging.Logger,
        rate_per_s: float = 10.0,
        burst: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log, self._rate, self._burst, self._clock = log, rate_per_s, burst, clock
        self._tokens, self._last = float(burst), clock()
        self._seen: OrderedDict[tuple[str, str, int], int] = OrderedDict()
        self._dropped = 0
        self._lock = threading.Lock()  # gRPC handlers may run on worker threads

    def failed(self, what: str, exc: BaseException, traceback: bool = True) -> None:
        """Log that ``what`` failed with ``exc``; ``traceback=False`` for errors that say it all."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
            self._last = now
            kind = _kind(exc)
            count = self._seen.pop(kind, 0) + 1
            self._seen[kind] = count
            if len(self._seen) > MAX_KINDS:
                self._seen.popitem(last=False)
            if self._tokens < 1:
                self._dropped += 1
                return
            self._tokens -= 1
            dropped, self._dropped = self._dropped, 0
        suffix = f" [{dropped} more error lines dropped]" if dropped else ""
        if count == 1:
            self._log.error("%s failed: %s%s", what, exc, suffix, exc_info=exc if traceback else None)
        else:
            self._log.error(
                "%s failed: %s: %s (seen %d times; traceback logged the first time)%s",
                what,
                type(exc).__name__,
                exc,
                count,
                suffix,
            )


# One for the component server's REST and gRPC APIs: a model's error is the same kind whichever
# transport the call came by, so its traceback is logged once per process.
SERVER_ERRORS = ErrorLog(logging.getLogger("wharf.server"))
