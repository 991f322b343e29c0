"""MLFLOW_SERVER and the custom LIGHTGBM_SERVER: real models trained here (an sklearn pipeline saved
with mlflow.sklearn, a pyfunc PythonModel from code, a LightGBM booster), served by the component
server as processes and from the built images, over REST and gRPC (grpcio's client), answering
with the models' own predictions; the images get exactly the env the operator's render() gives
the container."""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import yaml
from support import docker_client, run_to_exit, service_image

import wharf
from wharf.local.process import free_port
from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as rpc

MLFLOW = "wharf.servers.mlflow.MLFlowServer"
LIGHTGBM = "wharf.servers.lightgbm.LightGBMServer"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "servers" / "lightgbm"

PYFUNC_CODE = '''
import mlflow
import pandas as pd


class Weighted(mlflow.pyfunc.PythonModel):
    """Needs its input's columns by name: a DataFrame with columns a and b."""

    def predict(self, context, model_input, params=None):
        return pd.DataFrame({"score": model_input["a"] * 2.0 + model_input["b"]})


mlflow.models.set_model(Weighted())
'''


def params(**values: str) -> dict[str, str]:
    """PREDICTIVE_UNIT_PARAMETERS as the operator writes them (model_uri is its /mnt/models)."""
    return {
        "PREDICTIVE_UNIT_PARAMETERS": json.dumps([{"name": k, "value": v, "type": "STRING"} for k, v in values.items()])
    }


def installed_pins(*names: str) -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in names]


