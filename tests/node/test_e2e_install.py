"""Wharf from `helm install` to an answer, on pods that really run (issue 17, parts a and b).

The operator image and the iris model image are built from this checkout, loaded into the node,
and installed with the charts under the restricted Pod Security Standard. The SeldonDeployment
turns Available only when its pods pass their real readiness probes; predictions go through the
predictor's ClusterIP Service (kube-proxy) and must equal the model's own answer in process.
"""

from __future__ import annotations

import numpy as np
from node_support import ROOT, cluster_report, get, helm, iris_answer, predict, restricted_namespace, wait_for

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 2.8, 4.3, 1.3]]


def test_operator_runs_ready_under_restricted_and_holds_the_lease(kube_node, wharf_core):
    pods = [
        p
        for p in get(kube_node, "pods", "-n", wharf_core, "-l", "app.kubernetes.io/name=wharf-operator")["items"]
        if p["metadata"].get("ownerReferences", [{}])[0].get("kind") == "ReplicaSet"
    ]  # not a helm test Pod
    assert len(pods) == 1
    pod = pods[0]
    assert pod["status"]["phase"] == "Running"
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"
    # admitted by the restricted Pod Security Standard, running as a non-root user
    assert (
        get(kube_node, "namespace", wharf_core)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        == "restricted"
    )
    from wharf.operator.leader import LEASE_NAME

    holder = wait_for(
        "the operator to hold its Lease",
        lambda: get(kube_node, "lease", LEASE_NAME, "-n", wharf_core)["spec"].get("holderIdentity"),
        timeout=60,
    )
    assert holder == pod["metadata"]["name"]


def test_iris_from_the_model_chart_answers_through_its_service(kube_node, wharf_core, example_images):
    iris_image = example_images["iris"]
    ns = restricted_namespace(kube_node, "iris-e2e")
    try:
        helm(
            kube_node,
            "install",
            "iris",
            str(ROOT / "charts" / "wharf-model"),
            "-n",
            ns,
            "--set",
            f"model.image={iris_image}",
            "--set",
            "model.imagePullPolicy=Never",
        )

        def available():
            sdep = get(kube_node, "sdep", "iris", "-n", ns)
            return sdep.get("status", {}).get("state") == "Available" and sdep

        try:
            wait_for("SeldonDeployment iris to be Available", available, timeout=300)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{cluster_report(kube_node, ns)}") from None
        # Available only because the kubelet ran the readiness probes and they passed
        pods = get(kube_node, "pods", "-n", ns, "-l", "seldon-deployment-id=iris")["items"]
        assert pods and all(c["ready"] for p in pods for c in p["status"]["containerStatuses"])
        assert all(c.get("readinessProbe") for p in pods for c in p["spec"]["containers"])

        service = get(kube_node, "service", "iris-default", "-n", ns)["spec"]
        ports = {p["name"]: p["port"] for p in service["ports"]}
        expected = iris_answer(ROWS)

        rest = predict(f"http://{service['clusterIP']}:{ports['http']}", ROWS, settle_s=30)
        np.testing.assert_allclose(np.array(rest["data"]["ndarray"]), expected, rtol=1e-9)
        assert rest["data"]["names"] == ["setosa", "versicolor", "virginica"]

        # gRPC with grpcio, a client written by others
        import grpc
        from google.protobuf import json_format

        from wharf.protocol.pb import prediction_pb2, prediction_pb2_grpc

        request = json_format.ParseDict({"data": {"ndarray": ROWS}}, prediction_pb2.SeldonMessage())
        with grpc.insecure_channel(f"{service['clusterIP']}:{ports['grpc']}") as channel:
            reply = prediction_pb2_grpc.SeldonStub(channel).Predict(request, timeout=30)
        values = np.array(json_format.MessageToDict(reply)["data"]["ndarray"])
        np.testing.assert_allclose(values, expected, rtol=1e-9)

        # the chart's own check, as a user runs it: its test Pod calls the predictor Service by name
        tested = helm(kube_node, "test", "iris", "-n", ns, "--logs", "--timeout", "3m")
        assert "Phase:          Succeeded" in tested.stdout and "200" in tested.stdout, tested.stdout
    finally:
        kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)
