"""The API-server harness is a real Kubernetes API: storage, controllers, validation, server-side apply.

Every test here uses ``kube_api`` and so carries the ``apiserver`` marker (see tests/conftest.py).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from kubernetes import client

from wharf.testing import infra, kube_binaries


def wait_for(what: str, check, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def deployment(name: str, replicas: int = 1) -> client.V1Deployment:
    labels = {"app": name}
    container = client.V1Container(name="main", image="registry.k8s.io/pause:3.10")
    pod = client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels=labels),
        spec=client.V1PodSpec(
            containers=[container],
            tolerations=[client.V1Toleration(key="kwok.x-k8s.io/node", operator="Exists", effect="NoSchedule")],
        ),
    )
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas, selector=client.V1LabelSelector(match_labels=labels), template=pod
        ),
    )


def test_server_reports_its_version(kube_api):
    with kube_api.api_client() as api:
        info = client.VersionApi(api).get_code()
    assert info.major == "1" and int(info.minor.rstrip("+")) >= 32
    if kube_api.local:
        # the version ldflags were applied: not the v0.0.0-master of a plain `go build`
        assert info.git_version == f"v{kube_binaries.KUBERNETES_VERSION}"


def test_deployment_is_stored_and_the_controller_manager_makes_its_replicaset(kube_api, kube_namespace):
    with kube_api.api_client() as api:
        apps = client.AppsV1Api(api)
        apps.create_namespaced_deployment(kube_namespace, deployment("web", replicas=2))
        stored = apps.read_namespaced_deployment("web", kube_namespace)
        # defaulting ran on the server
        assert stored.spec.strategy.type == "RollingUpdate"

        def owned_replicaset():
            for rs in apps.list_namespaced_replica_set(kube_namespace).items:
                if any(ref.kind == "Deployment" and ref.name == "web" for ref in rs.metadata.owner_references or []):
                    return rs
            return None

        rs = wait_for("the ReplicaSet of deployment web", owned_replicaset)
        assert rs.spec.replicas == 2
        pods = wait_for(
            "the Pods of the ReplicaSet",
            lambda: (
                [
                    p
                    for p in client.CoreV1Api(api).list_namespaced_pod(kube_namespace).items
                    if p.metadata.owner_references and p.metadata.owner_references[0].name == rs.metadata.name
                ]
                if len(client.CoreV1Api(api).list_namespaced_pod(kube_namespace).items) >= 2
                else None
            ),
        )
        assert len(pods) == 2


@pytest.fixture
def widget_crd(kube_api):
    """A namespaced CRD with a unique group, so runs against a shared cluster never collide."""
    group = f"t{uuid.uuid4().hex[:8]}.wharf.test"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["replicas"],
                                    "properties": {
                                        "replicas": {"type": "integer", "minimum": 0},
                                        "colour": {"type": "string", "enum": ["red", "blue"]},
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    kube_api.kubectl("apply", "--server-side", "--field-manager=wharf-test", "-f", "-", input=json.dumps(crd))
    kube_api.kubectl("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=60s")
    yield group
    kube_api.kubectl("delete", f"crd/widgets.{group}", "--wait=false", check=False)


def widget(group: str, namespace: str, spec: dict) -> str:
    return json.dumps(
        {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w1", "namespace": namespace},
            "spec": spec,
        }
    )


def test_server_side_apply_of_crd_and_custom_resource(kube_api, kube_namespace, widget_crd):
    kube_api.kubectl(
        "apply",
        "--server-side",
        "--field-manager=wharf-test",
        "-f",
        "-",
        input=widget(widget_crd, kube_namespace, {"replicas": 3, "colour": "red"}),
    )
    with kube_api.api_client() as api:
        obj = client.CustomObjectsApi(api).get_namespaced_custom_object(
            widget_crd, "v1", kube_namespace, "widgets", "w1"
        )
    assert obj["spec"] == {"replicas": 3, "colour": "red"}
    # server-side apply records who owns which field
    assert [m["manager"] for m in obj["metadata"]["managedFields"]] == ["wharf-test"]

    # a second manager taking a field it does not own is a conflict the server reports
    conflict = kube_api.kubectl(
        "apply",
        "--server-side",
        "--field-manager=someone-else",
        "-f",
        "-",
        input=widget(widget_crd, kube_namespace, {"replicas": 5}),
        check=False,
    )
    assert conflict.returncode != 0 and "conflict" in conflict.stderr.lower()


def test_schema_violations_are_rejected_by_the_server(kube_api, kube_namespace, widget_crd):
    wrong_type = kube_api.kubectl(
        "apply",
        "--server-side",
        "-f",
        "-",
        check=False,
        input=widget(widget_crd, kube_namespace, {"replicas": "three"}),
    )
    assert wrong_type.returncode != 0
    assert ".spec.replicas: expected numeric" in wrong_type.stderr, wrong_type.stderr

    # both violations of the openAPIV3Schema are reported, each naming its field
    out_of_range = kube_api.kubectl(
        "apply",
        "--server-side",
        "-f",
        "-",
        check=False,
        input=widget(widget_crd, kube_namespace, {"replicas": -1, "colour": "green"}),
    )
    assert out_of_range.returncode != 0
    assert "spec.replicas: Invalid value: -1" in out_of_range.stderr, out_of_range.stderr
    assert 'spec.colour: Unsupported value: "green"' in out_of_range.stderr, out_of_range.stderr

    with kube_api.api_client() as api:
        with pytest.raises(client.ApiException) as caught:
            client.CustomObjectsApi(api).create_namespaced_custom_object(
                widget_crd,
                "v1",
                kube_namespace,
                "widgets",
                json.loads(widget(widget_crd, kube_namespace, {"replicas": -1})),
            )
        assert caught.value.status == 422
        assert "spec.replicas" in caught.value.body
        # nothing half-created
        listed = client.CustomObjectsApi(api).list_namespaced_custom_object(widget_crd, "v1", kube_namespace, "widgets")
        assert listed["items"] == []


def test_built_in_schema_is_enforced_too(kube_api, kube_namespace):
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bad", "namespace": kube_namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "a"}},
            "template": {
                "metadata": {"labels": {"app": "other"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    proc = kube_api.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(bad), check=False)
    assert proc.returncode != 0
    assert "selector" in proc.stderr and "does not match template" in proc.stderr, proc.stderr


def test_rbac_is_enforced(kube_api, kube_namespace):
    """A ServiceAccount with no bindings is forbidden: authorization is real, not allow-all."""
    can = kube_api.kubectl(
        "auth",
        "can-i",
        "create",
        "deployments",
        "-n",
        kube_namespace,
        f"--as=system:serviceaccount:{kube_namespace}:nobody",
        check=False,
    )
    assert can.stdout.strip() == "no"
    assert kube_api.kubectl("auth", "can-i", "create", "deployments", "-n", kube_namespace).stdout.strip() == "yes"
    if kube_api.local:
        # the scheduler runs with its bootstrap role only, not as an admin
        scheduler = kube_api.kubectl(
            "auth", "can-i", "create", "secrets", "-n", kube_namespace, "--as=system:kube-scheduler", check=False
        )
        assert scheduler.stdout.strip() == "no"


def test_fake_nodes_make_a_deployment_available(kube_api, kube_namespace):
    if not kube_api.fake_nodes and kube_api.local:
        infra.unavailable("KWOK fake nodes", f"build kwok and kube-scheduler with `{kube_binaries.BUILD_COMMAND}`")
    if not kube_api.fake_nodes:
        infra.unavailable("a node in the WHARF_KUBECONFIG cluster", "use a cluster with nodes (kind has one)")
    from wharf.testing.apiserver import fake_node_manifest

    with kube_api.api_client() as api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        if kube_api.local:
            node = f"kwok-{kube_namespace}"
            core.create_node(fake_node_manifest(node))
        try:
            apps.create_namespaced_deployment(kube_namespace, deployment("avail", replicas=2))

            def available():
                d = apps.read_namespaced_deployment_status("avail", kube_namespace)
                conds = {c.type: c.status for c in d.status.conditions or []}
                return d if conds.get("Available") == "True" and d.status.ready_replicas == 2 else None

            wait_for("deployment avail to become Available with 2 ready replicas", available, timeout=120)
        finally:
            if kube_api.local:
                core.delete_node(node)
