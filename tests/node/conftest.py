"""Fixtures of the end-to-end tests on the real node: Wharf installed with its chart, example images loaded.

Images are built from this checkout (cached layers make a rebuild take seconds) and copied into the
node's containerd; nothing is pulled. Everything here is session-scoped: one install of wharf-core
serves every end-to-end test.
"""

from __future__ import annotations

import pytest
from node_support import EXAMPLES, ROOT, cluster_report, helm, restricted_namespace


@pytest.fixture(scope="session")
def wharf_images(kube_node) -> dict[str, str]:
    """Wharf's operator and orchestrator images, built from this checkout and loaded into the node."""
    from wharf.build.service_images import build_operator_image, build_orchestrator_image

    images = {"operator": build_operator_image(progress=None), "orchestrator": build_orchestrator_image(progress=None)}
    kube_node.load(*images.values())
    return images


@pytest.fixture(scope="session")
def wharf_core(kube_node, wharf_images):
    """`helm install wharf charts/wharf-core --wait` with default values, in a restricted namespace."""
    namespace = restricted_namespace(kube_node, "wharf-system")
    try:
        helm(
            kube_node,
            "install",
            "wharf",
            str(ROOT / "charts" / "wharf-core"),
            "-n",
            namespace,
            "--wait",
            "--timeout",
            "5m",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster_report(kube_node, namespace)}") from None
    yield namespace
    helm(kube_node, "uninstall", "wharf", "-n", namespace, "--wait", check=False)
    kube_node.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="session")
def example_images(kube_node) -> dict[str, str]:
    """The example models (iris, scaler transformer, epsilon-greedy router) built with `invoke build`'s code."""
    from wharf.build.builder import build_builder
    from wharf.build.model import build_model

    builder = build_builder("3.12", progress=None)[0]
    images = {
        name: build_model(EXAMPLES / folder, f"wharf-e2e/{name}:1", builder=builder, progress=None).tags[0]
        for name, folder in (("iris", "iris"), ("scaler", "scaler"), ("router", "epsilon-router"))
    }
    kube_node.load(*images.values())
    return images


@pytest.fixture(scope="session")
def server_images(kube_node) -> dict[str, str]:
    """The prepackaged SKLEARN_SERVER and the storage initializer the operator's defaults name."""
    from wharf.build.service_images import SERVER_IMAGES, build_service_image

    images = {image.name: build_service_image(image, progress=None) for image in SERVER_IMAGES}
    kube_node.load(*images.values())
    return images


@pytest.fixture(scope="session")
def node_s3(tmp_path_factory):
    """A real S3 API (moto) on the node's address, where pods (the storage initializer) reach it."""
    from wharf.testing import infra
    from wharf.testing.node import NODE_IP
    from wharf.testing.s3 import moto_server_bin, s3_server

    if moto_server_bin() is None:
        infra.unavailable("the moto S3 server", "run `python -m wharf.testing.s3` to install it in its own venv")
    with s3_server(tmp_path_factory.mktemp("moto") / "moto.log", host=NODE_IP) as endpoint:
        yield endpoint
