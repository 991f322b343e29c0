"""The operator pod is killed while it reconciles a change (issue 17, part g).

A new operator pod must take the leader Lease and finish the work: the SeldonDeployment becomes
Available and the cluster holds exactly the objects ``render()`` says it should, each with the
rendered containers (nothing lost, nothing half-applied).
"""

from __future__ import annotations

import json
import time

from node_support import example_sdep, get, restricted_namespace, wait_available, wait_for


def test_a_new_operator_takes_the_lease_and_finishes_the_reconcile(kube_node, wharf_core, example_images):
    from wharf.operator.config import OperatorConfig
    from wharf.operator.leader import LEASE_NAME
    from wharf.operator.render import render

    ns = restricted_namespace(kube_node, "failover")
    try:
        lease = get(kube_node, "lease", LEASE_NAME, "-n", wharf_core)["spec"]
        old_pod = next(p for p in get(kube_node, "pods", "-n", wharf_core, "-l",
                                      "app.kubernetes.io/name=wharf-operator")["items"]
                       if p["metadata"].get("ownerReferences", [{}])[0].get("kind") == "ReplicaSet")
        assert lease["holderIdentity"] == old_pod["metadata"]["name"]

        sdep = example_sdep(example_images, "iris-ab", separate=True)
        kube_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(sdep))
        time.sleep(0.5)  # the watch event has reached the operator; its handler is running
        kube_node.kubectl("delete", "pod", "-n", wharf_core, old_pod["metadata"]["name"], "--grace-period=0",
                          "--force")

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
