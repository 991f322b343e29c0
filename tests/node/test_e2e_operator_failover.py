"""The operator pod is killed while it reconciles a change (issue 17, part g).

A new operator pod must take the leader Lease and finish the work: the SeldonDeployment becomes
Available and the cluster holds exactly the objects ``render()`` says it should, each with the
rendered containers (nothing lost, nothing half-applied).
"""

from __future__ import annotations

import json
import time

from node_support import (
    ROOT,
    cluster_report,
    example_sdep,
    get,
    helm,
    iris_sdep,
    restricted_namespace,
    wait_available,
    wait_for,
)


def test_a_new_operator_takes_the_lease_and_finishes_the_reconcile(kube_node, wharf_core, example_images):
    from wharf.operator.config import OperatorConfig
    from wharf.operator.leader import LEASE_NAME
    from wharf.operator.render import render

    ns = restricted_namespace(kube_node, "failover")
    try:
        lease = get(kube_node, "lease", LEASE_NAME, "-n", wharf_core)["spec"]
        old_pod = next(
            p
            for p in get(kube_node, "pods", "-n", wharf_core, "-l", "app.kubernetes.io/name=wharf-operator")["items"]
            if p["metadata"].get("ownerReferences", [{}])[0].get("kind") == "ReplicaSet"
        )
        assert lease["holderIdentity"] == old_pod["metadata"]["name"]

        sdep = example_sdep(example_images, "iris-ab", separate=True)
        kube_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(sdep))
        time.sleep(0.5)  # the watch event has reached the operator; its handler is running
        kube_node.kubectl("delete", "pod", "-n", wharf_core, old_pod["metadata"]["name"], "--grace-period=0", "--force")

        def new_holder():
            holder = get(kube_node, "lease", LEASE_NAME, "-n", wharf_core)["spec"].get("holderIdentity")
            return holder if holder and holder != old_pod["metadata"]["name"] else None

        holder = wait_for("another operator pod to take the Lease", new_holder, timeout=120)
        pods = get(kube_node, "pods", "-n", wharf_core, "-l", "app.kubernetes.io/name=wharf-operator")["items"]
        assert holder in [p["metadata"]["name"] for p in pods]
        wait_available(kube_node, ns, "iris-ab")

        # exactly the rendered objects, with the rendered containers
        sdep["metadata"]["namespace"] = ns
        config = OperatorConfig.from_env({"EXECUTOR_CONTAINER_IMAGE_AND_VERSION": "docker.io/wharf/orchestrator:0.1.0"})
        expected = {(o["kind"], o["metadata"]["name"]): o for o in render(sdep, config)}
        for kind in ("Deployment", "Service"):
            names = {o["metadata"]["name"] for o in get(kube_node, kind.lower() + "s", "-n", ns)["items"]}
            assert names == {name for k, name in expected if k == kind}, kind
        for (kind, name), obj in expected.items():
            if kind != "Deployment":
                continue
            live = get(kube_node, "deployment", name, "-n", ns)
            containers = lambda d: {c["name"]: c["image"] for c in d["spec"]["template"]["spec"]["containers"]}  # noqa: E731
            assert containers(live) == containers(obj), name
            assert live["status"].get("availableReplicas") == live["spec"]["replicas"], name
    finally:
        kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_with_two_replicas_the_standby_stays_ready_and_takes_over_when_the_leader_dies(
    kube_node, wharf_core, example_images
):
    """replicaCount 2: the replica without the Lease answers its probes (it would be restarted forever
    otherwise) and, when the leader's pod dies without releasing the Lease, takes it over within the
    Lease's timings (15 s unrenewed, retried every 2 s) and reconciles what comes next."""
    from wharf.operator.leader import LEASE_NAME

    selector = "app.kubernetes.io/name=wharf-operator"
    chart = str(ROOT / "charts" / "wharf-core")
    helm(
        kube_node,
        "upgrade",
        "wharf",
        chart,
        "-n",
        wharf_core,
        "--reuse-values",
        "--set",
        "replicaCount=2",
        "--wait",
        "--timeout",
        "5m",
    )
    ns = restricted_namespace(kube_node, "failover-two")
    try:

        def two_ready():
            pods = [
                p
                for p in get(kube_node, "pods", "-n", wharf_core, "-l", selector)["items"]
                if not p["metadata"].get("deletionTimestamp")
            ]
            ready = [
                p
                for p in pods
                if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
            ]
            return ready if len(ready) == 2 else None

        pods = wait_for("two operator pods Ready", two_ready, timeout=180)
        holder = get(kube_node, "lease", LEASE_NAME, "-n", wharf_core)["spec"]["holderIdentity"]
        names = [p["metadata"]["name"] for p in pods]
        assert holder in names
        standby = next(n for n in names if n != holder)
        restarts = {
            p["metadata"]["name"]: sum(c.get("restartCount", 0) for c in p["status"]["containerStatuses"]) for p in pods
        }

        # The pod replacing the leader would race the standby for the Lease: keep it unscheduled, so
        # only the standby can take over, then let the cluster schedule again.
        nodes = [n["metadata"]["name"] for n in get(kube_node, "nodes")["items"]]
        for node in nodes:
            kube_node.kubectl("cordon", node)
        try:
            killed = time.monotonic()
            kube_node.kubectl("delete", "pod", "-n", wharf_core, holder, "--grace-period=0", "--force")
            wait_for(
                "the standby to take the Lease",
                lambda: get(kube_node, "lease", LEASE_NAME, "-n", wharf_core)["spec"].get("holderIdentity") == standby,
                timeout=60,
                interval=0.5,
            )
            took_over_s = time.monotonic() - killed
        finally:
            for node in nodes:
                kube_node.kubectl("uncordon", node, check=False)
        assert took_over_s < 15 + 2 + 8, took_over_s  # lease duration + retry, with scheduling slack
        pod = get(kube_node, "pod", standby, "-n", wharf_core)
        assert sum(c.get("restartCount", 0) for c in pod["status"]["containerStatuses"]) == restarts[standby]

        kube_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(iris_sdep("after", example_images["iris"])))
        wait_available(kube_node, ns, "after")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster_report(kube_node, wharf_core)}") from None
    finally:
        kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        helm(
            kube_node,
            "upgrade",
            "wharf",
            chart,
            "-n",
            wharf_core,
            "--reuse-values",
            "--set",
            "replicaCount=1",
            "--wait",
            "--timeout",
            "5m",
            check=False,
        )
