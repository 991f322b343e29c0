"""`invoke ct --install` of wharf-core on the real node: every ci values file installs with its operator
pod Ready, and `helm test` runs its test Pod for real (issue 17, part d).

Its name sorts before the test_e2e_* files on purpose: the ct releases run operators cluster-wide,
which must not overlap with the session-wide wharf-core release of conftest.py, and the
SeldonDeployment CRD this test applies is removed again at the end, so that release can own it.
"""

from __future__ import annotations

import json
import re

from kube_objects import PODMONITOR_CRD
from node_support import ROOT


def test_ct_install_runs_every_wharf_core_values_file_and_its_helm_test(kube_node, wharf_images):
    from wharf.charts.ctconfig import load_config
    from wharf.charts.ctinstall import InstallOptions, install

    from wharf.deployment.crd import crd

    # ct installs each values file as a release of its own; one CRD cannot belong to several releases,
    # so it is applied here and the releases leave it alone (crds.enabled=false), as on a cluster
    # where the CRD comes from elsewhere
    for obj in (crd(), PODMONITOR_CRD):
        kube_node.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(obj))
    out: list[str] = []
    try:
        config = load_config(ROOT, flags={"charts": "charts/wharf-core", "helm-extra-set-args": "--set=crds.enabled=false"},
                             environ={})
        ok = install(ROOT, config, InstallOptions(kubeconfig=str(kube_node.kubeconfig)), out.append)
    finally:
        kube_node.kubectl("delete", "crd", "seldondeployments.machinelearning.seldon.io",
                          "podmonitors.monitoring.coreos.com", "--ignore-not-found", "--timeout=120s", check=False,
                          timeout=150)
    text = "\n".join(out)
    assert ok, text
    values = sorted(p.name for p in (ROOT / "charts" / "wharf-core" / "ci").glob("*-values.yaml"))
    for name in values:
        assert f"install wharf-core with {name}" in text
    # each release's helm test Pod ran the operator's self-test, and the log it printed is shown
    tested = set(re.findall(r"operator reports state Available for SeldonDeployment (wharf-core-\w+)/", text))
    assert len(tested) == len(values), text
