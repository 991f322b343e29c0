"""The orchestrator image, run as `wharf render` configures the `seldon-container-engine` container,
next to a real model container: REST and gRPC through the graph, /ready, SIGTERM drain, and a clear
failure for a bad ENGINE_PREDICTOR. UID 1001 and a read-only root filesystem throughout.

Both layouts the operator renders are run, on a user-defined network, with the rendered
ENGINE_PREDICTOR unchanged: the orchestrator in the model's pod (it joins the model container's
network namespace, node at localhost:9000) and in a pod of its own (seldon.io/engine-separate-pod:
the model container answers to the Service DNS name the render wrote). Ports 8000/5001 are
published on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from wharf.testing import infra

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
MODEL_IMAGE = "wharf-examples/iris:0.1"  # the tag tests/integration/test_run_docker.py builds too
ENGINE = "seldon-container-engine"
IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
SDEP = {
    "apiVersion": "machinelearning.seldon.io/v1",
    "kind": "SeldonDeployment",
    "metadata": {"name": "iris", "namespace": "models"},
    "spec": {
        "predictors": [
            {
                "name": "main",
                "graph": {"name": "classifier", "type": "MODEL"},
                "componentSpecs": [{"spec": {"containers": [{"name": "classifier", "image": MODEL_IMAGE}]}}],
            }
        ]
    },
}


@pytest.fixture(scope="module")
def engine():
    try:
        import docker

        client = docker.from_env(timeout=900)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means no usable engine
        infra.unavailable("a Docker engine", f"start dockerd (docs: shared notes) ({exc})")
    return client


@pytest.fixture(scope="module")
def orchestrator_image(engine) -> str:
    """Built from this checkout every session (cached layers make a rebuild ~seconds), so the test
    never runs a stale image."""
    from wharf.build.service_images import build_orchestrator_image

    return build_orchestrator_image(progress=None)


@pytest.fixture(scope="module")
def model_image(engine) -> str:
    from wharf.build.model import build_model

    build_model(ROOT / "examples" / "models" / "iris", MODEL_IMAGE, progress=None)
    return MODEL_IMAGE


LAYOUTS = ("same-pod", "separate-pod")  # the latter: annotation seldon.io/engine-separate-pod


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, dict[str, dict]]:
    """layout -> container name -> container, as the `wharf render` command prints them."""
    folder = tmp_path_factory.mktemp("sdep")
    layouts = {}
    for layout in LAYOUTS:
        sdep = json.loads(json.dumps(SDEP))
        if layout == "separate-pod":
            sdep["spec"]["annotations"] = {"seldon.io/engine-separate-pod": "true"}
        path = folder / f"{layout}.yaml"
        path.write_text(yaml.safe_dump(sdep))
        wharf = Path(sys.executable).with_name("wharf")
        out = subprocess.run(
            [str(wharf), "render", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin"},
            check=True,
        ).stdout
        deployments = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment"]
        assert len(deployments) == (1 if layout == "same-pod" else 2)
        layouts[layout] = {c["name"]: c for d in deployments for c in d["spec"]["template"]["spec"]["containers"]}
    return layouts


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def node_host(engine_container: dict) -> str:
    return json.loads(base64.b64decode(env_of(engine_container)["ENGINE_PREDICTOR"]))["graph"]["endpoint"][
        "service_host"
    ]


@pytest.fixture(params=LAYOUTS)
def pod(request, engine, model_image, orchestrator_image, rendered):
    """Model + orchestrator containers on a user-defined network, with the rendered configuration
    unchanged. same-pod: the orchestrator joins the model container's network namespace, as in one
    pod (node at localhost). separate-pod: each has its own, and the model container answers to the
    Service DNS name the render put into ENGINE_PREDICTOR (a network alias).
    Yields (layout, orchestrator container, http url, grpc target)."""
    import docker

    layout = request.param
    containers = rendered[layout]
    spec = containers[ENGINE]
    host = node_host(spec)
    assert (host == "localhost") == (layout == "same-pod"), host
    published = {"8000/tcp": ("127.0.0.1", None), "5001/tcp": ("127.0.0.1", None)}
    suffix = uuid.uuid4().hex[:8]
    network = engine.networks.create(f"wharf-orch-test-{suffix}", driver="bridge")
    started: list = []
    try:
        aliases = [] if layout == "same-pod" else [host]
        model = engine.containers.run(
            model_image,
            detach=True,
            name=f"wharf-orch-test-model-{suffix}",
            environment=env_of(containers["classifier"]),
            ports=published if layout == "same-pod" else None,
            network=network.name,
            networking_config={network.name: engine.api.create_endpoint_config(aliases=aliases)},
        )
        started.append(model)
        where = (
            {"network_mode": f"container:{model.id}"}
            if layout == "same-pod"
            else {"network": network.name, "ports": published}
        )
        orch = engine.containers.run(
            orchestrator_image,
            detach=True,
            name=f"wharf-orch-test-engine-{suffix}",
            entrypoint=spec["command"],
            command=spec["args"],
            environment=env_of(spec),
            user="1001:0",
            read_only=True,
            **where,
        )
        started.append(orch)
        exposed = model if layout == "same-pod" else orch
        exposed.reload()
        ports = exposed.attrs["NetworkSettings"]["Ports"]
        assert {b["HostIp"] for p in published for b in ports[p]} == {"127.0.0.1"}
        yield (
            layout,
            orch,
            f"http://127.0.0.1:{ports['8000/tcp'][0]['HostPort']}",
            f"127.0.0.1:{ports['5001/tcp'][0]['HostPort']}",
        )
    finally:
        for container in reversed(started):
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
        network.remove()


def wait_ready(url: str, orch, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=5) as resp:
                if resp.status == 200:
                    return
                last = resp.status
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            last = exc
        orch.reload()
        if orch.status == "exited":
            break
        time.sleep(0.5)
    raise AssertionError(f"orchestrator not ready ({last!r}); log:\n{orch.logs(tail=40).decode(errors='replace')}")


def test_rendered_engine_container_serves_the_graph_and_drains_on_sigterm(pod, rendered):
    import grpc
    from google.protobuf import json_format

    from wharf.protocol.pb import prediction_pb2 as pb
    from wharf.protocol.pb import prediction_pb2_grpc as pb_grpc

    layout, orch, url, grpc_target = pod
    spec = rendered[layout][ENGINE]
    # what the test runs is the rendered container: the image the operator names, its command
    assert spec["image"] == orch.image.tags[0] and spec["command"] == ["wharf", "orchestrator"]
    wait_ready(url, orch)  # /ready answers 200 only once the orchestrator reaches the model node

    req = urllib.request.Request(
        f"{url}/api/v1.0/predictions",
        headers={"Content-Type": "application/json"},
        data=json.dumps({"data": {"ndarray": [IRIS_ROW]}}).encode(),
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer = json.loads(resp.read())
    probabilities = answer["data"]["ndarray"][0]
    assert len(probabilities) == 3 and abs(sum(probabilities) - 1) < 1e-6
    assert probabilities.index(max(probabilities)) == 0  # a setosa row
    assert answer["meta"]["requestPath"] == {"classifier": MODEL_IMAGE}

    request = json_format.ParseDict({"data": {"ndarray": [IRIS_ROW]}}, pb.SeldonMessage())
    with grpc.insecure_channel(grpc_target) as channel:
        reply = pb_grpc.SeldonStub(channel).Predict(request, timeout=30)
    assert dict(reply.meta.requestPath) == {"classifier": MODEL_IMAGE}
    assert len(json_format.MessageToDict(reply)["data"]["ndarray"][0]) == 3

    orch.reload()
    assert orch.attrs["Config"]["User"] == "1001:0" and orch.attrs["HostConfig"]["ReadonlyRootfs"] is True
    # without the rendered command (WHARF_EXECUTOR_COMMAND empty) the image's own config does the same
    config = orch.image.attrs["Config"]
    assert config["Entrypoint"] == ["wharf", "orchestrator"] and config["User"] == "1001"
    assert set(config["ExposedPorts"]) == {"8000/tcp", "5001/tcp"}
    started = time.monotonic()
    orch.kill(signal="SIGTERM")
    code = orch.wait(timeout=30)["StatusCode"]
    elapsed = time.monotonic() - started
    logs = orch.logs().decode(errors="replace")
    assert code == 0, logs
    assert elapsed < 15, f"SIGTERM took {elapsed:.1f}s (graceful timeout 15 s)"
    assert "Traceback" not in logs, logs


@pytest.mark.parametrize(
    "value, expected",
    [
        ("not base64!", "ENGINE_PREDICTOR: not base64-encoded JSON"),
        (base64.b64encode(b'{"name": "main"}').decode(), "ENGINE_PREDICTOR.graph: required"),
    ],
)
def test_bad_engine_predictor_is_one_clear_log_line_and_a_failed_exit(
    engine, orchestrator_image, rendered, value, expected
):
    spec = rendered["same-pod"][ENGINE]
    container = engine.containers.run(
        orchestrator_image,
        detach=True,
        entrypoint=spec["command"],
        command=spec["args"],
        environment={**env_of(spec), "ENGINE_PREDICTOR": value},
        user="1001:0",
        read_only=True,
        network_disabled=True,
    )
    try:
        code = container.wait(timeout=60)["StatusCode"]
        logs = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    assert code != 0
    assert expected in logs and "Traceback" not in logs, logs
