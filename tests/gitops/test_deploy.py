"""``invoke deploy`` against the real API server: server-side diff, apply, atomic Helm releases."""

from __future__ import annotations

import json
import subprocess

import pytest

from wharf.charts.helm import ensure_helm
from wharf.gitops import deploy
from wharf.gitops.kustomize import CHART, KUSTOMIZE, NAMESPACE

pytestmark = pytest.mark.helm

CHARTS = CHART.parent


@pytest.fixture
def runtime_removed(kube_api):
    """Remove what the default overlay applies (but the CRD, which other tests share) afterwards."""
    yield
    kube_api.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")
    kube_api.kubectl(
        "delete", "clusterrole,clusterrolebinding", "-l", "app.kubernetes.io/instance=wharf", "--ignore-not-found"
    )


def test_kustomize_diff_apply_diff(kube_api, helm_binary, runtime_removed) -> None:
    overlay = KUSTOMIZE / "overlays" / "default"
    before = deploy.kustomize(overlay, kube_api.kubeconfig, dry_run=True)
    assert before.changed and "wharf-operator" in before.output  # the diff names what would be created
    deploy.kustomize(overlay, kube_api.kubeconfig)
    live = json.loads(
        kube_api.kubectl(
            "get", "deployment", "wharf-operator", "-n", NAMESPACE, "-o", "json", "--show-managed-fields"
        ).stdout
    )
    fields = {m["manager"] for m in live["metadata"]["managedFields"]}
    assert deploy.FIELD_MANAGER in fields  # server-side apply under our field manager
    after = deploy.kustomize(overlay, kube_api.kubeconfig, dry_run=True)
    assert not after.changed, after.output


def test_kustomize_refuses_a_folder_without_kustomization(tmp_path) -> None:
    with pytest.raises(deploy.DeployError, match="no kustomization.yaml"):
        deploy.kustomize(tmp_path)


def helm_status(kube_api, release: str, namespace: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ensure_helm()), "status", release, "-n", namespace, f"--kubeconfig={kube_api.kubeconfig}"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_helm_release_is_installed_and_then_shows_no_diff(kube_api, kube_namespace, helm_binary, seldon_crd) -> None:
    sets = {"model.image": "wharf-examples/iris:0.1"}
    deploy.helm(
        CHARTS / "wharf-model", "iris", kube_namespace, set_values=sets, kubeconfig=kube_api.kubeconfig, timeout="60s"
    )
    sdep = json.loads(kube_api.kubectl("get", "sdep", "iris", "-n", kube_namespace, "-o", "json").stdout)
    containers = sdep["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"]
    assert containers[0]["image"] == "wharf-examples/iris:0.1"
    again = deploy.helm(
        CHARTS / "wharf-model", "iris", kube_namespace, set_values=sets, kubeconfig=kube_api.kubeconfig, dry_run=True
    )
    assert not again.changed, again.output
    changed = deploy.helm(
        CHARTS / "wharf-model",
        "iris",
        kube_namespace,
        set_values={**sets, "replicas": "3"},
        kubeconfig=kube_api.kubeconfig,
        dry_run=True,
    )
    assert changed.changed and "replicas: 3" in changed.output.replace("+  ", "").replace("+ ", "")


def test_the_rollback_flag_follows_the_helm_major() -> None:
    assert (deploy.rollback_flag("3"), deploy.rollback_flag("4")) == ("--atomic", "--rollback-on-failure")


def test_missing_values_file_is_named(tmp_path) -> None:
    with pytest.raises(deploy.DeployError, match="values file .*nope.yaml does not exist"):
        deploy.helm(CHARTS / "wharf-model", "x", "default", values=[tmp_path / "nope.yaml"])


@pytest.mark.parametrize("major", ["3", "4"], ids=["helm3", "helm4"])
def test_a_rejected_release_leaves_nothing_behind(kube_api, kube_namespace, seldon_crd, major, monkeypatch) -> None:
    from wharf.charts.helm import MAJOR_ENV, HelmUnavailable

    try:
        ensure_helm(build=False, major=major)
    except HelmUnavailable as exc:
        from wharf.testing.infra import unavailable

        unavailable(f"helm {major}", str(exc))
    monkeypatch.setenv(MAJOR_ENV, major)
    # valid for the chart's schema, refused by the CRD's CEL rule: the graph node has no container
    bad = {
        "graph.name": "model",
        "componentSpecs[0].spec.containers[0].name": "other",
        "componentSpecs[0].spec.containers[0].image": "wharf-examples/iris:0.1",
    }
    with pytest.raises(deploy.DeployError, match="needs a container of the same name") as failed:
        deploy.helm(
            CHARTS / "wharf-graph",
            "broken",
            kube_namespace,
            set_values=bad,
            kubeconfig=kube_api.kubeconfig,
            timeout="60s",
        )
    # Helm 4 takes --rollback-on-failure: its deprecated --atomic alias would print a warning here
    assert "deprecated" not in str(failed.value), str(failed.value)
    assert helm_status(kube_api, "broken", kube_namespace).returncode != 0  # rolled back: no release recorded
    assert kube_api.kubectl("get", "sdep", "-n", kube_namespace, "-o", "name").stdout.strip() == ""
