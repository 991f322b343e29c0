"""The Java builder and runtime images, and Java models built with them, on the real Docker engine.

Builds both images, builds examples/models/java-iris with ``wharf.build.java.build_model`` (the
as-Dockerfile two-stage form, no s2i binary), runs the image and contract-tests it over REST and
gRPC with the Python contract tester. Bad sources (compile error, missing class, wrong
SERVICE_TYPE) must fail with a clear message and leave no tag behind.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from wharf.build import java
from wharf.build.model import ModelBuildError
from wharf.contract import tester
from wharf.testing import infra

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
IRIS = ROOT / "examples" / "models" / "java-iris"
IMAGE = "wharf-test/java-iris:ci"


def _docker():
    try:
        import docker

        client = docker.from_env(timeout=900)
        client.ping()
        return client
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine means "no docker"
        infra.unavailable(
            f"a Docker engine ({exc.__class__.__name__})",
            "start dockerd (see docs/building-images.md) and export DOCKER_HOST if needed",
        )


@pytest.fixture(scope="module")
def client():
    return _docker()


@pytest.fixture(scope="module")
def images(client) -> tuple[str, str]:
    # Always (re)built: the layer cache makes an unchanged rebuild quick, and a stale image from an
    # older checkout must never be what the tests exercise.
    return java.build_java_images(progress=None)


@pytest.fixture(scope="module")
def iris_image(client, images) -> Iterator[str]:
    result = java.build_model(IRIS, IMAGE, builder=images[0], runtime=images[1], progress=None)
    assert result.tags == [IMAGE]
    yield IMAGE
    client.images.remove(IMAGE, force=True, noprune=True)


@pytest.fixture(scope="module")
def iris_container(client, iris_image):
    container = client.containers.run(
        iris_image,
        detach=True,
        user="1001:0",
        read_only=True,
        tmpfs={"/tmp": ""},
        ports={"9000/tcp": ("127.0.0.1", None), "5000/tcp": ("127.0.0.1", None), "6000/tcp": ("127.0.0.1", None)},
        environment={"PREDICTIVE_UNIT_ID": "iris", "PREDICTIVE_UNIT_IMAGE": iris_image},
    )
    try:
        container.reload()
        ports = {
            p.split("/")[0]: int(b[0]["HostPort"]) for p, b in container.attrs["NetworkSettings"]["Ports"].items() if b
        }
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{ports['9000']}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("the Java iris container never became ready:\n" + container.logs(tail=40).decode())
        yield ports
    finally:
        container.remove(force=True)


def test_images_run_as_1001_and_runtime_has_no_jdk(client, images) -> None:
    builder, runtime = images
    for tag in images:
        attrs = client.images.get(tag).attrs
        assert attrs["Config"]["User"] == "1001"
        labels = attrs["Config"]["Labels"]
        assert labels["io.openshift.s2i.scripts-url"] == "image:///usr/libexec/s2i"
        assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert (
        client.images.get(runtime).attrs["Config"]["Labels"]["io.openshift.s2i.assemble-input-files"]
        == "/opt/app-root/app"
    )
    out = client.containers.run(
        runtime,
        ["sh", "-c", "id -u; id -g; java -version 2>&1 | head -1; command -v javac mvn || echo no-jdk"],
        remove=True,
    ).decode()
    uid, gid, version, jdk = out.strip().splitlines()
    assert (uid, gid) == ("1001", "0")
    assert "17" in version and jdk == "no-jdk"
    out = client.containers.run(
        builder,
        ["sh", "-c", "javac -version && mvn -v | head -1 && ls /opt/app-root/m2/io/wharf/wharf-java-wrapper"],
        remove=True,
    ).decode()
    assert "javac 17" in out and "Apache Maven" in out and "0.1.0" in out


def test_model_image_is_labelled_and_has_no_build_config(client, iris_image) -> None:
    attrs = client.images.get(iris_image).attrs
    labels = attrs["Config"]["Labels"]
    assert labels["io.openshift.s2i.build.image"].startswith("wharf/java-builder:")
    assert labels["io.wharf.source.digest"].startswith("sha256:")
    env = dict(e.split("=", 1) for e in attrs["Config"]["Env"])
    assert env["MODEL_NAME"] == "io.wharf.examples.IrisClassifier" and env["SERVICE_TYPE"] == "MODEL"
    out = client.containers.run(
        iris_image, ["sh", "-c", "ls /tmp/wharf-build /opt/app-root/src 2>&1; ls /opt/app-root/app"], remove=True
    ).decode()
    assert "No such file" in out and "app.jar" in out and "lib" in out


@pytest.mark.parametrize(
    "flags",
    [[], ["--tensor"], ["--grpc"], ["--grpc", "--tensor"]],
    ids=["rest-ndarray", "rest-tensor", "grpc-ndarray", "grpc-tensor"],
)
def test_java_iris_passes_its_contract(iris_container, flags: list[str]) -> None:
    port = iris_container["5000"] if "--grpc" in flags else iris_container["9000"]
    out, err = io.StringIO(), io.StringIO()
    code = tester.main(
        [str(IRIS / "contract.json"), "127.0.0.1", str(port), "-n", "5", "-b", "3", "--seed", "1", *flags],
        out=out,
        err=err,
    )
    assert code == 0, err.getvalue()
    assert "PASSED: 5 of 5" in out.getvalue()


def test_java_iris_answers_like_the_python_iris(iris_container) -> None:
    body = {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}, "meta": {"puid": "x"}}
    reply = httpx.post(f"http://127.0.0.1:{iris_container['9000']}/api/v1.0/predictions", json=body, timeout=10).json()
    assert reply["data"]["names"] == ["setosa", "versicolor", "virginica"]
    rows = reply["data"]["ndarray"]
    assert rows[0][0] > 0.9 and rows[1][2] > 0.5
    assert reply["meta"]["puid"] == "x" and reply["meta"]["tags"] == {"model": "iris-nearest-centroid"}
    assert reply["meta"]["requestPath"] == {"iris": IMAGE}
    metrics = httpx.get(f"http://127.0.0.1:{iris_container['6000']}/metrics", timeout=10).text
    assert "iris_rows_total_total{" in metrics or "iris_rows_total{" in metrics


def _broken_copy(tmp_path: Path, name: str) -> Path:
    dest = tmp_path / name
    shutil.copytree(IRIS, dest, ignore=shutil.ignore_patterns("target"))
    return dest


def _no_tag(client, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
        return False
    except docker.errors.ImageNotFound:
        return True


def test_compile_error_names_the_file_and_line(client, images, tmp_path: Path) -> None:
    src = _broken_copy(tmp_path, "compile-error")
    java_file = src / "src/main/java/io/wharf/examples/IrisClassifier.java"
    java_file.write_text(java_file.read_text().replace("return proba;", "return proba"))
    tag = "wharf-test/java-broken:compile"
    with pytest.raises(ModelBuildError) as err:
        java.build_model(src, tag, builder=images[0], runtime=images[1], progress=None)
    text = str(err.value)
    assert "mvn package failed" in text
    assert "IrisClassifier.java:[" in text and "';' expected" in text
    assert _no_tag(client, tag)


def test_missing_class_is_named(client, images, tmp_path: Path) -> None:
    src = _broken_copy(tmp_path, "missing-class")
    env = src / ".s2i/environment"
    env.write_text(env.read_text().replace("io.wharf.examples.IrisClassifier", "io.wharf.examples.NoSuchModel"))
    tag = "wharf-test/java-broken:missing"
    with pytest.raises(ModelBuildError) as err:
        java.build_model(src, tag, builder=images[0], runtime=images[1], progress=None)
    assert "MODEL_NAME=io.wharf.examples.NoSuchModel: class not found" in str(err.value)
    assert _no_tag(client, tag)


def test_service_type_without_its_method_fails_in_assemble(client, images, tmp_path: Path) -> None:
    src = _broken_copy(tmp_path, "router-without-route")
    env = src / ".s2i/environment"
    env.write_text(env.read_text().replace("SERVICE_TYPE=MODEL", "SERVICE_TYPE=ROUTER"))
    tag = "wharf-test/java-broken:router"
    with pytest.raises(ModelBuildError) as err:
        java.build_model(src, tag, builder=images[0], runtime=images[1], progress=None)
    assert "SERVICE_TYPE=ROUTER needs the method route(...)" in str(err.value)
    assert _no_tag(client, tag)


def test_unknown_service_type_fails_before_docker(tmp_path: Path) -> None:
    src = _broken_copy(tmp_path, "bad-type")
    env = src / ".s2i/environment"
    env.write_text(env.read_text().replace("SERVICE_TYPE=MODEL", "SERVICE_TYPE=MODLE"))
    with pytest.raises(ModelBuildError) as err:
        java.build_model(src, "wharf-test/java-broken:type", builder="unused", runtime="unused", progress=None)
    assert "SERVICE_TYPE='MODLE' is not one of MODEL" in str(err.value)
    assert ".s2i/environment" in str(err.value)


def test_java_router_example_builds_and_routes(client, images) -> None:
    """The ROUTER example: parameters from .s2i/environment reach the constructor; /route and gRPC Router.Route."""
    tag = "wharf-test/java-router:ci"
    java.build_model(ROOT / "examples/models/java-router", tag, builder=images[0], runtime=images[1], progress=None)
    container = client.containers.run(
        tag,
        detach=True,
        user="1001:0",
        read_only=True,
        tmpfs={"/tmp": ""},
        ports={"9000/tcp": ("127.0.0.1", None), "5000/tcp": ("127.0.0.1", None)},
    )
    try:
        container.reload()
        ports = {
            p.split("/")[0]: int(b[0]["HostPort"]) for p, b in container.attrs["NetworkSettings"]["Ports"].items() if b
        }
        url = f"http://127.0.0.1:{ports['9000']}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        low = httpx.post(f"{url}/route", json={"data": {"ndarray": [[1.0, 9.0]]}}, timeout=10).json()
        high = httpx.post(
            f"{url}/route", json={"data": {"tensor": {"shape": [1, 2], "values": [3.0, 0.0]}}}, timeout=10
        ).json()
        assert low["data"]["ndarray"] == [[0]]
        assert high["data"]["tensor"] == {"shape": [1, 1], "values": [1]}
        assert low["meta"]["tags"] == {"router": "threshold", "threshold": 2.5}
        import grpc
        from google.protobuf import json_format

        from wharf.protocol.pb import prediction_pb2 as pb
        from wharf.protocol.pb import prediction_pb2_grpc as pb_grpc

        with grpc.insecure_channel(f"127.0.0.1:{ports['5000']}", options=[("grpc.enable_http_proxy", 0)]) as channel:
            reply = pb_grpc.RouterStub(channel).Route(
                json_format.ParseDict({"data": {"ndarray": [[7.0]]}}, pb.SeldonMessage()), timeout=10
            )
        assert json_format.MessageToDict(reply)["data"]["ndarray"] == [[1.0]]
    finally:
        container.remove(force=True)
        client.images.remove(tag, force=True, noprune=True)


def test_real_s2i_builds_with_the_runtime_image(client, images, tmp_path: Path) -> None:
    """The s2i CLI's own flow: assemble in the builder, /opt/app-root/app into the JRE-only runtime image."""
    import subprocess

    from wharf.build.s2icli import ensure_s2i

    try:
        s2i = ensure_s2i()
    except RuntimeError as exc:
        infra.unavailable(f"the s2i CLI ({exc})", "install Go and let wharf.build.s2icli.ensure_s2i() build it")
    tag = "wharf-test/java-iris-s2i:ci"
    builder, runtime = images
    # Offline: the builder image already holds the wrapper and the plugins the example pins.
    proc = subprocess.run(
        [
            str(s2i),
            "build",
            str(IRIS),
            builder,
            tag,
            "--runtime-image",
            runtime,
            "--pull-policy",
            "never",
            "--runtime-pull-policy",
            "never",
            "-e",
            "MAVEN_OFFLINE=1",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    try:
        out = client.containers.run(
            tag, ["sh", "-c", "ls /opt/app-root/app; command -v javac || echo no-jdk"], remove=True, user="1001:0"
        ).decode()
        assert "app.jar" in out and "lib" in out and "no-jdk" in out
        container = client.containers.run(
            tag, detach=True, user="1001:0", read_only=True, tmpfs={"/tmp": ""}, ports={"9000/tcp": ("127.0.0.1", None)}
        )
        try:
            container.reload()
            port = int(container.attrs["NetworkSettings"]["Ports"]["9000/tcp"][0]["HostPort"])
            deadline = time.monotonic() + 60
            reply = None
            while time.monotonic() < deadline and reply is None:
                try:
                    reply = httpx.post(
                        f"http://127.0.0.1:{port}/predict",
                        json={"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}},
                        timeout=2,
                    ).json()
                except httpx.HTTPError:
                    time.sleep(0.3)
            assert reply is not None, container.logs(tail=30).decode()
            assert reply["data"]["names"] == ["setosa", "versicolor", "virginica"]
        finally:
            container.remove(force=True)
    finally:
        client.images.remove(tag, force=True, noprune=True)


def test_orchestrators_grpc_client_talks_to_the_java_wrapper(iris_container) -> None:
    """grpc-java (Netty) on the other end of wharf.grpc_h2's client: the orchestrator's calls to a
    Java node over gRPC, including a request larger than grpc-java's 1 MB initial window."""
    import asyncio

    from google.protobuf import json_format

    from wharf.grpc_h2.client import Channel, GrpcError
    from wharf.protocol.pb import prediction_pb2 as pb

    async def main() -> None:
        channel = Channel("127.0.0.1", int(iris_container["5000"]))
        request = json_format.ParseDict({"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}, pb.SeldonMessage())
        replies = await asyncio.gather(
            *(
                channel.unary("/seldon.protos.Model/Predict", request.SerializeToString(), timeout_s=20)
                for _ in range(20)
            )
        )
        for raw in replies:
            reply = pb.SeldonMessage.FromString(raw)
            assert list(reply.data.names) == ["setosa", "versicolor", "virginica"]
            assert reply.data.ndarray.values[0].list_value.values[0].number_value > 0.9
        rows = [[5.1, 3.5, 1.4, 0.2]] * 30_000  # ~1.4 MB of protobuf
        big = json_format.ParseDict({"data": {"ndarray": rows}}, pb.SeldonMessage()).SerializeToString()
        assert len(big) > 1_100_000
        reply = pb.SeldonMessage.FromString(await channel.unary("/seldon.protos.Model/Predict", big, timeout_s=60))
        assert len(reply.data.ndarray.values) == 30_000
        try:
            await channel.unary("/seldon.protos.Model/Nope", b"", timeout_s=10)
        except GrpcError as err:
            assert err.code == 12
        else:
            raise AssertionError("an unknown method must fail")
        await channel.close()

    asyncio.run(main())
