"""The readiness rule of WorkerState, with a clock the test moves: on trial after the retry delay,
and one more failure on trial is enough."""

from __future__ import annotations

import asyncio

from wharf.protocol.errors import MicroserviceError
from wharf.server.state import WorkerState, is_internal_failure


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _state(clock: Clock, after: int = 3) -> WorkerState:
    async def make() -> WorkerState:  # asyncio.Event wants a loop on older Pythons
        s = WorkerState(unready_after=after, retry_after_s=30, clock=clock)
        s.mark_loaded()
        return s

    return asyncio.run(make())


def test_unready_after_n_then_on_trial_after_the_delay_then_unready_at_once():
    clock = Clock()
    s = _state(clock)
    for _ in range(3):
        assert s.ready
        s.failed_internally(RuntimeError("boom"))
    assert not s.ready and "3 calls in a row failed" in s.not_ready_reason() and "boom" in s.not_ready_reason()
    clock.now += 29
    assert not s.ready
    clock.now += 1
    assert s.ready  # on trial: traffic may come back and decide
    s.failed_internally(RuntimeError("again"))
    assert not s.ready and "again" in s.not_ready_reason()
    clock.now += 30
    assert s.ready
    s.succeeded()
    s.failed_internally(RuntimeError("once"))
    assert s.ready  # a success cleared the count: one failure is not enough any more


def test_zero_disables_the_rule():
    s = _state(Clock(), after=0)
    for _ in range(10):
        s.failed_internally(MemoryError())
    assert s.ready


def test_what_counts_as_internal():
    class UpstreamStyle(Exception):
        status_code = 500

    assert is_internal_failure(RuntimeError("x")) and is_internal_failure(MemoryError())
    assert not is_internal_failure(MicroserviceError("bad input", 400))
    assert not is_internal_failure(MicroserviceError("model says no", 500))
    assert not is_internal_failure(UpstreamStyle())
