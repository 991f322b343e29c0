"""The classic Docker-strategy walkthrough, end to end: the user's own Dockerfile (pre-1.5 command
line), its calibration file uploaded to a real S3 API in parts, ``invoke build --dockerfile`` with a
base-image override, and the image answering the walkthrough's request with the model's tags.

The S3 API is moto's server, listening on the Docker bridge's gateway so that containers reach it
as they would reach an in-cluster object store. The base image stands in for what a platform team
provides behind a TLS-intercepting proxy: Python, the proxy's CA and a wheelhouse (Wharf is not on
this machine's package index).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from wharf.testing.infra import unavailable

pytestmark = [pytest.mark.docker, pytest.mark.s3]

ROOT = Path(__file__).resolve().parents[2]
WALKTHROUGH = ROOT / "examples" / "walkthroughs" / "docker-strategy"
IMAGE = "wharf-test/temperature:docker"
ORG_BASE = "wharf-test/org-python:3.12"
# The calibration table: Celsius for every 0.001 °F from -100 °F (the model's LOWEST_F and STEP_F),
# with a sensor offset of +0.5 °C. 2.75 million float64 values, 22 MB: uploaded in parts.
READINGS_F = np.arange(-100_000, 2_650_001) / 1000.0
TABLE = (READINGS_F - 32) * 5 / 9 + 0.5
DEPRECATION = "positional API type 'REST' is deprecated"


def celsius(fahrenheit: float) -> float:
    return round(float(TABLE[int(round((fahrenheit + 100) * 1000))]), 2)


def bridge_gateway(engine) -> str:
    """The host's address on Docker's default bridge, which its containers reach the host by.

    IPAM's ``Gateway`` when the engine reports it; Docker 20.10 from Debian reports only the Subnet,
    so then the address of the bridge's own interface (``docker0`` unless configured otherwise).
    """
    network = engine.networks.get("bridge").attrs
    for config in network["IPAM"].get("Config") or []:
        if config.get("Gateway"):
            return config["Gateway"].split("/")[0]
    interface = network.get("Options", {}).get("com.docker.network.bridge.name", "docker0")
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", interface], capture_output=True, text=True)
    found = re.search(r"\binet (\d+\.\d+\.\d+\.\d+)/", shown.stdout)
    if not found:
        pytest.fail(f"no IPv4 address on Docker's bridge interface {interface}: {shown.stdout or shown.stderr}")
    return found.group(1)


@pytest.fixture(scope="module")
def s3(engine, tmp_path_factory):
    """moto on the bridge gateway: reachable from this machine and its containers, nowhere else."""
    from wharf.testing.s3 import moto_server_bin, s3_server

    if moto_server_bin() is None:
        unavailable("the moto S3 server", "run `python -m wharf.testing.s3` to install it in its own venv")
    gateway = bridge_gateway(engine)
    with s3_server(tmp_path_factory.mktemp("moto") / "moto.log", host=gateway) as endpoint:
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "walkthrough",
            "AWS_SECRET_ACCESS_KEY": "walkthrough-secret-93ab",
            "AWS_REGION": "us-east-1",
        }
        from wharf.storage import Location, _client, s3_settings

        _client(s3_settings(Location("s3", "models", ""), env)).make_bucket("models")
        yield env


@pytest.fixture(scope="module")
def org_base(engine) -> str:
    """Python 3.12 plus the proxy's CA and a wheelhouse holding the Wharf wheel of this checkout."""
    from wharf.build.base import ensure_python_base
    from wharf.build.builder import build_wharf_wheel
    from wharf.build.config import Network
    from wharf.build.engine import build_image, context_tar, tag_image

    ca = Network.from_env().ca_bundle
    dockerfile = "\n".join(
        [
            f"FROM {ensure_python_base('3.12')}",
            "COPY ca.crt /etc/ssl/certs/org-ca.crt",
            "COPY wheels/ /opt/wheelhouse/",
            "RUN python3 -m ensurepip --default-pip > /dev/null && pip --version",
            "ENV PIP_CERT=/etc/ssl/certs/org-ca.crt PIP_FIND_LINKS=/opt/wheelhouse PIP_DISABLE_PIP_VERSION_CHECK=1",
        ]
    )
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wharf_wheel(Path(tmp))
        context = context_tar(
            {"Dockerfile": dockerfile.encode(), "ca.crt": ca or b"", f"wheels/{wheel.name}": wheel.read_bytes()}
        )
    tag_image(engine, build_image(engine, context, label="org base"), ORG_BASE)
    return ORG_BASE


@pytest.fixture(scope="module")
def model_uri(s3, tmp_path_factory) -> str:
    """The walkthrough's first step: the model file goes to the bucket with `wharf storage cp`."""
    table = tmp_path_factory.mktemp("model") / "calibration.npy"
    np.save(table, TABLE)
    assert table.stat().st_size > 20_000_000
    proc = subprocess.run(
        [sys.executable, "-m", "wharf.cli", "storage", "cp", str(table), "s3://models/temperature/"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **s3},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "s3://models/temperature/calibration.npy"
    return "s3://models/temperature"


def invoke_build(
    folder: Path, base: str, smoke_env: dict[str, str], image: str = IMAGE, dockerfile: str = "Dockerfile"
) -> subprocess.CompletedProcess:
    """`invoke build --dockerfile`, credentials passed by name (taken from the environment)."""
    args = [
        str(ROOT / ".venv" / "bin" / "invoke") if (ROOT / ".venv" / "bin" / "invoke").exists() else "invoke",
        "build",
        "--source",
        str(folder),
        "--dockerfile",
        dockerfile,
        "--base-image",
        base,
        "--image",
        image,
    ]
    for name in smoke_env:
        args += ["--smoke-env", name]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=1200, env={**os.environ, **smoke_env})


