"""The kustomize overlay `default` installs the same operator, which serves the same model (issue 17, part e).

Its name sorts before the test_e2e_* files on purpose: the overlay and the wharf-core chart install
the same objects (namespace wharf-system, operator, CRD), so this test installs, checks and removes
the overlay before the chart's session-wide install exists.
"""

from __future__ import annotations

import json

import numpy as np
from node_support import (
    ROOT,
    get,
    iris_answer,
    iris_sdep,
    predict,
    restricted_namespace,
    service_url,
    wait_available,
    wait_for,
)

OVERLAY = ROOT / "kustomize" / "overlays" / "default"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def test_default_overlay_installs_an_operator_that_serves_the_iris_model(kube_node, wharf_images, example_images):
    from wharf.gitops.deploy import kustomize

    kustomize(OVERLAY, kube_node.kubeconfig)  # `invoke deploy --kustomize kustomize/overlays/default`
    ns = None
    try:
        assert (
            get(kube_node, "namespace", "wharf-system")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
            == "restricted"
        )
        kube_node.kubectl(
            "rollout", "status", "deployment/wharf-operator", "-n", "wharf-system", "--timeout=180s", timeout=200
        )
        operator = get(kube_node, "deployment", "wharf-operator", "-n", "wharf-system")
        image = operator["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.removeprefix("docker.io/") == wharf_images["operator"].removeprefix("docker.io/")

        ns = restricted_namespace(kube_node, "kustomize-iris")
        kube_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(iris_sdep("iris", example_images["iris"])))
        wait_available(kube_node, ns, "iris")
        answer = predict(service_url(kube_node, ns, "iris-default"), ROWS, settle_s=30)
        np.testing.assert_allclose(answer["data"]["ndarray"], iris_answer(ROWS), rtol=1e-9)
    finally:
        if ns:
            kube_node.kubectl("delete", "namespace", ns, "--timeout=120s", check=False, timeout=150)
        kube_node.kubectl(
            "delete", "-k", str(OVERLAY), "--ignore-not-found", "--timeout=120s", check=False, timeout=150
        )
        wait_for(
            "namespace wharf-system to be gone",
            lambda: kube_node.kubectl("get", "namespace", "wharf-system", check=False).returncode != 0,
            timeout=120,
        )
