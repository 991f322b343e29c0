"""Install wharf-core and wharf-model from an OCI registry, images pinned by digest, with Helm 3 and Helm 4.

The release steps run for real: images are pushed with `docker push` to a registry on loopback
(Debian's docker-registry), charts are packaged and pushed with `helm push`, and each major installs
them with `helm install oci://127.0.0.1:PORT/charts/<chart> --version X` onto the API server harness.

There is no kubelet here, so no image is pulled: the real node belongs to other tests of this
session and is not started for this one. What is checked is what a node would pull: the operator
Deployment the cluster stores names `127.0.0.1:PORT/wharf/operator@sha256:...`, the digest the
registry answers for that manifest, and the model's Deployment that the operator would create (its
render() fed with the operator's environment as installed and the SeldonDeployment as stored) names
the model and the orchestrator images by their digests too.

The images are small stand-ins made for this test (one file each, `docker import`), pushed under the
real image names: their content does not matter to pinning, and full images would add minutes of
pushing to CI for no more coverage.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import urllib.request

import pytest
import yaml
from chart_support import CHARTS

from wharf.release.oci import package_chart, push_chart, push_image
from wharf.testing import infra

pytestmark = [pytest.mark.helm, pytest.mark.apiserver, pytest.mark.docker]

IMAGES = ["wharf/operator", "wharf/orchestrator", "wharf/iris"]
MANIFEST_TYPES = ", ".join(
    ["application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"]
)


def _stub_image(tag: str, content: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = content.encode()
        info = tarfile.TarInfo("stand-in.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    done = subprocess.run(["docker", "import", "-", tag], input=buf.getvalue(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()


def _chart_version(chart: str) -> str:
    return yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())["version"]


@pytest.fixture(scope="module")
def release(oci_registry, helm, tmp_path_factory):
    """Images and both charts in the registry: {"digests": {repository: digest}, "registry": address}."""
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode != 0:
        infra.unavailable("a Docker engine", "start dockerd (.ci/run does)")
    registry = oci_registry.address
    made = []
    digests = {}
    try:
        for repository in IMAGES:
            local = f"wharf-test/oci-{repository.split('/')[1]}:stand-in"
            _stub_image(local, f"{repository} stand-in for the OCI install test\n")
            made += [local, f"{registry}/{repository}:0.0.0-oci"]
            digests[repository] = push_image(local, registry, repository, "0.0.0-oci")
        out = tmp_path_factory.mktemp("charts")
        for chart in ("wharf-core", "wharf-model"):
            push_chart(helm, package_chart(helm, CHARTS / chart, out), registry)
        yield {"registry": registry, "digests": digests}
    finally:
        if made:
            subprocess.run(["docker", "rmi", *made], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def crd_cluster(kube_api):
    from wharf.deployment.crd import crd

    kube_api.apply_crd(crd())
    return kube_api


def _helm(binary, kube_api, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(binary), f"--kubeconfig={kube_api.kubeconfig}", *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stderr}"
    return done


def _install(binary, kube_api, release_name, chart, namespace, registry, values, tmp_path):
    values_file = tmp_path / f"{chart}-values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    return _helm(
        binary,
        kube_api,
        "install",
        release_name,
        f"oci://{registry}/charts/{chart}",
        "--version",
        _chart_version(chart),
        "--plain-http",
        "--namespace",
        namespace,
        "--values",
        str(values_file),
    )


def test_install_from_the_registry_pins_every_image_by_digest(
    helm_major, release, crd_cluster, kube_namespace, tmp_path
):
    major, helm = helm_major
    registry, digests = release["registry"], release["digests"]
    pinned = {repo: f"{registry}/{repo}@{digest}" for repo, digest in digests.items()}
    core_values = {
        "crds": {"enabled": False},  # the CRD is the cluster's already (applied above)
        "image": {"registry": registry, "repository": "wharf/operator", "digest": digests["wharf/operator"]},
        "executor": {
            "image": {"registry": registry, "repository": "wharf/orchestrator", "digest": digests["wharf/orchestrator"]}
        },
    }
    core = _install(helm, crd_cluster, f"core{major}", "wharf-core", kube_namespace, registry, core_values, tmp_path)
    assert "STATUS: deployed" in core.stdout
    model = _install(
        helm,
        crd_cluster,
        f"model{major}",
        "wharf-model",
        kube_namespace,
        registry,
        {"model": {"image": pinned["wharf/iris"]}},
        tmp_path,
    )
    assert "STATUS: deployed" in model.stdout

    # The release records the chart it came from, with the version asked.
    listed = json.loads(_helm(helm, crd_cluster, "list", "-n", kube_namespace, "-o", "json").stdout)
    assert {(r["name"], r["chart"]) for r in listed} == {
        (f"core{major}", f"wharf-core-{_chart_version('wharf-core')}"),
        (f"model{major}", f"wharf-model-{_chart_version('wharf-model')}"),
    }

    # The operator Deployment as the cluster stores it: the image a node would pull, by digest.
    deployments = json.loads(crd_cluster.kubectl("get", "deployments", "-n", kube_namespace, "-o", "json").stdout)[
        "items"
    ]
    assert len(deployments) == 1
    container = deployments[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == pinned["wharf/operator"]
    env = {e["name"]: e.get("value") for e in container.get("env", []) if "value" in e}
    assert env["EXECUTOR_CONTAINER_IMAGE_AND_VERSION"] == pinned["wharf/orchestrator"]

    # The registry serves each of those manifests by that digest.
    for repo, digest in digests.items():
        request = urllib.request.Request(
            f"http://{registry}/v2/{repo}/manifests/{digest}", method="HEAD", headers={"Accept": MANIFEST_TYPES}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200 and resp.headers["Docker-Content-Digest"] == digest

    # What the operator would create from the SeldonDeployment the model chart installed.
    from wharf.operator.config import OperatorConfig
    from wharf.operator.render import render

    sdeps = json.loads(crd_cluster.kubectl("get", "seldondeployments", "-n", kube_namespace, "-o", "json").stdout)[
        "items"
    ]
    assert len(sdeps) == 1
    objects = render(sdeps[0], OperatorConfig.from_env(env))
    images = {
        c["image"] for o in objects if o["kind"] == "Deployment" for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert images == {pinned["wharf/iris"], pinned["wharf/orchestrator"]}

    for name in (f"model{major}", f"core{major}"):
        _helm(helm, crd_cluster, "uninstall", name, "-n", kube_namespace)
