"""A SeldonDeployment's hpaSpec scales its model Deployment on real CPU use (issue 17, part h).

metrics-server (built from sigs.k8s.io/metrics-server, running beside the node) serves the
resource-metrics API from the kubelet's real cgroup figures; the HorizontalPodAutoscaler the operator
rendered reads it. A bounded load through a loopback gateway raises CPU use: the Deployment must
grow to two pods; after the load stops it must shrink back to one. The test cluster's
controller-manager waits 20 s instead of 5 minutes before scaling down (apiserver.py).
"""

from __future__ import annotations

import json
import time

from node_support import get, iris_sdep, predict, restricted_namespace, service_url, wait_available, wait_for
from test_e2e_rollout import Load

from wharf.testing.gateway import Gateway


def test_hpa_scales_the_model_up_under_load_and_back_down(kube_node, wharf_core, example_images):
    ns = restricted_namespace(kube_node, "hpa")
    try:
        sdep = iris_sdep(
            "iris",
            example_images["iris"],
            hpaSpec={
                "minReplicas": 1,
                "maxReplicas": 2,
                "metricsv2": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 20}},
                    }
                ],
            },
        )
        kube_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(sdep))
        wait_available(kube_node, ns, "iris")
        predict(service_url(kube_node, ns, "iris-default"), [[5.1, 3.5, 1.4, 0.2]], settle_s=30)
        deployment = "iris-default-0-classifier"
        hpa = get(kube_node, "hpa", deployment, "-n", ns)
        assert hpa["spec"]["scaleTargetRef"]["name"] == deployment

        def replicas() -> int:
            return get(kube_node, "deployment", deployment, "-n", ns)["spec"].get("replicas", 0)

        # the metrics API answers for the pod before any load: metrics-server scrapes the kubelet
        wait_for(
            "pod metrics from metrics-server",
            lambda: kube_node.kubectl("top", "pod", "-n", ns, "--no-headers", check=False).stdout.strip(),
            timeout=120,
        )
        assert replicas() == 1
        with Gateway(ns, "iris", service_url(kube_node, ns, "iris-default")) as gateway:
            url = f"http://127.0.0.1:{gateway.port}/seldon/{ns}/iris/api/v1.0/predictions"
            started = time.monotonic()
            with Load(url, limit_s=240) as load:
                wait_for("the HPA to scale the model up to 2", lambda: replicas() == 2, timeout=200, interval=3)
                up_s = time.monotonic() - started
            assert load.answers
        stopped = time.monotonic()
        wait_for("the HPA to scale the model back down to 1", lambda: replicas() == 1, timeout=240, interval=3)
        down_s = time.monotonic() - stopped
        status = get(kube_node, "hpa", deployment, "-n", ns)["status"]
        print(
            f"\nHPA: scaled up after {up_s:.0f} s of load, back down {down_s:.0f} s after it stopped; "
            f"last observed CPU {status.get('currentMetrics')}"
        )
    finally:
        kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)
