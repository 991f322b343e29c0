"""The Lease rule: who may hold the operator's lease, and what gets written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wharf.operator.leader import Timing, decide

T = Timing(lease_s=15, renew_deadline_s=10, retry_s=2)
NOW = datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)


def held_by(holder: str, renewed_ago: float, transitions: int = 0) -> dict:
    at = (NOW - timedelta(seconds=renewed_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "holderIdentity": holder,
        "leaseDurationSeconds": 15,
        "acquireTime": at,
        "renewTime": at,
        "leaseTransitions": transitions,
    }


def test_a_missing_lease_is_taken() -> None:
    spec = decide(None, "a", NOW, T)
    assert spec["holderIdentity"] == "a" and spec["leaseTransitions"] == 0
    assert spec["renewTime"] == "2026-11-25T09:00:00.000000Z" and spec["leaseDurationSeconds"] == 15


def test_a_live_lease_of_another_replica_is_left_alone() -> None:
    assert decide(held_by("b", renewed_ago=14.9), "a", NOW, T) is None


def test_the_holder_renews_without_a_transition() -> None:
    spec = decide(held_by("a", renewed_ago=5, transitions=3), "a", NOW, T)
    assert spec["holderIdentity"] == "a" and spec["leaseTransitions"] == 3
    assert spec["renewTime"] == "2026-11-25T09:00:00.000000Z"


def test_an_expired_lease_is_taken_over_and_counted() -> None:
    spec = decide(held_by("b", renewed_ago=15.1, transitions=3), "a", NOW, T)
    assert spec["holderIdentity"] == "a" and spec["leaseTransitions"] == 4
    assert spec["acquireTime"] == spec["renewTime"] == "2026-11-25T09:00:00.000000Z"


def test_a_released_lease_is_taken_at_once() -> None:
    released = {**held_by("b", renewed_ago=1, transitions=1), "holderIdentity": ""}
    spec = decide(released, "a", NOW, T)
    assert spec["holderIdentity"] == "a" and spec["leaseTransitions"] == 2
