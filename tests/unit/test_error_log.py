"""Failed requests are logged one line each, with a traceback once per kind, at a bounded rate."""

from __future__ import annotations

import logging

from wharf.http_server.error_log import MAX_KINDS, ErrorLog


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def setup(rate: float = 10.0, burst: int = 20):
    log = logging.getLogger(f"test-error-log-{id(object())}")
    log.propagate = False
    handler = Records()
    log.addHandler(handler)
    now = [0.0]
    return ErrorLog(log, rate_per_s=rate, burst=burst, clock=lambda: now[0]), handler.records, now


def fail(where: str) -> Exception:
    try:
        if where == "a":
            raise ValueError("bad row 3")
        raise KeyError("missing")
    except Exception as exc:  # noqa: BLE001 - a raised exception carries its traceback
        return exc


def test_a_traceback_once_per_kind_then_one_line_with_a_count() -> None:
    errors, records, now = setup()
    for _ in range(5):
        now[0] += 1.0
        errors.failed("POST /predict", fail("a"))
    errors.failed("POST /predict", fail("b"))
    with_tb = [r for r in records if r.exc_info]
    assert [type(r.exc_info[1]).__name__ for r in with_tb] == ["ValueError", "KeyError"]
    assert records[1].getMessage() == (
        "POST /predict failed: ValueError: bad row 3 (seen 2 times; traceback logged the first time)"
    )
    assert "seen 5 times" in records[4].getMessage()
    assert all("\n" not in r.getMessage() for r in records)


def test_a_flood_is_cut_to_the_burst_and_the_rate_and_the_drop_is_counted() -> None:
    errors, records, now = setup(rate=10, burst=20)
    for _ in range(10_000):  # all at the same instant
        errors.failed("gRPC predict", fail("a"))
    assert len(records) == 20
    now[0] += 1.0  # one second later: ten more lines are allowed, the first says what was dropped
    for _ in range(100):
        errors.failed("gRPC predict", fail("a"))
    assert len(records) == 30
    assert records[20].getMessage().endswith("[9980 more error lines dropped]")
    assert "dropped" not in records[21].getMessage()


def test_errors_that_explain_themselves_have_no_traceback_and_kinds_are_bounded() -> None:
    errors, records, now = setup(rate=1e9, burst=10**9)
    errors.failed("POST /predict", fail("a"), traceback=False)
    assert records[0].exc_info is None and records[0].getMessage() == "POST /predict failed: bad row 3"
    for i in range(MAX_KINDS + 50):  # exceptions raised nowhere: one kind per type name
        errors.failed("x", type(f"E{i}", (Exception,), {})("boom"))
    assert len(errors._seen) == MAX_KINDS
