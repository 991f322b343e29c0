"""Fixtures shared by every test folder: a real Kubernetes API server (issue 7).

Interface (for operator, chart and deploy tests):

``kube_api`` (session scope) yields a :class:`KubeAPI` with
  - ``.kubeconfig``   Path of an admin kubeconfig (token auth, system:masters; pass it to kubectl/helm/kopf)
  - ``.server``       the API server URL, e.g. ``https://127.0.0.1:41234``
  - ``.api_client()`` a new ``kubernetes.client.ApiClient`` for that cluster
  - ``.kubectl(*args, check=True, input=None)`` runs ``kubectl --kubeconfig ... args``; returns CompletedProcess
  - ``.local``        True when this harness started the control plane itself
  - ``.fake_nodes``   True when Deployments can become Available: locally, KWOK + kube-scheduler run
                      (create a node with wharf.testing.apiserver.fake_node_manifest); on an
                      external cluster, it has at least one node
  - ``.apply_crd(crd_dict)`` server-side applies a CRD and waits until it is Established
``kube_namespace`` (function scope) yields the name of a fresh namespace, deleted afterwards.

Local harness: etcd + kube-apiserver + kube-controller-manager (and kube-scheduler + KWOK when built)
on loopback, binaries from ``invoke cluster.build-binaries``. No kubelet: Pods are never run, but the
controller-manager creates ReplicaSets/Pods and the API does real validation, defaulting, RBAC and
server-side apply. If ``WHARF_KUBECONFIG`` is set, that cluster is used instead and nothing is started.

Any test that uses these fixtures is given the ``apiserver`` marker automatically; when the binaries
are missing it is skipped locally and fails under ``CI=true`` (wharf.testing.infra.unavailable).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from wharf.testing import infra

KUBE_FIXTURES = {"kube_api", "kube_namespace"}
NODE_FIXTURES = {"kube_node", "node_namespace"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if KUBE_FIXTURES & fixtures:
            item.add_marker(pytest.mark.apiserver)
        if NODE_FIXTURES & fixtures:
            item.add_marker(pytest.mark.kubelet)


@dataclass
class KubeAPI:
    kubeconfig: Path
    server: str
    local: bool
    fake_nodes: bool

    def api_client(self):
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [_kubectl_command(self.local), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def apply_crd(self, crd: dict, timeout: float = 60) -> None:
        """Server-side apply a CustomResourceDefinition and wait until it is Established."""
        import json
        import time

        self.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=wharf-tests",
            "-f",
            "-",
            input=json.dumps(crd),
        )
        deadline = time.monotonic() + timeout
        while True:  # `kubectl wait` errors out while a new CRD has no conditions yet
            # (the filter fails outright while .status.conditions is still null: not yet, not an error)
            state = self.kubectl(
                "get",
                f"crd/{crd['metadata']['name']}",
                "-o",
                "jsonpath={.status.conditions[?(@.type=='Established')].status}",
                check=False,
            ).stdout
            if state.strip() == "True":
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"CRD {crd['metadata']['name']} not Established after {timeout:.0f} s")
            time.sleep(0.3)


def _kubectl_command(local: bool) -> str:
    """A local harness is tested with the kubectl built from its own release (same minor version)."""
    from wharf.testing import kube_binaries

    built = kube_binaries.binary_path("kubectl")
    return str(built) if local and os.access(built, os.X_OK) else "kubectl"


@pytest.fixture(scope="session")
def kube_api():
    external = os.environ.get("WHARF_KUBECONFIG")
    if external:
        from kubernetes import client, config

        with config.new_client_from_config(config_file=external) as api:
            host = api.configuration.host
            has_nodes = bool(client.CoreV1Api(api).list_node(limit=1).items)
        yield KubeAPI(Path(external), host, local=False, fake_nodes=has_nodes)
        return

    from wharf.testing import apiserver, kube_binaries

    missing = kube_binaries.missing_binaries()
    if missing:
        infra.unavailable(
            f"the Kubernetes control plane ({', '.join(p.name for p in missing)})",
            apiserver.missing_binary_message(missing) + "; or set WHARF_KUBECONFIG to a cluster",
        )
    plane = apiserver.start_control_plane()
    try:
        fake_nodes = any(p.name == "kwok" for p in plane.processes)
        yield KubeAPI(plane.kubeconfig, plane.server, local=True, fake_nodes=fake_nodes)
    finally:
        plane.stop()


@pytest.fixture
def kube_namespace(kube_api):
    from kubernetes import client

    name = f"wharf-test-{uuid.uuid4().hex[:8]}"
    with kube_api.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        try:
            yield name
        finally:
            try:
                core.delete_namespace(name)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise


@dataclass
class KubeNode(KubeAPI):
    """A cluster whose pods really run: the harness's control plane plus one real node."""

    cluster: object = None

    def load(self, *images: str) -> None:
        """Make images of the local Docker engine available to the node (`invoke cluster.load`)."""
        if self.cluster is not None:
            self.cluster.node.load_images(list(images))


