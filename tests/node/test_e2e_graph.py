"""A graph of transformer, bandit router and two iris models on the real node (issue 17, part c).

The same SeldonDeployment (examples/graphs/ab-router.yaml, images built from the examples) runs
twice: with every node and the orchestrator in one pod, and with the orchestrator in a pod of its
own (`seldon.io/engine-separate-pod` + `svcOrchSpec`), where it reaches each node through that
node's Service by DNS name. Answers must carry the router's choice in ``meta.routing``.
"""

from __future__ import annotations

import json

import pytest
from node_support import cluster_report, example_sdep, get, predict, restricted_namespace, service_url, wait_for

ROW = [51, 35, 14, 2]  # millimetres: the scaler turns them into centimetres for the iris models


@pytest.mark.parametrize("separate", [False, True], ids=["one-pod", "orchestrator-in-its-own-pod"])
def test_graph_answers_carry_the_routers_choice(kube_node, wharf_core, example_images, separate):
    ns = restricted_namespace(kube_node, f"graph-{'sep' if separate else 'one'}")
    try:
        sdep = example_sdep(example_images, "iris-ab", separate)
        kube_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(sdep))
        try:
            wait_for(
                "SeldonDeployment iris-ab to be Available",
                lambda: get(kube_node, "sdep", "iris-ab", "-n", ns).get("status", {}).get("state") == "Available",
                timeout=300,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{cluster_report(kube_node, ns)}") from None

        def one_of_each():
            """The running pods; a replaced one lingers in its 10 s preStop sleep, so wait it out."""
            pods = [p for p in get(kube_node, "pods", "-n", ns)["items"] if not p["metadata"].get("deletionTimestamp")]
            engine = [p for p in pods if any(c["name"] == "seldon-container-engine" for c in p["spec"]["containers"])]
            model = [p for p in pods if any(c["name"] == "iris-a" for c in p["spec"]["containers"])]
            return (engine, model) if len(engine) == 1 and len(model) == 1 else None

        engine_pods, model_pods = wait_for("one orchestrator pod and one model pod", one_of_each, timeout=60)
        assert (engine_pods[0]["metadata"]["name"] != model_pods[0]["metadata"]["name"]) is separate

        url = service_url(kube_node, ns, "iris-ab-default")
        seen = set()
        for _ in range(20):
            answer = predict(url, [ROW], settle_s=30)
            route = answer["meta"]["routing"]["router"]
            assert route in (0, 1)
            seen.add(route)
            probabilities = answer["data"]["ndarray"][0]
            assert len(probabilities) == 3 and abs(sum(probabilities) - 1) < 1e-6
            assert probabilities.index(max(probabilities)) == 0  # a setosa flower, after scaling
        assert seen == {0, 1}, "epsilon 0.2 over 20 requests should have explored both branches"
        # where the orchestrator was told to find each node: its own pod, or the node's Service
        from wharf.deployment.graph import from_engine_env

        engine = next(c for c in engine_pods[0]["spec"]["containers"] if c["name"] == "seldon-container-engine")
        env = {e["name"]: e.get("value") for e in engine.get("env", [])}
        hosts = {unit.name: unit.endpoint.host for unit in from_engine_env(env["ENGINE_PREDICTOR"]).graph.walk()}
        if separate:
            assert hosts == {n: f"iris-ab-default-{n}.{ns}.svc.cluster.local" for n in hosts}
        else:
            assert set(hosts.values()) == {"localhost"}
    finally:
        kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)
