"""Argo CD itself (controller + repo server, built from its Go module) syncs ``examples/gitops``.

The Git repository is a local one (``file://``) holding ``charts/`` and ``examples/gitops`` as a user
commits them, with the placeholder repoURL replaced by the repository's own URL, which is what the
example tells a user to do. The user's steps are then: apply Argo CD's settings objects and
``argocd-cm-health-patch.yaml`` (the example's file, not a copy), apply ``project.yaml`` and
``root-app.yaml``; everything else comes from Git.

The cluster is the harness's API server with KWOK fake nodes: Pods never run, KWOK reports them
Running and Ready, so Deployments become Available. Stand-in: the Wharf operator Deployment that
Argo CD syncs cannot run its container here, so once that Deployment is Available the test runs the
same operator (``wharf operator``) as a process on the host, with the Deployment's own environment.

The helpers (the user's repository and steps, the watch recorder, waiting on Applications, the
teardown) are ``wharf.testing.argocd_live``'s, shared with the same example on the real node
(``tests/node/test_b_argocd.py``). The tests in this module run in order and share one Argo CD and
one set of Applications.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wharf.testing import infra
from wharf.testing.argocd_live import (
    APPS,
    MODELS_NS,
    RUNTIME_NS,
    SDEP,
    SDEP_CRD,
    Live,
    Recorder,
    check_waves,
    install_argocd,
    teardown,
    user_repo,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
KWOK_NODE = "wharf-argocd-kwok-0"


class LiveOnKwok(Live):
    """With the stand-in operator: a process on the host, since pods never run on KWOK nodes."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.operator: subprocess.Popen | None = None
        self.operator_log: Path | None = None

    def start_operator(self, tmp: Path) -> None:
        """The stand-in for the operator's pod: ``wharf operator`` with the synced Deployment's env."""
        dep = self.get("deployment", "wharf-operator", RUNTIME_NS) or self._operator_deployment()
        container = dep["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        env.update(POD_NAMESPACE=RUNTIME_NS, POD_NAME="wharf-operator-on-host", KUBECONFIG=str(self.kube.kubeconfig))
        assert container["command"] == ["wharf", "operator"], container["command"]
        self.operator_log = tmp / "operator.log"
        with open(self.operator_log, "wb") as log:
            self.operator = subprocess.Popen(
                [str(Path(sys.executable).with_name("wharf")), "operator", "--standalone", "--namespace", MODELS_NS],
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _operator_deployment(self) -> dict:
        deps = json.loads(self.kube.kubectl("get", "deployments", "-n", RUNTIME_NS, "-o", "json").stdout)["items"]
        assert len(deps) == 1, [d["metadata"]["name"] for d in deps]
        return deps[0]

    def stop_operator(self) -> None:
        if self.operator is not None and self.operator.poll() is None:
            os.killpg(self.operator.pid, signal.SIGTERM)
            try:
                self.operator.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.operator.pid, signal.SIGKILL)
                self.operator.wait(5)


@pytest.fixture(scope="module")
def live(kube_api, helm_binary, tmp_path_factory):
    from wharf.testing import argocd

    if not argocd.wait_for_build(timeout=2700):
        infra.unavailable(
            f"Argo CD v{argocd.ARGOCD_VERSION}",
            f"build it with `{argocd.BUILD_COMMAND}` (about 15 min cold, cached by version; "
            f"build log: {argocd.build_dir() / 'build.log'})",
        )
    if not kube_api.fake_nodes:
        infra.unavailable("KWOK fake nodes", "build them with `invoke cluster.build-binaries` (kwok, kube-scheduler)")
    tmp = tmp_path_factory.mktemp("argocd")
    if kube_api.local:
        from wharf.testing.apiserver import fake_node_manifest

        kube_api.kubectl("apply", "-f", "-", input=json.dumps(fake_node_manifest(KWOK_NODE)))
        # Earlier tests of the session installed the SeldonDeployment CRD; the runtime Application
        # is to create it, as on a new cluster (the teardown puts it back if it is missing).
        kube_api.kubectl("delete", "crd", SDEP_CRD, "--ignore-not-found", "--timeout=60s")

    # The Git repository, as a user commits it; Argo CD's settings and the example's health checks.
    repo = user_repo(ROOT, tmp / "git")
    install_argocd(kube_api, ROOT)
    argo = argocd.start(kube_api.kubeconfig, helm_binary, work=tmp / "argocd", resync_seconds=5)
    api = kube_api.api_client()
    recorder = Recorder(api)
    recorder.watch_gitops()
    state = LiveOnKwok(kube_api, argo, repo, recorder)
    try:
        yield state
    finally:
        recorder.close()
        # the SeldonDeployment CRD stays (other tests of the session share it): put back if missing
        teardown(state, keep_sdep_crd=True)
        if kube_api.kubectl("get", "crd", SDEP_CRD, check=False).returncode != 0:
            from wharf.gitops.kustomize import BASE

            kube_api.apply_crd(yaml.safe_load((BASE / "crd" / f"{SDEP[0]}_{SDEP[2]}.yaml").read_text()))
        if kube_api.local:
            kube_api.kubectl("delete", "node", KWOK_NODE, "--wait=false", check=False)
        api.close()


def test_app_of_apps_syncs_in_waves_with_the_examples_health_checks(live, tmp_path_factory) -> None:
    live.apply_user_apps()
    live.wait_app("wharf-runtime", "Synced", "Healthy", timeout=180)
    live.start_operator(tmp_path_factory.mktemp("operator"))
    for name in APPS:
        live.wait_app(name, "Synced", "Healthy", timeout=180)

    check_waves(live.recorder)

    runtime = live.app("wharf-runtime")["status"]
    assert runtime["operationState"]["phase"] == "Succeeded"
    # the runtime is applied server-side (its sync option), as the controller's field manager
    crd_obj = json.loads(live.kube.kubectl("get", "crd", SDEP_CRD, "-o", "json", "--show-managed-fields").stdout)
    assert ("argocd-controller", "Apply") in [
        (m["manager"], m["operation"]) for m in crd_obj["metadata"]["managedFields"]
    ]

    # The SeldonDeployment's health is the example's Lua, from argocd-cm (Argo CD has none of its own).
    from wharf.gitops.argocd import health_script, run_health_check

    models = live.app("wharf-models")["status"]
    (iris,) = [r for r in models["resources"] if r["kind"] == "SeldonDeployment"]
    sdep = live.get("seldondeployments.machinelearning.seldon.io", "iris", MODELS_NS)
    assert sdep["status"]["state"] == "Available"
    assert iris["health"] == {"status": "Healthy", "message": "SeldonDeployment is Available"}
    assert iris["health"] == run_health_check(sdep, health_script("machinelearning.seldon.io", "SeldonDeployment"))


def test_a_commit_changing_the_image_rolls_out(live) -> None:
    path = live.repo.checkout / "examples" / "gitops" / "models" / "iris.yaml"
    body = yaml.safe_load(path.read_text())
    body["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["image"] = "wharf-examples/iris:0.2"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    sha = live.repo.commit("iris: image 0.2")

    live.wait_app("wharf-models", "Synced", "Healthy", timeout=120, revision=sha)

    def rolled_out() -> dict | bool:
        deps = json.loads(
            live.kube.kubectl(
                "get", "deployments", "-n", MODELS_NS, "-l", "seldon-deployment-id=iris", "-o", "json"
            ).stdout
        )["items"]
        for dep in deps:
            images = [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]]
            st = dep.get("status") or {}
            if (
                "wharf-examples/iris:0.2" in images
                and st.get("updatedReplicas") == dep["spec"]["replicas"] == st.get("availableReplicas")
                and st.get("observedGeneration") == dep["metadata"]["generation"]
            ):
                return dep
        return False

    wait_for("the iris Deployment rolled out with image 0.2", rolled_out, 90, live.argo)
    sdep = wait_for(
        "iris Available again",
        lambda: (
            (s := live.get("seldondeployments.machinelearning.seldon.io", "iris", MODELS_NS))["status"]["state"]
            == "Available"
            and s["status"].get("observedGeneration") == s["metadata"]["generation"]
            and s
        ),
        60,
        live.argo,
    )
    assert sdep["metadata"]["generation"] >= 2


def test_a_commit_the_crd_refuses_leaves_the_app_out_of_sync_and_the_model_untouched(live) -> None:
    before = live.get("seldondeployments.machinelearning.seldon.io", "iris", MODELS_NS)
    path = live.repo.checkout / "examples" / "gitops" / "models" / "iris.yaml"
    good = path.read_text()
    body = yaml.safe_load(good)
    # valid YAML and schema, refused by one of the CRD's CEL rules
    body["spec"]["predictors"][0]["componentSpecs"][0]["pdbSpec"] = {"minAvailable": 1, "maxUnavailable": 1}
    body["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["image"] = "wharf-examples/iris:0.3"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    sha = live.repo.commit("iris: a pdbSpec the CRD refuses")
    refusal = "minAvailable and maxUnavailable are mutually exclusive"

    def failed() -> dict | bool:
        status = live.app("wharf-models").get("status") or {}
        op = status.get("operationState") or {}
        text = json.dumps(op)
        # the automated sync retries (the example's retry policy), so the phase may still be Running
        return (
            status
            if sha in text
            and refusal in text
            and op.get("phase") in ("Running", "Failed", "Error")
            and (status.get("sync") or {}).get("revision") == sha
            else False
        )

    status = wait_for("the sync of the refused commit to fail", failed, 120, live.argo)
    op = status["operationState"]
    assert refusal in op["message"], op["message"]
    (result,) = [r for r in op["syncResult"]["resources"] if r["kind"] == "SeldonDeployment" and r["name"] == "iris"]
    assert result["status"] == "SyncFailed" and refusal in result["message"], result
    assert status["sync"]["status"] == "OutOfSync"
    (iris,) = [r for r in status["resources"] if r["kind"] == "SeldonDeployment" and r["name"] == "iris"]
    assert iris["status"] == "OutOfSync"
    # what runs is unchanged, so its health is still the running model's
    assert iris["health"]["status"] == "Healthy"
    print(f"refused commit: phase {op['phase']}, health {status['health']}, message: {op['message'][:300]}")

    after = live.get("seldondeployments.machinelearning.seldon.io", "iris", MODELS_NS)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]
    assert after["status"]["state"] == "Available"

    path.write_text(good)  # the fix, as a user would push it
    fixed = live.repo.commit("iris: drop the refused pdbSpec")
    live.wait_app("wharf-models", "Synced", "Healthy", timeout=120, revision=fixed)
    # the retrying operation went on with the newest commit (the example's retry.refresh)
    op = wait_for(
        "the sync operation to succeed with the fix",
        lambda: (
            (o := live.app("wharf-models")["status"]["operationState"])["phase"] == "Succeeded"
            and o["syncResult"]["revision"] == fixed
            and o
        ),
        90,
        live.argo,
    )
    assert op["syncResult"]["revision"] == fixed


def test_a_model_whose_pods_cannot_start_shows_degraded_with_the_operators_reason(live) -> None:
    body = yaml.safe_load((live.repo.checkout / "examples" / "gitops" / "models" / "iris.yaml").read_text())
    body["metadata"]["name"] = body["spec"]["name"] = "stuck"
    predictor = body["spec"]["predictors"][0]
    # no node has this label, so the scheduler never places the pods; past the deadline the
    # Deployment stops progressing and the operator says Failed, with the reason
    predictor["progressDeadlineSeconds"] = 2
    predictor["componentSpecs"][0]["spec"]["nodeSelector"] = {"wharf.test/no-such-node": "true"}
    (live.repo.checkout / "examples" / "gitops" / "models" / "stuck.yaml").write_text(
        yaml.safe_dump(body, sort_keys=False)
    )
    sha = live.repo.commit("a model that cannot be scheduled")

    app = live.wait_app("wharf-models", "Synced", "Degraded", timeout=150, revision=sha)
    (stuck,) = [r for r in app["status"]["resources"] if r["kind"] == "SeldonDeployment" and r["name"] == "stuck"]
    sdep = live.get("seldondeployments.machinelearning.seldon.io", "stuck", MODELS_NS)
    assert sdep["status"]["state"] == "Failed"
    assert stuck["health"] == {"status": "Degraded", "message": sdep["status"]["description"]}
    assert stuck["health"]["message"] == "Deployment is no longer progressing and not available."
    # the root Application carries its child's health (the example's Application health check)
    assert live.app_state("wharf-root")[1] == "Degraded"
