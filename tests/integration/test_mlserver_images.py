"""``protocol: v2`` SKLEARN_SERVER, XGBOOST_SERVER and MLFLOW_SERVER served by Wharf's MLServer image.

Real parts: models trained here; the image built from PyPI by the function `invoke server-images`
calls; the model container exactly as ``render()`` gives it (image, args, MLSERVER_* env), run by the
Docker engine as UID 1001 with a read-only root; NVIDIA's ``tritonclient`` for V2 REST, and grpcio
with MLServer's own dataplane stubs, copied out of the image, for V2 gRPC (tritonclient's grpc extra
needs protobuf>=6.30, which the pinned grpcio-tools cannot have). The one stand-in: the storage
initializer's copy into the pod's emptyDir is the model folder mounted read-only at /mnt/models, as
the model container sees that emptyDir. Ports are remapped to free loopback ports.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import service_image

from wharf.local.process import free_port
from wharf.operator.render import render

pytestmark = pytest.mark.docker

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
NAME = "classifier"


def sdep(implementation: str) -> dict[str, Any]:
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "iris", "namespace": "models"},
        "spec": {
            "protocol": "v2",
            "predictors": [
                {
                    "name": "default",
                    "graph": {"name": NAME, "implementation": implementation, "modelUri": "s3://models/iris"},
                }
            ],
        },
    }


def rendered_container(implementation: str) -> dict[str, Any]:
    dep = next(o for o in render(sdep(implementation)) if o["kind"] == "Deployment")
    return next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == NAME)


def readable(folder: Path) -> Path:
    """The image's user (1001) reads the mounted folder, as it reads the initializer's copy."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


@dataclass
class Server:
    container: Any
    http: int
    grpc: int
    metrics: int

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace")

    def get(self, path: str, port: int | None = None) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port or self.http}{path}", timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.container.reload()
            if self.container.status == "exited":
                raise AssertionError(f"the container exited:\n{self.logs()[-3000:]}")
            try:
                if self.get("/v2/health/ready")[0] == 200:
                    return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.5)
        raise AssertionError(f"not ready after {timeout} s:\n{self.logs()[-3000:]}")


@contextmanager
def run_unit(
    image: str,
    unit: dict[str, Any],
    folder: Path,
    user: str = "1001:0",
    termination_log: Path | None = None,
    **env_overrides: str,
) -> Iterator[Server]:
    """The rendered container under Docker: its image, command/args and env; read-only root, UID 1001;
    ``termination_log`` is bind-mounted where the kubelet mounts a container's termination message."""
    import docker

    env = {e["name"]: e["value"] for e in unit.get("env") or [] if "value" in e}
    env.update(env_overrides)
    inside = [int(env[k]) for k in ("MLSERVER_HTTP_PORT", "MLSERVER_GRPC_PORT", "MLSERVER_METRICS_PORT")]
    outside = [free_port() for _ in inside]
    container = docker.from_env().containers.run(
        image,
        entrypoint=unit.get("command"),
        command=unit.get("args"),
        environment=env,
        user=user,
        read_only=True,
        volumes={
            str(folder): {"bind": "/mnt/models", "mode": "ro"},
            **({str(termination_log): {"bind": "/dev/termination-log", "mode": "rw"}} if termination_log else {}),
        },
        detach=True,
        ports={f"{i}/tcp": ("127.0.0.1", o) for i, o in zip(inside, outside)},
        labels={"wharf-test": "mlserver"},
    )
    try:
        yield Server(container, *outside)
    finally:
        container.remove(force=True)


def exit_log(
    image: str, unit: dict[str, Any], folder: Path, timeout: float = 120, termination_log: Path | None = None
) -> str:
    """The log of a container that must stop by itself with exit code 1, never having been ready."""
    with run_unit(image, unit, folder, termination_log=termination_log) as server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server.container.reload()
            if server.container.status == "exited":
                break
            try:  # the model's readiness: MLServer's /v2/health/ready is 200 until the model registers
                assert server.get(f"/v2/models/{NAME}/ready")[0] != 200, "ready with a model that cannot load"
            except (OSError, urllib.error.URLError):
                pass  # nothing listens yet, or any more: not ready either
            time.sleep(0.5)
        assert server.container.status == "exited", server.logs()[-3000:]
        assert server.container.attrs["State"]["ExitCode"] == 1, server.logs()[-3000:]
        return server.logs()


