"""The operator image runs the operator as UID 1001 with a read-only root filesystem against a real
API server (host network: the test API server listens on loopback only)."""

from __future__ import annotations

import pytest
from sdep_support import apply, install_crd, sdep, wait_for

from wharf.testing import infra

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def operator_image() -> str:
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means no usable engine
        infra.unavailable("a Docker engine", f"start dockerd (docs: shared notes) ({exc})")
    from wharf.build.service_images import build_operator_image

    # Built from this checkout every time (cached layers: seconds), never an older image with the tag.
    return build_operator_image(progress=None)


def test_operator_image_reconciles_as_non_root_with_a_read_only_root(
    kube_api, kube_namespace, operator_image, tmp_path
):
    import docker

    install_crd(kube_api)
    # The harness's kubeconfig is 0600 root; UID 1001 in the container needs a readable copy.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(kube_api.kubeconfig.read_bytes())
    kubeconfig.chmod(0o644)
    tmp_path.chmod(0o755)
    client = docker.from_env()
    container = client.containers.run(
        operator_image,
        ["--namespace", kube_namespace, "--standalone"],
        detach=True,
        network_mode="host",
        # /tmp as tmpfs, as the chart mounts an emptyDir: the kubernetes client writes the CA there.
        read_only=True,
        tmpfs={"/tmp": "size=16m"},
        user="1001:0",
        environment={"KUBECONFIG": "/kube/config"},
        volumes={str(kubeconfig): {"bind": "/kube/config", "mode": "ro"}},
    )
    try:
        apply(kube_api, sdep("imaged", kube_namespace))
        try:
            wait_for(
                "the Deployment made by the containerised operator",
                lambda: (
                    kube_api.kubectl(
                        "get", "deployment", "imaged-main-0-model", "-n", kube_namespace, check=False
                    ).returncode
                    == 0
                ),
                timeout=90,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\noperator log:\n{container.logs(tail=40).decode(errors='replace')}") from None
        container.reload()
        assert container.status == "running"
        assert container.attrs["Config"]["User"] == "1001:0"
    finally:
        logs = container.logs(tail=30).decode(errors="replace")
        container.remove(force=True)
    assert "Traceback" not in logs, logs
