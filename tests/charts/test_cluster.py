"""Charts against a real API server (marker ``apiserver``, fixtures from tests/conftest.py).

This harness has no kubelet: Pods never run. So here (a) every rendered manifest goes through a
server-side dry-run (real admission: OpenAPI/CRD schema, CEL rules, RBAC objects), and (b) ct-style
install/upgrade/uninstall runs with ``helm --wait`` when KWOK fake nodes make Deployments available.
``helm test`` Pods run for real on the node of tests/node (test_c_ct_install.py, test_e2e_install.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest
import yaml
from chart_support import CHARTS, CI_CASES, ROOT
from kube_objects import PODMONITOR_CRD

from wharf.charts.ctconfig import load_config
from wharf.charts.ctinstall import InstallOptions, install
from wharf.charts.helm import helm_version
from wharf.charts.render import helm_template
from wharf.charts.validate import EXTRA_API_VERSIONS

pytestmark = [pytest.mark.helm, pytest.mark.apiserver]

# ci files the server refuses on purpose, each with the field its message names. Upstream's own
# seldon-single-model values.yaml sets neither model.image nor model.implementation: upstream's
# webhook takes that SeldonDeployment and its pods never start; Wharf's CRD refuses it up front.
REFUSED = {("wharf-model", "upstream-values.yaml"): "spec.predictors[0].graph"}


@pytest.fixture(scope="module")
def cluster(kube_api, helm):
    """The API server with the SeldonDeployment CRD (from the shared source) and a PodMonitor CRD installed."""
    from wharf.deployment.crd import crd

    for obj in (crd(), PODMONITOR_CRD):
        kube_api.apply_crd(obj)
    if kube_api.local and kube_api.fake_nodes and not kube_api.kubectl("get", "nodes", "-o", "name").stdout.strip():
        # KWOK runs but the harness registered no Node: add one so Deployments can become available.
        from wharf.testing.apiserver import fake_node_manifest

        kube_api.kubectl("apply", "-f", "-", input=json.dumps(fake_node_manifest("wharf-charts-kwok-0")))
    return kube_api


@pytest.mark.parametrize("chart,values", CI_CASES)
def test_server_side_dry_run_accepts_every_rendered_manifest(cluster, kube_namespace, chart, values):
    docs = [
        r.doc
        for r in helm_template(
            CHARTS / chart,
            [CHARTS / chart / "ci" / values],
            release="dry",
            namespace=kube_namespace,
            api_versions=EXTRA_API_VERSIONS,
        )
    ]
    assert docs
    # A dry run persists nothing, yet Pod admission looks up the Pod's ServiceAccount: create those for real
    # (in this throwaway namespace) first.
    accounts = [d for d in docs if d["kind"] == "ServiceAccount"]
    if accounts:
        cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(accounts))
    stream = yaml.safe_dump_all(docs, sort_keys=False)
    done = cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--dry-run=server",
        "--field-manager=wharf-chart-test",
        "-f",
        "-",
        input=stream,
        check=False,
    )
    if (chart, values) in REFUSED:
        assert done.returncode != 0 and f"{REFUSED[chart, values]}: Invalid value" in done.stderr, done.stderr
        assert "needs a container of the same name with an image" in done.stderr
        return
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("serverside-applied (server dry run)") == len(docs)


def test_server_rejects_what_the_schema_would_not_catch(cluster, kube_namespace):
    """The CRD's CEL rules (webhook semantics) apply to chart output too: a graph node with no
    implementation and no container of its name is refused by the server."""
    docs = [
        r.doc
        for r in helm_template(
            CHARTS / "wharf-graph",
            [],
            release="bad",
            namespace=kube_namespace,
            set_values={"graph.name": "orphan", "test.enabled": "false"},
        )
    ]
    done = cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs), check=False
    )
    assert done.returncode != 0 and "needs a container of the same name" in done.stderr


def _options(kube_api) -> InstallOptions:
    # --wait needs Deployments to become available: real nodes or KWOK fake ones. 300 s is helm's
    # own default: on a loaded 2-core machine the control plane can lag well past 2 minutes.
    return InstallOptions(
        kubeconfig=str(kube_api.kubeconfig), wait=kube_api.fake_nodes, run_tests=not kube_api.local, timeout="300s"
    )


def _namespaces(kube_api, prefix: str) -> list[str]:
    out = kube_api.kubectl("get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    return [n for n in out if n.startswith(prefix)]


def _wait_gone(kube_api, prefix: str, seconds: float = 120) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := _namespaces(kube_api, prefix)) and time.monotonic() < deadline:
        time.sleep(1)
    return left


def test_ct_install_model_chart_with_every_ci_values_file(cluster, tmp_path, helm_major):
    """Every ci file but those the server refuses on purpose (REFUSED; the dry-run test checks them),
    with Helm 3 and with Helm 4 (server-side apply and kstatus' --wait=watcher by default)."""
    version_dir = f"helm-{helm_version(helm_major[0])}"
    repo = tmp_path / "repo"
    shutil.copytree(CHARTS / "wharf-model", repo / "charts" / "wharf-model")
    shutil.copy(ROOT / "ct.yaml", repo / "ct.yaml")
    for chart, values in REFUSED:
        if chart == "wharf-model":
            (repo / "charts" / chart / "ci" / values).unlink()
    kept = sorted(p.name for p in (repo / "charts" / "wharf-model" / "ci").glob("*-values.yaml"))
    assert len(kept) == 2, kept
    out: list[str] = []
    config = load_config(repo, flags={"charts": "charts/wharf-model"}, environ={})
    assert install(repo, config, _options(cluster), out.append), "\n".join(out)
    text = "\n".join(out)
    for values in kept:
        assert f"install wharf-model with {values}" in text
    assert text.count(f"{version_dir}/helm install wharf-model-") == len(kept)
    assert text.count("helm uninstall wharf-model-") == len(kept) and "kubectl delete namespace wharf-model-" in text
    version = yaml.safe_load((CHARTS / "wharf-model" / "Chart.yaml").read_text())["version"]
    assert f'✔︎ wharf-model => (version: "{version}", path: "charts/wharf-model")' in text
    assert _wait_gone(cluster, "wharf-model-") == []


def test_ct_install_core_chart_cluster_wide_and_single_namespace(cluster, helm_major):
    out: list[str] = []
    # The CRD is already in this cluster (applied above, not by helm): let the releases leave it alone.
    config = load_config(
        ROOT, flags={"charts": "charts/wharf-core", "helm-extra-set-args": "--set=crds.enabled=false"}, environ={}
    )
    assert install(ROOT, config, _options(cluster), out.append), "\n".join(out)
    text = "\n".join(out)
    assert "with single-namespace-values.yaml" in text and "with openshift-values.yaml" in text
    assert f"helm-{helm_version(helm_major[0])}/helm install wharf-core-" in text
    assert _wait_gone(cluster, "wharf-core-") == []
    # Cluster-scoped RBAC went with the releases.
    leftovers = cluster.kubectl("get", "clusterroles", "-o", "name").stdout
    assert "wharf-core-" not in leftovers


def _git(repo, *args):
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *args], check=True, capture_output=True
    )


def test_ct_install_upgrades_from_the_previous_chart_version(cluster, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(CHARTS / "wharf-model", repo / "charts" / "wharf-model")
    for name in ("ct.yaml", ".yamllint.yaml"):
        shutil.copy(ROOT / name, repo / name)
    for extra in ("prepackaged-values.yaml", "upstream-values.yaml"):
        (repo / "charts" / "wharf-model" / "ci" / extra).unlink()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    chart_yaml = repo / "charts" / "wharf-model" / "Chart.yaml"
    old = yaml.safe_load(chart_yaml.read_text())["version"]
    _git(repo, "commit", "-q", "-m", old)
    major, minor, patch = old.split(".")
    new = f"{major}.{minor}.{int(patch) + 1}"
    chart_yaml.write_text(chart_yaml.read_text().replace(f"version: {old}", f"version: {new}"))
    out: list[str] = []
    config = load_config(repo, flags={"upgrade": True}, environ={})
    assert install(repo, config, _options(cluster), out.append), "\n".join(out)
    text = "\n".join(out)
    assert "upgrade wharf-model from its previous version with default-values.yaml" in text
    assert "helm-v3.19.0/helm upgrade wharf-model-" in text
    assert f'✔︎ wharf-model => (version: "{new}"' in text