def reason(log: str) -> str:
    """mlserver-start's own last line: it prints it after MLServer has stopped, but a worker process's
    "Finished server process" can still reach the log after it (seen once in a run)."""
    lines = log.strip().splitlines()
    return next((line for line in reversed(lines) if line.startswith("mlserver-start:")), lines[-1])


@pytest.fixture(scope="module")
def image() -> str:
    from wharf.build.service_images import MLSERVER

    return service_image(MLSERVER)


@pytest.fixture(scope="module")
def dataplane(image, tmp_path_factory):
    """MLServer's generated V2 gRPC stubs, as its own client code imports them, out of the image."""
    import docker

    script = (
        "import json, mlserver.grpc.dataplane_pb2 as a, mlserver.grpc.dataplane_pb2_grpc as b; "
        "print(json.dumps({m.__name__.rsplit('.', 1)[1]: open(m.__file__).read() for m in (a, b)}))"
    )
    out = docker.from_env().containers.run(
        image, entrypoint=["python", "-c", script], remove=True, user="1001:0", read_only=True
    )
    package = tmp_path_factory.mktemp("stubs") / "mlserver_v2_stubs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in json.loads(out).items():
        (package / f"{name}.py").write_text(text)
    sys.path.insert(0, str(package.parent))
    try:
        return (
            importlib.import_module("mlserver_v2_stubs.dataplane_pb2"),
            importlib.import_module("mlserver_v2_stubs.dataplane_pb2_grpc"),
        )
    finally:
        sys.path.remove(str(package.parent))


def grpc_infer(server: Server, dataplane, rows: list[list[float]], output: str | None = None) -> np.ndarray:
    import grpc

    pb, rpc = dataplane
    request = pb.ModelInferRequest(
        model_name=NAME,
        inputs=[
            pb.ModelInferRequest.InferInputTensor(
                name="input-0",
                datatype="FP64",
                shape=[len(rows), len(rows[0])],
                contents=pb.InferTensorContents(fp64_contents=sum(rows, [])),
            )
        ],
    )
    if output:
        request.outputs.add(name=output)
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc}") as channel:
        stub = rpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerReady(pb.ServerReadyRequest(), timeout=30).ready
        assert stub.ModelReady(pb.ModelReadyRequest(name=NAME), timeout=30).ready
        reply = stub.ModelInfer(request, timeout=30)
    tensor = reply.outputs[0]
    dtypes = {"INT64": np.int64, "FP64": np.float64, "FP32": np.float32, "INT32": np.int32}
    if reply.raw_output_contents:
        values = np.frombuffer(reply.raw_output_contents[0], dtype=dtypes[tensor.datatype])
    else:
        field = {"INT64": "int64_contents", "FP64": "fp64_contents", "FP32": "fp32_contents", "INT32": "int_contents"}[
            tensor.datatype
        ]
        values = np.array(getattr(tensor.contents, field), dtype=dtypes[tensor.datatype])
    return values.reshape(tuple(tensor.shape))


def rest_infer(server: Server, rows: list[list[float]], output: str | None = None, version: str = "") -> np.ndarray:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.http}")
    try:
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(NAME)
        tensor = httpclient.InferInput("input-0", [len(rows), len(rows[0])], "FP64")
        tensor.set_data_from_numpy(np.array(rows, dtype=np.float64), binary_data=False)
        outputs = [httpclient.InferRequestedOutput(output, binary_data=False)] if output else None
        result = client.infer(NAME, [tensor], model_version=version, outputs=outputs)
        name = output or result.get_response()["outputs"][0]["name"]
        return result.as_numpy(name)
    finally:
        client.close()


