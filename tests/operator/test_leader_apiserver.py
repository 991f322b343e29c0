"""Leader election against the real API server: one holder, takeover after expiry or release."""

from __future__ import annotations

import asyncio
import json
import time

from wharf.operator.leader import LeaseElector, Timing

FAST = Timing(lease_s=1, renew_deadline_s=0.8, retry_s=0.2)


def lease(kube_api, ns: str) -> dict:
    import json

    return json.loads(
        kube_api.kubectl("get", "lease", "wharf-operator.machinelearning.seldon.io", "-n", ns, "-o", "json").stdout
    )["spec"]


def test_one_holder_and_takeover_after_expiry(kube_api, kube_namespace) -> None:
    with kube_api.api_client() as api:
        a, b = LeaseElector(api, kube_namespace, "a", timing=FAST), LeaseElector(api, kube_namespace, "b", timing=FAST)
        assert a.try_hold() and not b.try_hold()
        assert a.try_hold()  # renewal
        assert lease(kube_api, kube_namespace)["holderIdentity"] == "a"
        time.sleep(1.3)  # a stops renewing: after lease_s the lease is free for b
        assert b.try_hold() and not a.try_hold()
        spec = lease(kube_api, kube_namespace)
        assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1


def test_run_hands_over_at_once_when_the_leader_stops(kube_api, kube_namespace) -> None:
    timing = Timing(lease_s=5, renew_deadline_s=4, retry_s=0.2)  # expiry alone would take 5 s
    led: list[tuple[str, float]] = []

    async def scenario() -> float:
        with kube_api.api_client() as api:

            def work(name: str, seconds: float):
                async def run(stop: asyncio.Event) -> None:
                    led.append((name, time.monotonic()))
                    await asyncio.sleep(seconds)  # reconciles for a while, then shuts down cleanly

                return run

            first = asyncio.create_task(
                LeaseElector(api, kube_namespace, "first", timing=timing).run(work("first", 0.6))
            )
            await asyncio.sleep(0.1)  # first takes the lease before second asks
            second = LeaseElector(api, kube_namespace, "second", timing=timing).run(work("second", 0.1))
            await asyncio.wait_for(asyncio.gather(first, second), 20)
            return time.monotonic()

    asyncio.run(scenario())
    assert [name for name, _ in led] == ["first", "second"]  # second waited while first led
    assert led[1][1] - led[0][1] < 2.0  # and took over on release, not after the 5 s expiry


def test_a_leader_that_cannot_renew_stops_its_work(kube_api, kube_namespace) -> None:
    import pytest

    from wharf.operator.leader import LostLeadership

    timing = Timing(lease_s=30, renew_deadline_s=1, retry_s=0.2)
    stopped: list[bool] = []

    async def scenario() -> None:
        with kube_api.api_client() as api:

            async def work(stop: asyncio.Event) -> None:
                await stop.wait()
                stopped.append(True)

            leader = asyncio.create_task(LeaseElector(api, kube_namespace, "leader", timing=timing).run(work))
            await asyncio.sleep(0.5)
            # another party takes the Lease (as after a network partition): the leader's renewals now fail
            intruder = LeaseElector(api, kube_namespace, "intruder", timing=timing)
            spec = lease(kube_api, kube_namespace)
            kube_api.kubectl(
                "patch",
                "lease",
                intruder.name,
                "-n",
                kube_namespace,
                "--type=merge",
                "-p",
                json.dumps({"spec": {"holderIdentity": "intruder", "renewTime": spec["renewTime"]}}),
            )
            await asyncio.wait_for(leader, 10)

    with pytest.raises(LostLeadership, match="leader lost lease"):
        asyncio.run(scenario())
    assert stopped == [True]  # the reconciler was told to stop before the error surfaced
    assert lease(kube_api, kube_namespace)["holderIdentity"] == "intruder"  # and it was not released


def test_a_standby_answers_its_liveness_probe_and_frees_the_port_when_it_leads(kube_api, kube_namespace) -> None:
    """kopf serves /healthz only once it runs: a standby must answer the probe itself (else the chart's
    liveness probe restarts it forever), and hand the port over to kopf when it becomes leader."""
    import socket
    import urllib.request

    from wharf.local.process import free_port
    from wharf.operator.standby import standby_health

    port = free_port("127.0.0.1")
    url = f"http://127.0.0.1:{port}/healthz"
    timing = Timing(lease_s=5, renew_deadline_s=4, retry_s=0.2)
    seen: dict[str, object] = {}

    def probe() -> tuple[int, bytes]:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read()

    async def scenario() -> None:
        with kube_api.api_client() as api:
            holder = LeaseElector(api, kube_namespace, "holder", timing=timing)
            assert holder.try_hold()

            async def work(stop: asyncio.Event) -> None:
                # the leader's own server (kopf's liveness endpoint) binds the same port at once
                server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
                seen["bound"] = True
                server.close()
                await server.wait_closed()

            standby = asyncio.create_task(
                LeaseElector(api, kube_namespace, "standby", timing=timing).run(work, waiting=standby_health(url))
            )
            await asyncio.sleep(0.5)
            seen["probe"] = await asyncio.to_thread(probe)
            # a client that sends half a request and never finishes is dropped, and costs nothing after
            with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
                slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                seen["after_probe_while_slow"] = await asyncio.to_thread(probe)
            assert "bound" not in seen  # still a standby
            await asyncio.to_thread(holder.release)
            await asyncio.wait_for(standby, 10)

    asyncio.run(scenario())
    assert seen["probe"] == (200, b"standby\n")
    assert seen["after_probe_while_slow"] == (200, b"standby\n")
    assert seen["bound"] is True
