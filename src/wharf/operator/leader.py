"""Leader election on a ``coordination.k8s.io/v1`` Lease: several operator replicas, one reconciler.

The same scheme as upstream's controller-runtime manager (lease 15 s, renew deadline 10 s, retry
2 s): a replica holds the Lease while it renews it; the others retry and take it over once it has
gone unrenewed for a whole lease duration. Every write carries the Lease's resourceVersion, so two
replicas racing for an expired lease cannot both win. kopf's own peering was not used: it needs
extra CRDs and pauses lower-priority peers rather than electing one.

``decide`` is the pure rule; ``LeaseElector`` wires it to the API (blocking client calls run in a
thread so the operator's event loop never waits on them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

# Not upstream's lease name: two operators sharing one Lease would take turns reconciling.
LEASE_NAME = "wharf-operator.machinelearning.seldon.io"


@dataclass(frozen=True)
class Timing:
    lease_s: float = 15.0  # a holder that has not renewed for this long has lost the lease
    renew_deadline_s: float = 10.0  # a leader that cannot renew for this long stops reconciling
    retry_s: float = 2.0  # how often candidates try and leaders renew


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # MicroTime


def decide(spec: dict[str, Any] | None, me: str, now: datetime, timing: Timing) -> dict[str, Any] | None:
    """The Lease spec to write for ``me`` to hold the lease now, or None if another holder keeps it."""
    spec = spec or {}
    holder = spec.get("holderIdentity") or ""
    renewed = _time(spec.get("renewTime")) or _time(spec.get("acquireTime"))
    duration = timedelta(seconds=spec.get("leaseDurationSeconds") or timing.lease_s)
    if holder and holder != me and renewed is not None and now < renewed + duration:
        return None
    if holder == me:  # renew
        return {**spec, "renewTime": _stamp(now), "leaseDurationSeconds": int(timing.lease_s)}
    return {
        "holderIdentity": me,
        "leaseDurationSeconds": int(timing.lease_s),
        "acquireTime": _stamp(now),
        "renewTime": _stamp(now),
        "leaseTransitions": (spec.get("leaseTransitions") or 0) + (1 if spec.get("acquireTime") else 0),
    }


class LostLeadership(RuntimeError):
    pass


class LeaseElector:
    def __init__(
        self, api_client: Any, namespace: str, identity: str, name: str = LEASE_NAME, timing: Timing = Timing()
    ) -> None:
        from kubernetes import client

        self._api = client.CoordinationV1Api(api_client)
        self._serialize = api_client.sanitize_for_serialization
        self.namespace, self.identity, self.name, self.timing = namespace, identity, name, timing

    def try_hold(self) -> bool:
        """One round: take or renew the lease if the rule allows; False if someone else holds it."""
        from kubernetes.client.exceptions import ApiException

        try:
            current = self._serialize(self._api.read_namespaced_lease(self.name, self.namespace))
        except ApiException as exc:
            if exc.status != 404:
                raise
            current = None
        spec = decide((current or {}).get("spec"), self.identity, datetime.now(UTC), self.timing)
        if spec is None:
            return False
        # A plain dict, not a V1Lease: the client serialises either, and the spec's MicroTimes stay the
        # strings `decide` wrote.
        body: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "spec": spec,
            "metadata": {"name": self.name, "namespace": self.namespace},
        }
        try:
            if current is None:
                self._api.create_namespaced_lease(self.namespace, body)
            else:
                body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                self._api.replace_namespaced_lease(self.name, self.namespace, body)
        except ApiException as exc:
            if exc.status in (409, 422):  # another replica wrote first: it won this round
                return False
            raise
        return True

    def release(self) -> None:
        """Give the lease up at shutdown so a standby takes over at once instead of after 15 s."""
        from kubernetes.client.exceptions import ApiException

        try:
            current = self._serialize(self._api.read_namespaced_lease(self.name, self.namespace))
            if (current.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            current["spec"]["holderIdentity"] = ""
            self._api.replace_namespaced_lease(self.name, self.namespace, current)
        except ApiException as exc:
            log.warning("could not release lease %s/%s: %s", self.namespace, self.name, exc.reason)

    async def run(
        self,
        work: Callable[[asyncio.Event], Coroutine[Any, Any, Any]],
        waiting: contextlib.AbstractAsyncContextManager[None] | None = None,
    ) -> None:
        """Wait to become leader, run ``work(stop)`` while renewing; raise LostLeadership if renewals fail.

        ``waiting`` is entered while this replica is a standby and left before ``work`` starts
        (the standby's liveness answer, see wharf.operator.standby).
        """
        async with waiting or contextlib.nullcontext():
            while not await asyncio.to_thread(self._try):
                await asyncio.sleep(self.timing.retry_s)
        log.info("%s became leader (lease %s/%s)", self.identity, self.namespace, self.name)
        stop = asyncio.Event()
        task = asyncio.create_task(work(stop))
        lost = False
        try:
            last = asyncio.get_running_loop().time()
            while not task.done():
                await asyncio.wait({task}, timeout=self.timing.retry_s)
                if task.done():
                    break
                if await asyncio.to_thread(self._try):
                    last = asyncio.get_running_loop().time()
                elif asyncio.get_running_loop().time() - last > self.timing.renew_deadline_s:
                    lost = True
                    log.error(
                        "%s could not renew the lease for %.0f s: stopping", self.identity, self.timing.renew_deadline_s
                    )
                    break
        finally:
            stop.set()
            await task
            if not lost:
                await asyncio.to_thread(self.release)
        if lost:
            raise LostLeadership(f"{self.identity} lost lease {self.namespace}/{self.name}")

    def _try(self) -> bool:
        try:
            return self.try_hold()
        except Exception as exc:  # noqa: BLE001 - an unreachable API is a failed round, not a crash
            log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
            return False