# --- models, trained here -----------------------------------------------------------------


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def sklearn_model(iris, tmp_path_factory):
    """A joblib file, as upstream's examples save theirs (MLServer's sklearn runtime reads model.joblib)."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("sklearn")
    model = LogisticRegression(max_iter=1000).fit(*iris)
    joblib.dump(model, folder / "model.joblib")
    return readable(folder), model


@pytest.fixture(scope="module")
def xgboost_model(iris, tmp_path_factory):
    import xgboost

    folder = tmp_path_factory.mktemp("xgboost")
    X, y = iris
    booster = xgboost.train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, xgboost.DMatrix(X, label=y), num_boost_round=20
    )
    booster.save_model(str(folder / "model.bst"))
    return readable(folder), booster


@pytest.fixture(scope="module")
def mlflow_model(iris, tmp_path_factory):
    """An MLflow model folder (MLmodel, the sklearn flavour and pyfunc), with a tensor signature."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    # not a tree model: MLflow 3 saves sklearn models with skops, which loads trees only when told
    # to trust them (skops_trusted_types), at save and at load alike
    model = LogisticRegression(C=0.5, max_iter=1000).fit(X, y)
    folder = tmp_path_factory.mktemp("mlflow") / "model"
    mlflow.sklearn.save_model(model, str(folder), signature=infer_signature(X, model.predict(X)))
    return readable(folder.parent) / "model", model


# --- the tests ----------------------------------------------------------------------------


def test_the_rendered_v2_containers_name_wharfs_image_and_the_runtime(image):
    for implementation, runtime in (
        ("SKLEARN_SERVER", "mlserver_sklearn.SKLearnModel"),
        ("XGBOOST_SERVER", "mlserver_xgboost.XGBoostModel"),
        ("MLFLOW_SERVER", "mlserver_mlflow.MLflowRuntime"),
    ):
        unit = rendered_container(implementation)
        assert unit["image"] == image
        assert {e["name"]: e.get("value") for e in unit["env"]}["MLSERVER_MODEL_IMPLEMENTATION"] == runtime


def test_image_runs_as_uid_1001_with_nothing_of_seldons(image):
    import docker

    config = docker.from_env().images.get(image).attrs["Config"]
    assert config["User"] == "1001"
    assert config["Labels"]["org.opencontainers.image.licenses"] == "Apache-2.0"


def test_sklearn_server_v2_rest_and_grpc_answer_as_the_model(image, dataplane, sklearn_model):
    folder, model = sklearn_model
    with run_unit(image, rendered_container("SKLEARN_SERVER"), folder) as server:
        server.wait_ready()
        X = np.array(ROWS)
        np.testing.assert_array_equal(rest_infer(server, ROWS).ravel(), model.predict(X))
        np.testing.assert_allclose(rest_infer(server, ROWS, output="predict_proba"), model.predict_proba(X), rtol=1e-12)
        # upstream's operator names the model's version v1: the versioned path answers too
        np.testing.assert_array_equal(rest_infer(server, ROWS, version="v1").ravel(), model.predict(X))
        np.testing.assert_array_equal(grpc_infer(server, dataplane, ROWS).ravel(), model.predict(X))
        np.testing.assert_allclose(
            grpc_infer(server, dataplane, ROWS, output="predict_proba"), model.predict_proba(X), rtol=1e-12
        )
        status, body = server.get(f"/v2/models/{NAME}")
        assert status == 200 and json.loads(body)["name"] == NAME
        status, body = server.get(f"/v2/models/{NAME}/versions/v1/ready")
        assert status == 200
        # the metrics server listens on the port the operator gave it, at the path it gave
        unit = rendered_container("SKLEARN_SERVER")
        path = {e["name"]: e.get("value") for e in unit["env"]}["MLSERVER_METRICS_ENDPOINT"]
        status, body = server.get(path, port=server.metrics)
        assert status == 200 and "model_infer_request_success" in body
        # SIGTERM (a pod's deletion) is a clean stop, not the exit code of a model that did not load
        server.container.stop(timeout=20)
        server.container.reload()
        assert server.container.attrs["State"]["ExitCode"] == 0, server.logs()[-2000:]