@pytest.fixture(scope="session")
def kube_node():
    """Control plane + kubelet node (wharf.testing.node), shared by every ``kubelet`` test of the session.

    With ``WHARF_NODE_KUBECONFIG`` set (a kind cluster, say), that cluster is used; images must then
    be loaded into it by the caller (``kind load docker-image``).
    """
    external = os.environ.get("WHARF_NODE_KUBECONFIG")
    if external:
        yield KubeNode(Path(external), "", local=False, fake_nodes=True)
        return
    from wharf.testing import node

    problems = node.missing_prerequisites()
    if problems:
        infra.unavailable("a real Kubernetes node", "it needs " + "; ".join(problems))
    cluster = node.start_cluster()
    try:
        yield KubeNode(cluster.kubeconfig, cluster.plane.server, local=True, fake_nodes=False, cluster=cluster)
    finally:
        cluster.stop()


@pytest.fixture
def node_namespace(kube_node):
    """A fresh namespace on the real node, labelled to enforce the restricted Pod Security Standard."""
    name = f"wharf-e2e-{uuid.uuid4().hex[:8]}"
    kube_node.kubectl("create", "namespace", name)
    kube_node.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")
    try:
        yield name
    finally:
        kube_node.kubectl("delete", "namespace", name, "--wait=false", check=False)


# --- a real S3 API (moto), for the storage module, the prepackaged servers and the storage initializer ---
@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """A real S3 API (moto server mode) on 127.0.0.1, for the whole session."""
    from wharf.testing.s3 import moto_server_bin, s3_server

    if moto_server_bin() is None:
        infra.unavailable("the moto S3 server", "run `python -m wharf.testing.s3` to install it in its own venv")
    with s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch) -> dict[str, str]:
    """The variables a user exports for an S3-compatible store; moto accepts any key pair."""
    env = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "wharf-test",
        "AWS_SECRET_ACCESS_KEY": "not-a-real-secret-7f3a",
        "AWS_REGION": "us-east-1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def bucket(s3_env) -> str:
    """A fresh bucket, made the way a store's administrator would (outside Wharf)."""
    import uuid

    from wharf.storage import Location, _client, s3_settings

    name = f"models-{uuid.uuid4().hex[:8]}"
    _client(s3_settings(Location("s3", name, ""), s3_env)).make_bucket(name)
    return name


# --- a real Google Cloud Storage JSON API (fake-gcs-server), for gs:// in the storage module ---
@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory):
    """fake-gcs-server (plain HTTP, in memory) on 127.0.0.1 for the whole session; its URL is what
    STORAGE_EMULATOR_HOST takes. It checks no credentials."""
    from wharf.testing.gcs import BUILD_COMMAND, fake_gcs_server_bin, gcs_server

    if fake_gcs_server_bin() is None:
        infra.unavailable("fake-gcs-server", f"run `{BUILD_COMMAND}` to build it from its Go module")
    with gcs_server(tmp_path_factory.mktemp("fake-gcs") / "fake-gcs-server.log") as endpoint:
        yield endpoint


GCS_CREDENTIAL_VARIABLES = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS",
    "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_FILE",
    "RCLONE_CONFIG_GS_ANONYMOUS",
    "RCLONE_CONFIG_GS_ENV_AUTH",
    "RCLONE_CONFIG_GS_ENDPOINT",
    "RCLONE_CONFIG_GS_TYPE",
)


@pytest.fixture
def gcs_env(gcs_endpoint, monkeypatch) -> dict[str, str]:
    """The emulator's address and no credential of this shell's: anonymous access, the default."""
    for name in GCS_CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    return {"STORAGE_EMULATOR_HOST": gcs_endpoint}


@pytest.fixture
def gcs_bucket(gcs_env) -> str:
    """A fresh bucket, made with Google's client the way a store's administrator would (outside Wharf)."""
    import uuid

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    name = f"models-{uuid.uuid4().hex[:8]}"
    with storage.Client(
        project="wharf-test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs_env["STORAGE_EMULATOR_HOST"]},
    ) as client:
        client.create_bucket(name)
    return name


@pytest.fixture(params=["s3", "gs"])
def model_bucket(request) -> tuple[str, dict[str, str]]:
    """A fresh bucket on the S3 API (moto) and, in a second run of the test, on the GCS one
    (fake-gcs-server): its ``s3://<bucket>`` or ``gs://<bucket>`` prefix and the env that reaches it."""
    if request.param == "s3":
        return f"s3://{request.getfixturevalue('bucket')}", request.getfixturevalue("s3_env")
    return f"gs://{request.getfixturevalue('gcs_bucket')}", request.getfixturevalue("gcs_env")


@pytest.fixture(scope="module")
def oci_registry(tmp_path_factory):
    """A real OCI registry (Debian's docker-registry) on 127.0.0.1:<free port>, stopped by pid after the module."""
    from wharf.testing.oci_registry import (
        INSTALL_HINT,
        RegistryUnavailable,
        registry_binary,
    )
    from wharf.testing.oci_registry import (
        oci_registry as run_registry,
    )

    try:
        registry_binary()
    except RegistryUnavailable:
        infra.unavailable("docker-registry", INSTALL_HINT)
    with run_registry(tmp_path_factory.mktemp("oci-registry")) as registry:
        yield registry
