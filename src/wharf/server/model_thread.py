"""Where user code runs: a thread of its own (a pool of ``threads`` with ``--threads``), never the
worker's event loop.

Why: the event loop accepts connections, parses requests, answers the probes (``/health/ping``,
``/live``, ``/ready``) and sets up new gRPC channels. When user code ran on it, one 5 s ``predict``
held all of that for 5 s: a worker's other keep-alive connections and new channels waited, and so
would the kubelet's probes. Off the loop, a slow call delays only the calls queued behind it.

With the default of one thread, calls run one at a time in arrival order, REST and gRPC alike, as
under upstream's default of one gunicorn thread: a model that keeps state sees one call at a time
and needs no lock of its own. ``--threads N`` runs up to N calls at once, as upstream's does.

How, and why not ``run_in_executor``: handing each call to a ``ThreadPoolExecutor`` cost about
35 us of CPU per request on the component benchmark's identity model (44 -> 77 us for a small REST
call), most of it the executor's future, its wake-ups and the cross-thread callback per call.
Here the calls made in one turn of the loop go to the model thread as one batch (one queue put,
at most one wake-up), and each answer comes back with one ``call_soon_threadsafe``, which uvloop
coalesces into one wake-up of the loop however many arrive together. ``--threads N`` (N > 1)
uses a plain pool: calls run concurrently there and batching would serialize them.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_Call = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


class ModelThread:
    def __init__(self, threads: int = 1) -> None:
        self.threads = max(1, threads)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="wharf-model") if self.threads > 1 else None
        self._inbox: queue.SimpleQueue[list[_Call] | None] = queue.SimpleQueue()
        self._batch: list[_Call] = []  # calls made in this turn of the loop, not handed over yet
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """``fn(*args)`` on the model thread; awaitable from the event loop."""
        loop = asyncio.get_running_loop()
        if self._pool is not None:
            return loop.run_in_executor(self._pool, fn, *args)
        if self._thread is None:
            self._loop = loop
            self._thread = threading.Thread(target=self._work, name="wharf-model", daemon=True)
            self._thread.start()
        future = loop.create_future()
        if not self._batch:
            loop.call_soon(self._hand_over)
        self._batch.append((fn, args, future))
        return future

    def _hand_over(self) -> None:
        batch, self._batch = self._batch, []
        self._inbox.put(batch)

    def _work(self) -> None:
        assert self._loop is not None
        deliver = self._loop.call_soon_threadsafe
        while True:
            batch = self._inbox.get()
            if batch is None:
                return
            for fn, args, future in batch:
                try:
                    result = fn(*args)
                except BaseException as exc:  # noqa: BLE001 - the caller on the loop gets it
                    if not isinstance(exc, Exception):  # SystemExit from a model: an error, not an exit
                        exc = RuntimeError(f"{type(exc).__name__} raised in user code: {exc}")
                    deliver(_fail, future, exc)
                else:
                    deliver(_succeed, future, result)

    def close(self) -> None:
        """After the drain: no new calls; a call still running is left to finish (daemon thread)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        self._inbox.put(None)


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # the waiting request may have been cancelled (client gone)
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