def test_xgboost_server_v2_rest_and_grpc_answer_as_the_booster(image, dataplane, xgboost_model):
    import xgboost

    folder, booster = xgboost_model
    want = booster.predict(xgboost.DMatrix(np.array(ROWS)))
    with run_unit(image, rendered_container("XGBOOST_SERVER"), folder) as server:
        server.wait_ready()
        np.testing.assert_allclose(rest_infer(server, ROWS), want, rtol=1e-6)
        np.testing.assert_allclose(grpc_infer(server, dataplane, ROWS), want, rtol=1e-6)
        status, body = server.get(f"/v2/models/{NAME}")
        assert status == 200 and json.loads(body)["name"] == NAME


def test_mlflow_server_v2_rest_and_grpc_answer_as_the_model(image, dataplane, mlflow_model):
    folder, model = mlflow_model
    want = model.predict(np.array(ROWS))
    with run_unit(image, rendered_container("MLFLOW_SERVER"), folder) as server:
        server.wait_ready()
        np.testing.assert_array_equal(rest_infer(server, ROWS).ravel(), want)
        np.testing.assert_array_equal(grpc_infer(server, dataplane, ROWS).ravel(), want)
        status, body = server.get(f"/v2/models/{NAME}")
        assert status == 200
        meta = json.loads(body)
        # the runtime read the MLmodel's signature: one FP64 tensor of 4 columns
        assert meta["name"] == NAME and meta["inputs"][0]["datatype"] == "FP64", meta
        assert meta["inputs"][0]["shape"][-1] == 4, meta


def test_parallel_workers_keep_their_files_off_the_read_only_root(image, sklearn_model):
    """MLServer's own default (one worker process): Prometheus' multiprocess files and the
    environments folder go to a folder of the container's own in /dev/shm (mlserver-start); with the
    root read-only, a start that wrote under the working directory would fail. As UID 8888, the
    user the operator's pods run as by default (EXECUTOR_CONTAINER_USER), which has no passwd entry."""
    folder, model = sklearn_model
    with run_unit(
        image, rendered_container("SKLEARN_SERVER"), folder, user="8888:0", MLSERVER_PARALLEL_WORKERS="1"
    ) as server:
        server.wait_ready()
        np.testing.assert_array_equal(rest_infer(server, ROWS).ravel(), model.predict(np.array(ROWS)))
        listing = server.container.exec_run(
            ["sh", "-c", "ls -d /dev/shm/mlserver.*/envs && ls /dev/shm/mlserver.*/metrics"], user="8888:0"
        ).output.decode()
        assert "/envs" in listing and ".db" in listing, listing


def test_a_model_folder_of_the_wrong_kind_stops_the_server_and_the_last_line_says_why(image, sklearn_model):
    """An sklearn model given to XGBOOST_SERVER: the log's last line (what `kubectl logs --tail 1` and a
    FallbackToLogsOnError termination message show) names the model, the runtime, the folder and the error."""
    folder, _ = sklearn_model
    last = reason(exit_log(image, rendered_container("XGBOOST_SERVER"), folder))
    assert last.startswith(
        "mlserver-start: model classifier (mlserver_xgboost.XGBoostModel) from /mnt/models did not load: "
    ), last
    assert "Traceback" not in last


def test_a_file_that_is_not_a_model_stops_the_server_and_the_last_line_says_why(image, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.joblib").write_text("not a pickle\n")
    message = tmp_path / "termination-log"  # as the kubelet provides it: an empty file the container may write
    message.write_text("")
    message.chmod(0o666)
    last = reason(exit_log(image, rendered_container("SKLEARN_SERVER"), readable(model), termination_log=message))
    assert message.read_text() == last  # the pod's status gets the cause, whatever the log's tail is
    assert last.startswith(
        "mlserver-start: model classifier (mlserver_sklearn.SKLearnModel) from /mnt/models did not load: "
    ), last
