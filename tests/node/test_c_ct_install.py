"""`invoke ct --install --upgrade` of wharf-core on the real node: every ci values file installs with its
operator pod Ready, upgrades from the previous chart version, and `helm test` runs its test Pod for
real after each (issue 17, part d).

Its name sorts before the test_e2e_* files on purpose: the ct releases run operators cluster-wide,
which must not overlap with the session-wide wharf-core release of conftest.py, and the
SeldonDeployment CRD this test applies is removed again at the end, so that release can own it.
"""

from __future__ import annotations

import json
import re

from kube_objects import PODMONITOR_CRD
from node_support import ROOT, chart_repo


def test_ct_install_upgrades_and_installs_every_wharf_core_values_file_with_its_helm_test(
    kube_node, wharf_images, tmp_path
):
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
        repo = chart_repo(tmp_path / "repo", ("wharf-core",))
        config = load_config(
            repo,
            flags={"charts": "charts/wharf-core", "helm-extra-set-args": "--set=crds.enabled=false", "upgrade": True},
            environ={},
        )
        ok = install(repo, config, InstallOptions(kubeconfig=str(kube_node.kubeconfig)), out.append)
    finally:
        kube_node.kubectl(
            "delete",
            "crd",
            "seldondeployments.machinelearning.seldon.io",
            "podmonitors.monitoring.coreos.com",
            "--ignore-not-found",
            "--timeout=120s",
            check=False,
            timeout=150,
        )
    text = "\n".join(out)
    assert ok, text
    values = sorted(p.name for p in (ROOT / "charts" / "wharf-core" / "ci").glob("*-values.yaml"))
    for name in values:
        # the previous version installed, tested, upgraded (the operator's pod rolls and must take the
        # Lease again) and tested again; then the new version installed afresh and tested
        assert f"upgrade wharf-core from its previous version with {name}" in text
        assert f"install wharf-core with {name}" in text
    # each release's helm test Pod ran the operator's self-test, and the log it printed is shown
    tested = re.findall(r"operator reports state Available for SeldonDeployment (wharf-core-\w+)/", text)
    assert len(set(tested)) == 2 * len(values) and len(tested) >= 3 * len(values), text
