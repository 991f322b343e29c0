"""The operator, run in-process (kopf) against a real kube-apiserver + kube-controller-manager.

There is no kubelet here (KWOK only when the harness has it), so Pods never run. Two real paths
still drive the status without one: a Deployment scaled to 0 replicas is marked Available by the
controller-manager, and a Deployment whose Pods cannot become ready (here: a nodeSelector no node
has) is marked ProgressDeadlineExceeded after ``progressDeadlineSeconds``.
"""

from __future__ import annotations

import threading

import pytest
import yaml
from kubernetes import client
from sdep_support import apply, install_crd, running_operator, sdep, wait_for


@pytest.fixture
def operator_ns(kube_api, kube_namespace, monkeypatch):
    install_crd(kube_api)
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    monkeypatch.setenv("EXECUTOR_CONTAINER_IMAGE_AND_VERSION", "wharf/orchestrator:test")
    with running_operator(kube_namespace):
        yield kube_namespace


def get(kube_api, kind: str, name: str, ns: str, *extra: str) -> dict | None:
    proc = kube_api.kubectl("get", kind, name, "-n", ns, "-o", "yaml", *extra, check=False)
    return yaml.safe_load(proc.stdout) if proc.returncode == 0 else None


def status(kube_api, name: str, ns: str) -> dict:
    return (get(kube_api, "sdep", name, ns) or {}).get("status") or {}


def argo_health(kube_api, name: str, ns: str) -> dict:
    """What Argo CD's health check (examples/gitops/argocd) says of the live SeldonDeployment."""
    from wharf.gitops.argocd import health_script, run_health_check

    return run_health_check(
        get(kube_api, "sdep", name, ns), health_script("machinelearning.seldon.io", "SeldonDeployment")
    )


