"""A release as users consume it, on the real node: charts from an OCI registry, images pulled by digest.

The operator, orchestrator and example model images built for this session are pushed to a real
registry on loopback (Debian's docker-registry) with the release code (`wharf.release.oci`), and
`wharf-core` and `wharf-model` are pushed there as OCI charts. Helm 4 installs both with
`helm install oci://127.0.0.1:PORT/charts/<chart>`, every image pinned by its digest. The node's
containerd pulls them from the registry (containerd speaks plain HTTP to loopback registries
without configuration, as the Docker engine does), and the model answers. The node already holds
the layers (the session loaded the same images under their local tags), so a pull fetches the
manifest and config by digest and finds the layers in its store: what is proven is that the
references resolve in the registry and name exactly the content that runs.

The release runs beside the session's own `wharf-core` (installed from the chart folder): it is
installed for its namespace only and with `controllerId: released`, and its SeldonDeployment carries
that controller id, so exactly one operator, the pulled one, handles it.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import yaml
from node_support import (
    ROOT,
    apply,
    cluster_report,
    get,
    iris_answer,
    job,
    job_output,
    predict,
    python_eval,
    restricted_namespace,
    service_url,
    wait_available,
    wait_for,
)

from wharf.release.oci import package_chart, push_chart, push_image
from wharf.testing import infra

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
TAG = "0.0.0-node"
CONTROLLER = "released"


@pytest.fixture(scope="module")
def registry(oci_registry) -> str:
    return oci_registry.address


@pytest.fixture(scope="module")
def helm4():
    from wharf.charts.helm import HelmUnavailable, ensure_helm, helm_version

    try:
        return ensure_helm(build=False, major=4)
    except HelmUnavailable:
        infra.unavailable(f"helm {helm_version(4)}", "run `invoke charts.helm --helm 4`")


@pytest.fixture(scope="module")
def release(registry, helm4, wharf_images, example_images, tmp_path_factory):
    """Images and charts in the registry; {repository: digest}. Local tags made here are removed after.

    Each image gets the release's OCI labels first, as `invoke release` does (a LABEL step: a new
    image ID, no new layer). That matters beyond realism: the kubelet keeps a record of each image ID
    it pulls and the names it pulled it by (its check that pods may use pulled images, on by default
    since Kubernetes 1.35); pulling the session's own images under the registry's names would make
    later pods that name them by their local tags pull again, from nowhere.
    """
    from wharf.release.publish import Image, ReleaseOptions, labelled, oci_labels

    local = {
        "wharf/operator": wharf_images["operator"],
        "wharf/orchestrator": wharf_images["orchestrator"],
        "wharf/iris": example_images["iris"],
    }
    labels = oci_labels(ReleaseOptions(registry, TAG, out=tmp_path_factory.mktemp("release")))
    made = []
    digests = {}
    try:
        for repository, image in local.items():
            made.append(labelled(Image(image, repository), labels))
            digests[repository] = push_image(made[-1], registry, repository, TAG)
            made.append(f"{registry}/{repository}:{TAG}")
        charts = tmp_path_factory.mktemp("charts")
        for chart in ("wharf-core", "wharf-model"):
            push_chart(helm4, package_chart(helm4, ROOT / "charts" / chart, charts), registry)
        yield digests
    finally:
        subprocess.run(["docker", "rmi", *made], capture_output=True, timeout=120)


def _helm4(helm4, kube, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(helm4), f"--kubeconfig={kube.kubeconfig}", *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def _install(helm4, kube, name: str, chart: str, namespace: str, registry: str, values: dict, tmp_path) -> None:
    values_file = tmp_path / f"{name}.yaml"
    values_file.write_text(yaml.safe_dump(values))
    version = yaml.safe_load((ROOT / "charts" / chart / "Chart.yaml").read_text())["version"]
    _helm4(
        helm4,
        kube,
        "install",
        name,
        f"oci://{registry}/charts/{chart}",
        "--version",
        version,
        "--plain-http",
        "-n",
        namespace,
        "--values",
        str(values_file),
        "--wait",
        "--timeout",
        "5m",
    )


def _image_ids(pods: list[dict]) -> dict[str, tuple[str, str]]:
    """container name -> (the image its pod spec names, the image ID the kubelet reports it ran).

    Not ``containerStatuses[].image``: for content the node already holds under another tag (the
    session loaded these images as ``wharf/...:0.1.0``), the runtime reports that tag there."""
    specs = {c["name"]: c["image"] for pod in pods for c in pod["spec"]["containers"]}
    return {
        status["name"]: (specs[status["name"]], status["imageID"])
        for pod in pods
        for status in pod["status"].get("containerStatuses", [])
    }


def test_the_node_pulls_the_release_by_digest_and_the_model_answers(
    kube_node, wharf_core, wharf_images, example_images, registry, release, helm4, tmp_path
):
    pinned = {repository: f"{registry}/{repository}@{digest}" for repository, digest in release.items()}
    ns = restricted_namespace(kube_node, "released")
    try:
        core = {
            "crds": {"enabled": False},  # the session's wharf-core owns the CRD
            "singleNamespace": True,
            "controllerId": CONTROLLER,
            "image": {"registry": registry, "repository": "wharf/operator", "digest": release["wharf/operator"]},
            "executor": {
                "image": {
                    "registry": registry,
                    "repository": "wharf/orchestrator",
                    "digest": release["wharf/orchestrator"],
                }
            },
        }
        _install(helm4, kube_node, "core", "wharf-core", ns, registry, core, tmp_path)
        operator_pods = get(kube_node, "pods", "-n", ns, "-l", "app.kubernetes.io/instance=core")["items"]
        assert operator_pods, cluster_report(kube_node, ns)
        (operator_ref, operator_id), *_ = _image_ids(operator_pods).values()
        assert operator_ref == pinned["wharf/operator"], operator_ref
        assert operator_id.endswith(release["wharf/operator"]), operator_id

        model = {
            "labels": {"seldon.io/controller-id": CONTROLLER},
            "model": {"image": pinned["wharf/iris"], "imagePullPolicy": "IfNotPresent"},
            "test": {"enabled": False},
        }
        _install(helm4, kube_node, "iris", "wharf-model", ns, registry, model, tmp_path)
        sdep = get(kube_node, "sdep", "-n", ns)["items"][0]["metadata"]["name"]
        wait_available(kube_node, ns, sdep)
        model_pods = get(kube_node, "pods", "-n", ns, "-l", f"seldon-deployment-id={sdep}")["items"]
        ran = _image_ids(model_pods)
        # the model and the orchestrator the pulled operator added, each run from the registry's content
        assert {ref for ref, _ in ran.values()} == {pinned["wharf/iris"], pinned["wharf/orchestrator"]}, ran
        for ref, image_id in ran.values():
            assert image_id.endswith(ref.rsplit("@", 1)[1]), (ref, image_id)

        # the kubelet's own word that it pulled them (not found in the node's store under that name)
        def pulled():
            events = get(kube_node, "events", "-n", ns, "--field-selector", "reason=Pulled")["items"]
            said = " ".join(e["message"] for e in events)
            return all(f'"{ref}"' in said and "Successfully pulled" in said for ref in pinned.values()) and said

        wait_for("Pulled events for every released image", pulled, timeout=60)
        if kube_node.cluster is not None:  # the harness's own node: its image store, as crictl lists it
            stored = kube_node.cluster.node.crictl("images", "--digests", "-o", "json").stdout
            for repository, digest in release.items():
                assert f"{registry}/{repository}@{digest}" in stored, stored[:2000]

        answer = predict(service_url(kube_node, ns, f"{sdep}-default"), ROWS, settle_s=30)
        np.testing.assert_allclose(answer["data"]["ndarray"], iris_answer(ROWS), rtol=1e-9)

        # Pods naming the session's own images by their local tags (pull policy Never) still start:
        # the kubelet's pull records of the released image IDs leave them alone.
        for name, image in (("local-iris", example_images["iris"]), ("local-orch", wharf_images["orchestrator"])):
            apply(kube_node, job(name, image, python_eval("print('started')")), namespace=ns)
            assert job_output(kube_node, ns, name, timeout=120).strip() == "started"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster_report(kube_node, ns)}") from None
    finally:
        for name in ("iris", "core"):
            subprocess.run(
                [str(helm4), f"--kubeconfig={kube_node.kubeconfig}", "uninstall", name, "-n", ns, "--wait"],
                capture_output=True,
                timeout=300,
            )
        kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)