@pytest.fixture(scope="module")
def built(engine, org_base, s3, model_uri):
    try:
        engine.images.remove(IMAGE)
    except Exception:  # noqa: BLE001 - absent is fine
        pass
    proc = invoke_build(WALKTHROUGH, org_base, {"MODEL_URI": model_uri, **s3})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def run_container(engine, env: dict[str, str]):
    return engine.containers.run(
        IMAGE,
        detach=True,
        environment=env,
        user="1001:0",
        read_only=True,
        tmpfs={"/tmp": ""},
        ports={"9000/tcp": ("127.0.0.1", None)},
    )


def wait_for_port(container, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        assert container.status not in ("exited", "dead"), container.logs().decode()[-3000:]
        bindings = container.attrs["NetworkSettings"]["Ports"].get("9000/tcp")
        if bindings:
            port = int(bindings[0]["HostPort"])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return port
            except OSError:
                pass
        time.sleep(0.3)
    raise AssertionError(f"not ready in {timeout} s:\n{container.logs().decode()[-3000:]}")


def post(port: int, body: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1.0/predictions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def test_the_walkthrough_image_answers_with_the_models_tags(engine, built, s3, model_uri, org_base) -> None:
    labels = engine.images.get(IMAGE).labels
    assert labels["io.openshift.s2i.build.image"] == org_base  # the override, as the s2i path records it
    assert labels["io.wharf.build.strategy"] == "docker"
    assert labels["io.wharf.source.digest"].startswith("sha256:")
    # the credentials reached the smoke test's container only: not the image's config or history
    inspect = json.dumps(engine.images.get(IMAGE).attrs) + json.dumps(engine.images.get(IMAGE).history())
    assert s3["AWS_SECRET_ACCESS_KEY"] not in inspect and "MODEL_URI" not in inspect
    assert "no USER instruction" in built.stdout  # the walkthrough's Dockerfile runs as root by default

    container = run_container(engine, {"MODEL_URI": model_uri, **s3})
    try:
        port = wait_for_port(container)
        answer = post(port, {"meta": {"tags": {}}, "data": {"names": ["temperature"], "ndarray": ["55"]}})
        assert answer == {
            "data": {"names": [], "ndarray": ["55"]},
            "meta": {"tags": {"celsius": [celsius(55)], "alert": "none"}},
        }
        # the request's tags are kept and the model's merged in
        answer = post(port, {"meta": {"tags": {"site": "plant-7"}}, "data": {"ndarray": ["70", "112.5"]}})
        assert answer["meta"]["tags"] == {"site": "plant-7", "celsius": [celsius(70), celsius(112.5)], "alert": "heat"}
        logs = container.logs().decode()
        assert logs.count(DEPRECATION) == 1, logs  # the pre-1.5 command line: accepted, said once
    finally:
        container.remove(force=True)


def test_a_missing_bucket_fails_the_build_by_name_and_leaves_no_tag(engine, org_base, s3, built) -> None:
    proc = invoke_build(
        WALKTHROUGH,
        org_base,
        {"MODEL_URI": "s3://no-such-bucket/temperature", **s3},
        image="wharf-test/temperature:no-bucket",
    )
    assert proc.returncode == 1
    assert "bucket 'no-such-bucket' does not exist" in proc.stderr, proc.stderr[-3000:]
    assert "no tag wharf-test/temperature:no-bucket was created" in proc.stderr
    assert not engine.images.list(name="wharf-test/temperature:no-bucket")
    assert engine.images.list(name=IMAGE)  # same layers, same id: the good image must survive the failure
    assert s3["AWS_SECRET_ACCESS_KEY"] not in proc.stdout + proc.stderr


def test_a_misspelt_class_names_the_file_it_looked_for(engine, built, s3, model_uri) -> None:
    container = run_container(engine, {"MODEL_URI": model_uri, "MODEL_NAME": "TemperatureModle", **s3})
    try:
        assert container.wait(timeout=90)["StatusCode"] != 0
        logs = container.logs().decode()
        assert "no TemperatureModle.py in /microservice" in logs, logs[-2000:]
    finally:
        container.remove(force=True)


def test_no_model_name_is_caught_before_the_smoke_test(engine, org_base, s3, model_uri, tmp_path) -> None:
    folder = tmp_path / "walkthrough"
    shutil.copytree(WALKTHROUGH, folder)
    dockerfile = folder / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("ENV MODEL_NAME=TemperatureModel\n", ""))
    proc = invoke_build(folder, org_base, {"MODEL_URI": model_uri, **s3}, image="wharf-test/temperature:no-name")
    assert proc.returncode == 1
    assert f"{dockerfile}: CMD passes $MODEL_NAME but the image sets no MODEL_NAME" in proc.stderr, proc.stderr[-3000:]
    assert not engine.images.list(name="wharf-test/temperature:no-name")