def test_objects_created_owned_updated_pruned_and_garbage_collected(kube_api, operator_ns) -> None:
    ns = operator_ns
    body = sdep(
        "chain",
        ns,
        graph={"name": "classifier", "children": [{"name": "model2"}]},
        containers=["classifier", "model2"],
        replicas=0,
    )
    apply(kube_api, body)
    uid = get(kube_api, "sdep", "chain", ns)["metadata"]["uid"]
    dep = wait_for("the Deployment", lambda: get(kube_api, "deployment", "chain-main-0-classifier-model2", ns))
    for name in ("chain-main", "chain-main-classifier", "chain-main-model2"):
        svc = wait_for(f"Service {name}", lambda name=name: get(kube_api, "service", name, ns))
        assert [(r["kind"], r["uid"], r["controller"]) for r in svc["metadata"]["ownerReferences"]] == [
            ("SeldonDeployment", uid, True)
        ]
    assert dep["metadata"]["ownerReferences"][0]["uid"] == uid
    containers = [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
    assert containers == ["classifier", "model2", "seldon-container-engine"]
    managers = get(kube_api, "deployment", "chain-main-0-classifier-model2", ns, "--show-managed-fields")
    assert ("wharf-operator", "Apply") in [
        (m["manager"], m["operation"]) for m in managers["metadata"]["managedFields"]
    ]

    # 0 replicas: the controller-manager marks the Deployment Available, so the sdep becomes Available.
    st = wait_for("state Available", lambda: (s := status(kube_api, "chain", ns)).get("state") == "Available" and s)
    assert st["deploymentStatus"]["chain-main-0-classifier-model2"]["status"] == "Available"
    assert argo_health(kube_api, "chain", ns) == {"status": "Healthy", "message": "SeldonDeployment is Available"}
    assert st["serviceStatus"]["chain-main"]["httpEndpoint"] == f"chain-main.{ns}:8000"
    assert st["address"]["url"] == f"http://chain-main.{ns}.svc.cluster.local:8000/api/v1.0/predictions"

    # Change the graph: the new Deployment appears, the old one and the stale Service are pruned.
    body["spec"]["predictors"][0]["graph"]["children"][0]["name"] = "model3"
    body["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][1]["name"] = "model3"
    apply(kube_api, body)
    wait_for("the new Deployment", lambda: get(kube_api, "deployment", "chain-main-0-classifier-model3", ns))
    wait_for(
        "the old Deployment pruned", lambda: get(kube_api, "deployment", "chain-main-0-classifier-model2", ns) is None
    )
    wait_for("the old Service pruned", lambda: get(kube_api, "service", "chain-main-model2", ns) is None)
    st = wait_for(
        "status without the pruned Deployment",
        lambda: (
            (s := status(kube_api, "chain", ns)).get("deploymentStatus", {}).keys()
            == {"chain-main-0-classifier-model3"}
            and s
        ),
    )

    # Delete the sdep: the garbage collector removes what it owned.
    kube_api.kubectl("delete", "sdep", "chain", "-n", ns, "--wait=false")
    wait_for(
        "garbage collection of the Deployment",
        lambda: get(kube_api, "deployment", "chain-main-0-classifier-model3", ns) is None,
        timeout=90,
    )
    wait_for(
        "garbage collection of the Service", lambda: get(kube_api, "service", "chain-main", ns) is None, timeout=90
    )


def test_unschedulable_pods_past_the_progress_deadline_give_failed(kube_api, operator_ns) -> None:
    ns = operator_ns
    body = sdep("stuck", ns)
    predictor = body["spec"]["predictors"][0]
    predictor["progressDeadlineSeconds"] = 2
    predictor["componentSpecs"][0]["spec"]["nodeSelector"] = {"wharf.test/no-such-node": "true"}
    apply(kube_api, body)
    st = wait_for(
        "state Failed", lambda: (s := status(kube_api, "stuck", ns)).get("state") == "Failed" and s, timeout=90
    )
    assert st["description"] == "Deployment is no longer progressing and not available."
    assert argo_health(kube_api, "stuck", ns) == {
        "status": "Degraded",
        "message": "Deployment is no longer progressing and not available.",
    }


def test_unrenderable_sdep_fails_with_the_field_and_others_still_reconcile(kube_api, operator_ns) -> None:
    ns = operator_ns
    # Valid for the CRD (a prepackaged server with a modelUri), but this operator knows no FOO_SERVER.
    bad = sdep(
        "bad", ns, graph={"name": "m", "implementation": "FOO_SERVER", "modelUri": "gs://b/m"}, containers=["other"]
    )
    apply(kube_api, bad)
    apply(kube_api, sdep("good", ns, replicas=0))
    st = wait_for("state Failed", lambda: (s := status(kube_api, "bad", ns)).get("state") == "Failed" and s)
    assert "spec.predictors[0].graph.implementation" in st["description"]
    assert "FOO_SERVER" in st["description"]
    assert argo_health(kube_api, "bad", ns) == {"status": "Degraded", "message": st["description"]}
    wait_for("the good sdep's Deployment", lambda: get(kube_api, "deployment", "good-main-0-model", ns))
    with kube_api.api_client() as api:
        events = client.CoreV1Api(api).list_namespaced_event(ns).items
    assert any(e.reason == "RenderFailed" and e.involved_object.name == "bad" for e in events)
    # Fixing it recovers: the server-side state follows the spec again.
    bad["spec"]["predictors"][0]["graph"] = {"name": "other"}
    apply(kube_api, bad)
    wait_for("the fixed sdep's Deployment", lambda: get(kube_api, "deployment", "bad-main-0-other", ns))
    wait_for("state no longer Failed", lambda: status(kube_api, "bad", ns).get("state") in ("Creating", "Available"))


def test_available_when_pods_run(kube_api, operator_ns) -> None:
    """With KWOK's fake nodes the Pods report Running/Ready, so the Deployments become Available."""
    if not kube_api.fake_nodes:
        from wharf.testing import infra

        infra.unavailable("KWOK fake nodes", "build them with `invoke cluster.build-binaries` (kwok, kube-scheduler)")
    from wharf.testing.apiserver import fake_node_manifest

    ns = operator_ns
    node = f"kwok-{ns}"
    if kube_api.local:
        kube_api.kubectl("apply", "-f", "-", input=yaml.safe_dump(fake_node_manifest(node)))
    try:
        apply(kube_api, sdep("running", ns, replicas=2))
        seen: dict = {}

        def is_available() -> dict | bool:
            seen["status"] = status(kube_api, "running", ns)
            return seen["status"].get("state") == "Available" and seen["status"]

        try:
            st = wait_for("state Available", is_available, timeout=120)
        except AssertionError as exc:
            # Say what the operator last wrote and what the Deployment and its pods showed.
            pods = kube_api.kubectl("get", "deploy,pods", "-n", ns, "-o", "wide", check=False).stdout
            raise AssertionError(f"{exc}\nstatus: {seen.get('status')}\n{pods}") from None
    finally:
        if kube_api.local:
            kube_api.kubectl("delete", "node", node, "--wait=false", check=False)
    assert st["replicas"] == 2
    assert argo_health(kube_api, "running", ns)["status"] == "Healthy"
    assert st["deploymentStatus"]["running-main-0-model"] == {
        "name": "running-main-0-model",
        "status": "Available",
        "replicas": 2,
        "availableReplicas": 2,
    }
    # `kubectl scale` goes through the CRD's scale subresource to spec.replicas, and on to the Deployment.
    kube_api.kubectl("scale", "sdep/running", "-n", ns, "--replicas=1")
    wait_for(
        "the Deployment scaled to 1",
        lambda: (get(kube_api, "deployment", "running-main-0-model", ns) or {}).get("spec", {}).get("replicas") == 1,
    )


def test_status_writes_of_one_sdep_wait_for_each_other_and_the_last_reads_last(kube_api, kube_namespace) -> None:
    """Two handlers' writes, the first slow: the second reads only after the first has patched.

    Without the lock the second would read first, and the first's older view (``Creating``) would
    land last and stay, which is how an sdep whose pods were all ready once stayed ``Creating``.
    """
    from wharf.operator.handlers import Cluster, StatusWriter

    install_crd(kube_api)
    apply(kube_api, sdep("raced", kube_namespace, replicas=0))
    first_inside, release = threading.Event(), threading.Event()
    seen_by_second: list = []

    def slow_creating(_live: dict) -> dict:
        first_inside.set()
        release.wait(10)
        return {"state": "Creating"}

    def available(live: dict) -> dict:
        seen_by_second.append((live.get("status") or {}).get("state"))
        return {"state": "Available"}

    with kube_api.api_client() as api:
        writer = StatusWriter(Cluster(api))
        first = threading.Thread(target=writer.write, args=(kube_namespace, "raced", slow_creating))
        first.start()
        assert first_inside.wait(10)
        second = threading.Thread(target=writer.write, args=(kube_namespace, "raced", available))
        second.start()
        second.join(0.5)
        assert second.is_alive() and seen_by_second == [], "the second write did not wait for the first"
        release.set()
        first.join(10)
        second.join(10)
    assert seen_by_second == ["Creating"]
    assert status(kube_api, "raced", kube_namespace)["state"] == "Available"


def test_status_writer_leaves_a_deleted_sdep_alone(kube_api, kube_namespace) -> None:
    from wharf.operator.handlers import Cluster, StatusWriter

    install_crd(kube_api)
    with kube_api.api_client() as api:
        computed = []
        assert StatusWriter(Cluster(api)).write(kube_namespace, "never-made", computed.append) is None
    assert computed == []


def test_a_status_that_missed_an_event_catches_up_on_resync(kube_api, operator_ns) -> None:
    """A status left behind (here: overwritten by hand, as a dropped watch event would leave it) is
    corrected by the 30 s resync, with no change to the sdep or its Deployment to trigger it."""
    ns = operator_ns
    apply(kube_api, sdep("stale", ns, replicas=0))
    wait_for("state Available", lambda: status(kube_api, "stale", ns).get("state") == "Available")
    kube_api.kubectl(
        "patch",
        "sdep/stale",
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"state": "Creating"}}',
    )
    assert status(kube_api, "stale", ns)["state"] == "Creating"
    wait_for(
        "the resync to restore Available", lambda: status(kube_api, "stale", ns).get("state") == "Available", timeout=75
    )