def readable(folder: Path) -> Path:
    """The image's user (1001) reads the mounted folder."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


@pytest.fixture(scope="module")
def sklearn_mlflow(tmp_path_factory):
    """A scaler + logistic regression pipeline, saved by mlflow.sklearn (its default skops format)."""
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folder = tmp_path_factory.mktemp("mlflow") / "iris"
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(*load_iris(return_X_y=True))
    # The pins MLflow would infer, written out: its inference also lists whatever the saving
    # process had imported (pytest, here), which a serving image has no reason to carry.
    mlflow.sklearn.save_model(
        model, str(folder), pip_requirements=installed_pins("mlflow-skinny", "scikit-learn", "skops", "pandas")
    )
    (folder / "metadata.yaml").write_text("name: iris-mlflow\nversions: [iris/v1]\nplatform: mlflow\n")
    return readable(folder), mlflow.pyfunc.load_model(str(folder)).predict(np.array(ROWS))


@pytest.fixture(scope="module")
def pyfunc_mlflow(tmp_path_factory):
    """A PythonModel saved from code (MLflow's models-from-code), reading its input's columns by name."""
    import mlflow.pyfunc
    import pandas as pd

    work = tmp_path_factory.mktemp("pyfunc")
    code = work / "weighted.py"
    code.write_text(PYFUNC_CODE)
    folder = work / "weighted"
    mlflow.pyfunc.save_model(
        str(folder), python_model=str(code), pip_requirements=installed_pins("mlflow-skinny", "pandas")
    )
    frame = pd.DataFrame(np.array([[1.0, 2.0], [3.0, 4.0]]), columns=["a", "b"])
    return readable(folder), mlflow.pyfunc.load_model(str(folder)).predict(frame)["score"].to_numpy()


@pytest.fixture(scope="module")
def lightgbm_folder(tmp_path_factory):
    """A multi-class booster on the iris data, saved as model.bst (the name MLServer and KServe read)."""
    import lightgbm
    from sklearn.datasets import load_iris

    folder = tmp_path_factory.mktemp("lgb") / "iris"
    folder.mkdir()
    X, y = load_iris(return_X_y=True)
    booster = lightgbm.train(
        {"objective": "multiclass", "num_class": 3, "num_leaves": 7, "verbose": -1, "min_data_in_leaf": 5},
        lightgbm.Dataset(X, label=y),
        num_boost_round=15,
    )
    booster.save_model(str(folder / "model.bst"))
    return readable(folder), booster


def grpc_predict(target: str, rows: list[list[float]], names: list[str] | None = None) -> np.ndarray:
    tensor = pb.Tensor(shape=[len(rows), len(rows[0])], values=sum(rows, []))
    request = pb.SeldonMessage(data=pb.DefaultData(names=names or [], tensor=tensor))
    with grpc.insecure_channel(target) as channel:
        reply = rpc.ModelStub(channel).Predict(request, timeout=30)
    return np.array(reply.data.tensor.values).reshape(list(reply.data.tensor.shape))


def _start_failure(model: str, model_uri: str, **more: str) -> str:
    out = run_to_exit(
        [model, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"],
        env=params(model_uri=model_uri, **more),
        timeout=90,
    )
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stdout, out.stdout
    return out.stdout


# --- MLFLOW_SERVER as a process ---------------------------------------------------------------


def test_mlflow_sklearn_model_answers_as_pyfunc_over_rest_and_grpc(serve, sklearn_mlflow):
    folder, want = sklearn_mlflow
    server = serve(MLFLOW, env=params(model_uri=str(folder)))
    answer = server.predict({"data": {"ndarray": ROWS}}).json()
    np.testing.assert_array_equal(answer["data"]["ndarray"], want)
    np.testing.assert_array_equal(grpc_predict(server.grpc_target, ROWS).ravel(), want)
    assert server.get("/metadata").json()["name"] == "iris-mlflow"


def test_mlflow_model_in_a_bucket_is_fetched_whole_when_model_uri_is_a_bucket_uri(serve, sklearn_mlflow, model_bucket):
    """Outside a cluster the server downloads the folder itself: MLmodel, the skops file, requirements;
    from the S3 API and from the GCS one alike."""
    from wharf.storage import upload

    prefix, env = model_bucket
    folder, want = sklearn_mlflow
    for path in folder.iterdir():
        upload(path, f"{prefix}/mlflow/iris/")
    server = serve(MLFLOW, env={**env, **params(model_uri=f"{prefix}/mlflow/iris")})
    np.testing.assert_array_equal(server.predict({"data": {"ndarray": ROWS}}).json()["data"]["ndarray"], want)
    assert all(value not in server.log() for name, value in env.items() if "SECRET" in name)


def test_mlflow_dataframe_xtype_gives_the_request_names_as_columns(serve, pyfunc_mlflow):
    folder, want = pyfunc_mlflow
    server = serve(MLFLOW, env=params(model_uri=str(folder), xtype="DataFrame"))
    rows = [[1.0, 2.0], [3.0, 4.0]]
    got = server.predict({"data": {"names": ["a", "b"], "ndarray": rows}}).json()["data"]["ndarray"]
    np.testing.assert_allclose(np.ravel(got), want)
    np.testing.assert_allclose(grpc_predict(server.grpc_target, rows, names=["a", "b"]).ravel(), want)
    # the columns come from the names: swapped names, swapped meaning
    got = server.predict({"data": {"names": ["b", "a"], "ndarray": rows}}).json()["data"]["ndarray"]
    np.testing.assert_allclose(np.ravel(got), [2 * 2.0 + 1.0, 2 * 4.0 + 3.0])


def test_mlflow_a_pin_of_another_version_is_a_warning_naming_both(serve, sklearn_mlflow, tmp_path):
    import shutil

    folder, want = sklearn_mlflow
    copy = shutil.copytree(folder, tmp_path / "iris")
    (copy / "requirements.txt").write_text("mlflow==2.9.0\nscikit-learn==1.3.0\nskops\n")
    server = serve(MLFLOW, env=params(model_uri=str(copy)))
    np.testing.assert_array_equal(server.predict({"data": {"ndarray": ROWS}}).json()["data"]["ndarray"], want)
    log = server.log()
    from importlib.metadata import version

    assert f"asks for scikit-learn==1.3.0; this image has scikit-learn {version('scikit-learn')}" in log, log
    assert f"asks for mlflow==2.9.0; this image has mlflow-skinny {version('mlflow-skinny')}" in log, log


def needing(folder: Path, target: Path, module: str, requirement: str) -> Path:
    """A copy of the pyfunc model whose code imports ``module`` and whose requirements name it."""
    import shutil

    copy = shutil.copytree(folder, target)
    code = next(p for p in copy.glob("*.py"))
    code.write_text(f"import {module}\n" + code.read_text())
    (copy / "requirements.txt").write_text((copy / "requirements.txt").read_text().rstrip() + f"\n{requirement}\n")
    return readable(copy)


def test_mlflow_a_package_the_image_lacks_is_a_warning_when_the_model_does_not_import_it(
    serve, sklearn_mlflow, tmp_path
):
    """MLflow's inferred requirements name whatever the saving process had loaded (pytest, here): a
    package the model never imports must not stop it."""
    import shutil

    folder, want = sklearn_mlflow
    copy = shutil.copytree(folder, tmp_path / "iris")
    (copy / "requirements.txt").write_text("mlflow\nscikit-learn\nwharf-no-such-package==1.2\n")
    server = serve(MLFLOW, env=params(model_uri=str(copy)))
    np.testing.assert_array_equal(server.predict({"data": {"ndarray": ROWS}}).json()["data"]["ndarray"], want)
    assert (
        f"{copy / 'requirements.txt'} needs wharf-no-such-package==1.2, which this image does not have" in server.log()
    ), server.log()[-2000:]


def test_mlflow_a_model_that_imports_a_missing_package_fails_naming_it_and_the_way_out(pyfunc_mlflow, tmp_path):
    folder, _ = pyfunc_mlflow
    copy = needing(folder, tmp_path / "weighted", "wharf_no_such_package", "wharf-no-such-package==1.2")
    text = _start_failure(MLFLOW, str(copy))
    assert "the MLflow model did not load" in text and "No module named 'wharf_no_such_package'" in text, text
    assert (
        f"{copy / 'requirements.txt'} needs wharf-no-such-package==1.2, which this image does not have "
        f"(MLFLOW_SERVER installs nothing at start-up): build an image FROM wharf/mlflowserver:{wharf.__version__} "
        "that runs pip install -r requirements.txt"
    ) in text, text
    # under a mirrored or derived image (the operator's PREDICTIVE_UNIT_IMAGE), that image is the base to name
    out = run_to_exit(
        [MLFLOW, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"],
        timeout=90,
        env={**params(model_uri=str(copy)), "PREDICTIVE_UNIT_IMAGE": "mirror.example/ml/mlflow:2"},
    )
    assert "build an image FROM mirror.example/ml/mlflow:2 that runs pip install" in out.stdout, out.stdout


def test_mlflow_conda_yaml_pip_list_is_checked_when_there_is_no_requirements_txt(serve, sklearn_mlflow, tmp_path):
    """Models saved before MLflow 1.26 have only conda.yaml."""
    import shutil

    folder, _ = sklearn_mlflow
    copy = shutil.copytree(folder, tmp_path / "iris")
    (copy / "requirements.txt").unlink()
    (copy / "conda.yaml").write_text(
        yaml.safe_dump(
            {"name": "mlflow-env", "dependencies": ["python=3.8.10", "pip", {"pip": ["mlflow", "torch==2.1.0"]}]}
        )
    )
    server = serve(MLFLOW, env=params(model_uri=str(copy)))
    assert f"{copy / 'conda.yaml'} needs torch==2.1.0, which this image does not have" in server.log()


def test_mlflow_a_folder_without_mlmodel_is_named(tmp_path):
    (tmp_path / "model.pkl").write_bytes(b"\x00")
    text = _start_failure(MLFLOW, str(tmp_path))
    assert f"no MLflow model in {tmp_path}: expected MLmodel (found: model.pkl)" in text, text


def test_mlflow_an_mlmodel_without_pyfunc_flavour_is_named(tmp_path):
    (tmp_path / "MLmodel").write_text(yaml.safe_dump({"flavors": {"keras": {"keras_version": "2.4"}}}))
    text = _start_failure(MLFLOW, str(tmp_path))
    assert f"{tmp_path / 'MLmodel'}: no python_function flavour, which MLFLOW_SERVER serves (flavours: keras)" in text


def test_mlflow_an_unknown_xtype_is_refused(sklearn_mlflow):
    folder, _ = sklearn_mlflow
    assert "parameter xtype: 'tensor' is not one of ndarray, DataFrame" in _start_failure(
        MLFLOW, str(folder), xtype="tensor"
    )


def test_wharf_run_serves_an_mlflow_server_node_from_its_folder(sklearn_mlflow, tmp_path):
    """`wharf run` of a SeldonDeployment with implementation MLFLOW_SERVER: the orchestrator in front."""
    from wharf.local.run import LocalGraph

    folder, want = sklearn_mlflow
    path = tmp_path / "mlflow.yaml"
    path.write_text(yaml.safe_dump(sdep("MLFLOW_SERVER", str(folder))))
    with LocalGraph(path, http_port=free_port(), grpc_port=free_port(), out=lambda line: None) as graph:
        answer = httpx.post(f"{graph.url}/api/v1.0/predictions", json={"data": {"ndarray": ROWS}}, timeout=60).json()
    np.testing.assert_array_equal(answer["data"]["ndarray"], want)


# --- LIGHTGBM_SERVER as a process -------------------------------------------------------------


def test_lightgbm_answers_are_the_boosters_own_over_rest_and_grpc(serve, lightgbm_folder):
    folder, booster = lightgbm_folder
    server = serve(LIGHTGBM, env=params(model_uri=str(folder)))
    want = booster.predict(np.array(ROWS))
    assert want.shape == (3, 3)
    np.testing.assert_allclose(server.predict({"data": {"ndarray": ROWS}}).json()["data"]["ndarray"], want, rtol=1e-12)
    np.testing.assert_allclose(grpc_predict(server.grpc_target, ROWS), want, rtol=1e-12)


def test_lightgbm_reads_model_txt_when_there_is_no_model_bst(serve, lightgbm_folder, tmp_path):
    _, booster = lightgbm_folder
    booster.save_model(str(tmp_path / "model.txt"))
    server = serve(LIGHTGBM, env=params(model_uri=str(tmp_path)))
    got = server.predict({"data": {"ndarray": ROWS}}).json()["data"]["ndarray"]
    np.testing.assert_allclose(got, booster.predict(np.array(ROWS)), rtol=1e-12)


def test_lightgbm_a_file_of_another_kind_is_named(tmp_path, lightgbm_folder):
    import xgboost
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)  # an XGBoost booster where the LightGBM one should be
    xgboost.train(
        {"objective": "multi:softprob", "num_class": 3}, xgboost.DMatrix(X, label=y), num_boost_round=2
    ).save_model(str(tmp_path / "model.bst"))
    text = _start_failure(LIGHTGBM, str(tmp_path))
    assert f"{tmp_path / 'model.bst'}: not a LightGBM model file" in text, text


# --- the operator's view: render() --------------------------------------------------------------


def sdep(implementation: str, model_uri: str, **parameters: str) -> dict:
    graph = {"name": "classifier", "implementation": implementation, "modelUri": model_uri}
    if parameters:
        graph["parameters"] = [{"name": k, "value": v, "type": "STRING"} for k, v in parameters.items()]
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "models", "namespace": "default"},
        "spec": {"predictors": [{"name": "default", "graph": graph}]},
    }


def example_config():
    """The operator's config under wharf-core installed with the example's values: `helm template`
    of the chart with examples/servers/lightgbm/values.yaml, and the operator container's env read
    as the operator reads it (Helm merges the custom server into the chart's default table)."""
    from wharf.charts.helm import HelmUnavailable, ensure_helm
    from wharf.charts.render import helm_template
    from wharf.operator.config import OperatorConfig
    from wharf.testing.infra import unavailable

    try:
        ensure_helm(build=False)
    except HelmUnavailable:
        unavailable("helm", "run `invoke charts.helm` (builds it with Go into ~/.cache/wharf)")
    docs = helm_template(
        ROOT / "charts" / "wharf-core",
        [EXAMPLE / "values.yaml"],
        release="wharf",
        namespace="wharf-system",
        kube_version="1.32.0",
        set_values={},
    )
    operator = next(d.doc for d in docs if d.doc["kind"] == "Deployment")
    env = {e["name"]: e["value"] for e in operator["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}
    return OperatorConfig.from_env(env)


def model_container(sdep_obj: dict, config=None) -> tuple[dict, dict]:
    from wharf.operator.render import render

    objects = render(sdep_obj, config)
    pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == "classifier"), pod


def test_the_example_registers_lightgbm_server_and_its_sdep_renders_with_wharf_lightgbmserver():
    example = yaml.safe_load((EXAMPLE / "seldondeployment.yaml").read_text())
    example["metadata"]["namespace"] = "default"
    config = example_config()
    assert config.predictor_servers["SKLEARN_SERVER"]["seldon"] == f"wharf/sklearnserver:{wharf.__version__}"  # kept
    container, pod = model_container(example, config)
    assert container["image"] == f"wharf/lightgbmserver:{wharf.__version__}"
    assert [m["mountPath"] for m in container["volumeMounts"] if m["mountPath"] == "/mnt/models"] == ["/mnt/models"]
    assert pod["initContainers"][0]["args"] == ["s3://models/lightgbm/iris", "/mnt/models"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert json.loads(env["PREDICTIVE_UNIT_PARAMETERS"]) == [
        {"name": "model_uri", "value": "/mnt/models", "type": "STRING"}
    ]
    assert container["securityContext"]["runAsNonRoot"] is True


def test_a_server_missing_from_predictor_servers_is_refused_naming_it():
    from wharf.deployment.validate import SdepError

    example = yaml.safe_load((EXAMPLE / "seldondeployment.yaml").read_text())
    example["metadata"]["namespace"] = "default"
    with pytest.raises(SdepError, match=r"implementation: unknown prepackaged server 'LIGHTGBM_SERVER' \(known: "):
        model_container(example)  # the default table: no LIGHTGBM_SERVER


def test_mlflow_server_renders_with_wharfs_image():
    container, _ = model_container(sdep("MLFLOW_SERVER", "s3://models/mlflow/iris", xtype="DataFrame"))
    assert container["image"] == f"wharf/mlflowserver:{wharf.__version__}"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert {p["name"]: p["value"] for p in json.loads(env["PREDICTIVE_UNIT_PARAMETERS"])} == {
        "xtype": "DataFrame",
        "model_uri": "/mnt/models",
    }


# --- the images -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_image():
    from wharf.build.service_images import MLFLOW_SERVER

    return service_image(MLFLOW_SERVER)


@pytest.fixture(scope="module")
def lightgbm_image():
    from wharf.build.service_images import LIGHTGBM_SERVER

    return service_image(LIGHTGBM_SERVER)


class Container:
    """The rendered model container run as the pod would: its image and its env, UID 1001, the model
    folder at /mnt/models (the storage initializer's copy, here a bind mount). Stricter than the pod:
    a read-only root with only /tmp writable, as the builders' smoke test runs images."""

    def __init__(self, container: dict, folder: Path) -> None:
        ports = {p["containerPort"]: p["name"] for p in container["ports"]}
        env = {e["name"]: e["value"] for e in container["env"] if "value" in e}  # not the downward-API ones
        self.host = {name: free_port() for name in ports.values()}
        self.handle = docker_client().containers.run(
            container["image"],
            detach=True,
            read_only=True,
            tmpfs={"/tmp": ""},
            user="1001:0",
            environment=env,
            volumes={str(folder): {"bind": "/mnt/models", "mode": "ro"}},
            ports={f"{port}/tcp": ("127.0.0.1", self.host[name]) for port, name in ports.items()},
        )
        self.url = f"http://127.0.0.1:{self.host['http']}"
        self.grpc_target = f"127.0.0.1:{self.host['grpc']}"

    def logs(self) -> str:
        return self.handle.logs().decode(errors="replace")

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.handle.reload()
            if self.handle.status == "exited":
                raise AssertionError(f"the container exited:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"not ready in {timeout:.0f}s:\n{self.logs()}")

    def wait_exit(self, timeout: float = 120) -> int:
        return self.handle.wait(timeout=timeout)["StatusCode"]

    def remove(self) -> None:
        self.handle.remove(force=True)


def run_rendered(image: str, sdep_obj: dict, folder: Path, config=None) -> Container:
    container, _ = model_container(sdep_obj, config)
    assert container["image"] == image
    return Container(container, folder)


@pytest.mark.docker
def test_mlflow_image_serves_the_sklearn_model_as_rendered(mlflow_image, sklearn_mlflow):
    folder, want = sklearn_mlflow
    box = run_rendered(mlflow_image, sdep("MLFLOW_SERVER", "s3://models/mlflow/iris"), folder)
    try:
        box.wait_ready()
        answer = httpx.post(f"{box.url}/api/v1.0/predictions", json={"data": {"ndarray": ROWS}}, timeout=30).json()
        np.testing.assert_array_equal(answer["data"]["ndarray"], want)
        np.testing.assert_array_equal(grpc_predict(box.grpc_target, ROWS).ravel(), want)
    finally:
        box.remove()


@pytest.mark.docker
def test_mlflow_image_serves_a_pyfunc_model_with_dataframe_xtype(mlflow_image, pyfunc_mlflow):
    folder, want = pyfunc_mlflow
    box = run_rendered(mlflow_image, sdep("MLFLOW_SERVER", "s3://models/mlflow/w", xtype="DataFrame"), folder)
    try:
        box.wait_ready()
        body = {"data": {"names": ["a", "b"], "ndarray": [[1.0, 2.0], [3.0, 4.0]]}}
        got = httpx.post(f"{box.url}/api/v1.0/predictions", json=body, timeout=30).json()["data"]["ndarray"]
        np.testing.assert_allclose(np.ravel(got), want)
        np.testing.assert_allclose(grpc_predict(box.grpc_target, [[1.0, 2.0], [3.0, 4.0]], ["a", "b"]).ravel(), want)
    finally:
        box.remove()


@pytest.mark.docker
def test_mlflow_image_stops_naming_a_package_the_model_needs_and_it_lacks(mlflow_image, pyfunc_mlflow, tmp_path):
    folder, _ = pyfunc_mlflow
    copy = needing(folder, tmp_path / "weighted", "tabulate", "tabulate")
    box = run_rendered(mlflow_image, sdep("MLFLOW_SERVER", "s3://models/mlflow/weighted"), copy)
    try:
        assert box.wait_exit() != 0
        logs = box.logs()
        assert "No module named 'tabulate'" in logs, logs
        assert (
            f"/mnt/models/requirements.txt needs tabulate, which this image does not have "
            f"(MLFLOW_SERVER installs nothing at start-up): build an image FROM {mlflow_image}"
        ) in logs, logs
        assert "Traceback" not in logs, logs
    finally:
        box.remove()


DERIVED = """\
FROM {image}
COPY build-config/ /tmp/wharf-build/
COPY requirements.txt /tmp/requirements.txt
USER 0
RUN PIP_CONFIG_FILE=/tmp/wharf-build/pip.conf pip install --no-cache-dir -r /tmp/requirements.txt \\
 && rm -rf /tmp/wharf-build /tmp/requirements.txt
USER 1001
"""


@pytest.mark.docker
def test_a_model_needing_more_is_served_by_an_image_from_mlflowserver_as_the_error_says(
    mlflow_image, pyfunc_mlflow, tmp_path
):
    """The recipe of the error and docs/compatibility.md: FROM the image, pip install -r
    requirements.txt, the result as the node's container image. The two build-config lines are this
    machine's package mirror only (a user on the internet leaves them out)."""
    from wharf.build.config import Network
    from wharf.build.engine import build_image, context_tar

    folder, want = pyfunc_mlflow
    copy = needing(folder, tmp_path / "weighted", "tabulate", "tabulate")
    client = docker_client()
    context = context_tar(
        {
            "Dockerfile": DERIVED.format(image=mlflow_image).encode(),
            "requirements.txt": (copy / "requirements.txt").read_bytes(),
            **Network.from_env().context_files(),
        }
    )
    derived = build_image(client, context, label="derived mlflow server")
    try:
        rendered = sdep("MLFLOW_SERVER", "s3://models/mlflow/weighted", xtype="DataFrame")
        rendered["spec"]["predictors"][0]["componentSpecs"] = [
            {"spec": {"containers": [{"name": "classifier", "image": derived}]}}
        ]
        box = run_rendered(derived, rendered, copy)
        try:
            box.wait_ready()
            answer = httpx.post(
                f"{box.url}/api/v1.0/predictions",
                timeout=30,
                json={"data": {"names": ["a", "b"], "ndarray": [[1.0, 2.0], [3.0, 4.0]]}},
            ).json()
            np.testing.assert_allclose(np.array(answer["data"]["ndarray"]).ravel(), want)
        finally:
            box.remove()
        out = client.containers.run(
            mlflow_image,
            ["--http-port", "9000"],
            remove=False,
            detach=True,
            read_only=True,
            tmpfs={"/tmp": ""},
            user="1001:0",
            environment=params(model_uri="/mnt/models"),
            volumes={str(copy): {"bind": "/mnt/models", "mode": "ro"}},
        )
        try:
            assert out.wait(timeout=120)["StatusCode"] != 0  # the image itself still cannot load the model
            assert "needs tabulate, which this image does not have" in out.logs().decode()
        finally:
            out.remove(force=True)
    finally:
        client.images.remove(derived, force=True)


@pytest.mark.docker
def test_lightgbm_image_serves_the_booster_as_rendered_with_the_examples_table(lightgbm_image, lightgbm_folder):
    folder, booster = lightgbm_folder
    example = yaml.safe_load((EXAMPLE / "seldondeployment.yaml").read_text())
    example["metadata"]["namespace"] = "default"
    box = run_rendered(lightgbm_image, example, folder, example_config())
    try:
        box.wait_ready()
        want = booster.predict(np.array(ROWS))
        answer = httpx.post(f"{box.url}/api/v1.0/predictions", json={"data": {"ndarray": ROWS}}, timeout=30).json()
        np.testing.assert_allclose(answer["data"]["ndarray"], want, rtol=1e-12)
        np.testing.assert_allclose(grpc_predict(box.grpc_target, ROWS), want, rtol=1e-12)
    finally:
        box.remove()
