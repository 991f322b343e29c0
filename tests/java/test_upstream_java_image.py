"""Projects written for Seldon Core's Java wrapper, built as they are by the Java builder (real Docker).

Upstream's own s2i test project (tests/fixtures/upstream-java/testing-s2i-java) is built unchanged by
``wharf.build.java.build_model``: its pom's io.seldon.wrapper:seldon-core-wrapper dependency is
relocated to Wharf's compatibility layer inside the build, its ``.s2i/environment`` (no MODEL_NAME) is
read as upstream's, the image is smoke-tested before it is tagged, and it is run with upstream's run
contract (API_TYPE=GRPC: PREDICTIVE_UNIT_SERVICE_PORT is gRPC, SECONDARY_SERVICE_PORT is REST).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from wharf.build import java
from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as pb_grpc
from wharf.testing import infra

pytestmark = pytest.mark.docker

UPSTREAM = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "upstream-java" / "testing-s2i-java"
IMAGE = "wharf-test/upstream-java:ci"
OTHER_VERSION_IMAGE = "wharf-test/upstream-java-030:ci"
CONSTANT = {"data": {"tensor": {"shape": [1], "values": [1.0]}}}


@pytest.fixture(scope="module")
def client():
    try:
        import docker

        engine = docker.from_env(timeout=900)
        engine.ping()
        return engine
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine means "no docker"
        infra.unavailable(
            f"a Docker engine ({exc.__class__.__name__})",
            "start dockerd (see docs/building-images.md) and export DOCKER_HOST if needed",
        )


@pytest.fixture(scope="module")
def images(client) -> tuple[str, str]:
    return java.build_java_images(progress=None)


@pytest.fixture(scope="module")
def upstream_image(client, images) -> Iterator[tuple[str, list[str]]]:
    log: list[str] = []
    result = java.build_model(
        UPSTREAM, IMAGE, builder=images[0], runtime=images[1], progress=lambda line: log.append(str(line))
    )
    assert result.tags == [IMAGE]
    yield IMAGE, log
    client.images.remove(IMAGE, force=True, noprune=True)


def test_the_build_relocates_upstreams_wrapper_to_wharfs_layer(upstream_image) -> None:
    _, log = upstream_image
    text = "\n".join(log)
    assert "io.seldon.wrapper:seldon-core-wrapper:0.4.1 -> io.wharf:wharf-seldon-compat:" in text
    assert "Spring Boot application io.seldon.example.App" in text


def test_the_image_has_no_model_name_and_runs_with_upstreams_port_contract(client, upstream_image) -> None:
    image, _ = upstream_image
    assert not any(e.startswith("MODEL_NAME=") for e in client.images.get(image).attrs["Config"]["Env"])
    container = client.containers.run(
        image,
        detach=True,
        user="1001:0",
        read_only=True,
        tmpfs={"/tmp": ""},
        environment={"API_TYPE": "GRPC", "PREDICTIVE_UNIT_SERVICE_PORT": "7000", "SECONDARY_SERVICE_PORT": "7001"},
        ports={"7000/tcp": ("127.0.0.1", None), "7001/tcp": ("127.0.0.1", None)},
    )
    try:
        container.reload()
        ports = {
            p.split("/")[0]: int(b[0]["HostPort"]) for p, b in container.attrs["NetworkSettings"]["Ports"].items() if b
        }
        rest = f"http://127.0.0.1:{ports['7001']}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{rest}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail(
                "the upstream-style image never became ready:\n" + container.logs(tail=40).decode(errors="replace")
            )
        resp = httpx.post(f"{rest}/api/v1.0/predictions", json={"data": {"ndarray": [[1, 2]]}}, timeout=10)
        assert resp.status_code == 200 and resp.json() == CONSTANT, resp.text
        with grpc.insecure_channel(f"127.0.0.1:{ports['7000']}") as channel:
            reply = pb_grpc.ModelStub(channel).Predict(pb.SeldonMessage(strData="x"), timeout=10)
        assert list(reply.data.tensor.values) == [1.0]
    finally:
        container.remove(force=True)


def test_a_pom_asking_another_wrapper_version_builds(client, images, tmp_path: Path) -> None:
    source = tmp_path / "project"
    shutil.copytree(UPSTREAM, source)
    pom = source / "pom.xml"
    text = pom.read_text()
    assert "<version>0.4.1</version>" in text
    pom.write_text(
        text.replace("<version>0.4.1</version>", "<version>${seldon.wrapper.version}</version>").replace(
            "<properties>", "<properties>\n    <seldon.wrapper.version>0.3.0</seldon.wrapper.version>", 1
        )
    )
    log: list[str] = []
    try:
        result = java.build_model(
            source,
            OTHER_VERSION_IMAGE,
            builder=images[0],
            runtime=images[1],
            progress=lambda line: log.append(str(line)),
        )
        assert result.tags == [OTHER_VERSION_IMAGE]  # tagged only after its smoke test answered
        assert "io.seldon.wrapper:seldon-core-wrapper:0.3.0 -> io.wharf:wharf-seldon-compat:" in "\n".join(log)
    finally:
        try:
            client.images.remove(OTHER_VERSION_IMAGE, force=True, noprune=True)
        except Exception:  # noqa: BLE001 - the build may have failed before tagging
            pass
