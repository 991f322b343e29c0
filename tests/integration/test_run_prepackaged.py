"""``wharf run`` of a SeldonDeployment with ``implementation`` + ``modelUri``: Wharf's server class as a
process, and Wharf's server image with ``--docker`` (the model mounted at /mnt/models, or fetched from
a real S3 API with this shell's credentials), answering with the model's own predictions."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import service_image

from wharf.deployment.graph import GraphError
from wharf.local.process import free_port
from wharf.local.run import LocalGraph

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def sdep_file(folder, implementation: str, model_uri: str, name: str = "iris.yaml", protocol: str = "seldon"):
    path = folder / name
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "machinelearning.seldon.io/v1",
                "kind": "SeldonDeployment",
                "metadata": {"name": "iris"},
                "spec": {
                    "protocol": protocol,
                    "predictors": [
                        {
                            "name": "default",
                            "graph": {"name": "classifier", "implementation": implementation, "modelUri": model_uri},
                        }
                    ],
                },
            }
        )
    )
    return path


def predict(graph: LocalGraph) -> list:
    request = urllib.request.Request(
        f"{graph.url}/api/v1.0/predictions",
        data=json.dumps({"data": {"ndarray": ROWS}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["data"]["ndarray"]


def predict_in_containers(path, lines: list[str]) -> list:
    """`wharf run --docker path`: one prediction, then every container stopped."""
    graph = LocalGraph(path, docker=True, http_port=free_port(), grpc_port=free_port(), out=lines.append)
    graph.start(timeout=120)
    try:
        return predict(graph)
    finally:
        graph.stop()


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory):
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("work")
    (folder / "models" / "iris").mkdir(parents=True)
    model = LogisticRegression(max_iter=1000).fit(*load_iris(return_X_y=True))
    joblib.dump(model, folder / "models" / "iris" / "model.joblib")
    (folder / "models" / "iris").chmod(0o755)  # the image's user (1001) reads the mounted folder
    (folder / "models" / "iris" / "model.joblib").chmod(0o644)
    return folder, model.predict_proba(np.array(ROWS))


def test_a_relative_model_uri_is_served_by_the_server_class_in_a_process(iris_model):
    folder, want = iris_model
    path = sdep_file(folder, "SKLEARN_SERVER", "models/iris")  # relative to the file, as `wharf run` reads it
    with LocalGraph(path, http_port=free_port(), grpc_port=free_port(), out=lambda line: None) as graph:
        np.testing.assert_allclose(predict(graph), want, rtol=1e-9)


@pytest.mark.parametrize(
    "uri, message",
    [
        ("pvc://models/iris", "a pvc:// claim exists only in a cluster"),
        ("hdfs://namenode/models/iris", "hdfs:// is not supported"),
        ("models/nope", "modelUri models/nope: no such file or directory"),
    ],
)
def test_a_model_uri_wharf_run_cannot_use_is_named_before_anything_starts(iris_model, uri, message):
    folder, _ = iris_model
    with pytest.raises(GraphError, match=message):
        LocalGraph(sdep_file(folder, "SKLEARN_SERVER", uri, "bad.yaml"), http_port=free_port(), grpc_port=free_port())


def test_a_users_own_model_with_a_model_uri_still_runs_from_its_folder(tmp_path):
    """modelUri on a node that is not a prepackaged server: the storage initializer's job in a
    cluster, nothing for wharf run to change (the node's code comes from its folder, as before)."""
    examples = Path(__file__).resolve().parents[2] / "examples" / "models"
    path = tmp_path / "own.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "machinelearning.seldon.io/v1",
                "kind": "SeldonDeployment",
                "metadata": {"name": "own"},
                "spec": {
                    "predictors": [
                        {"name": "default", "graph": {"name": "iris", "type": "MODEL", "modelUri": "s3://models/iris"}}
                    ]
                },
            }
        )
    )
    graph = LocalGraph(path, sources={"iris": str(examples / "iris")}, http_port=free_port(), grpc_port=free_port())
    assert [(p.name, p.source, p.model_class) for p in graph.plans] == [("iris", examples / "iris", "IrisClassifier")]


def test_a_server_wharf_has_no_class_for_is_named(iris_model):
    folder, _ = iris_model
    with pytest.raises(GraphError, match="implementation TRITON_SERVER is not one wharf run can serve"):
        LocalGraph(
            sdep_file(folder, "TRITON_SERVER", "models/iris", "triton.yaml"),
            http_port=free_port(),
            grpc_port=free_port(),
        )


@pytest.fixture(scope="module")
def sklearn_image():
    from wharf.build.service_images import SKLEARN_SERVER

    return service_image(SKLEARN_SERVER)


@pytest.mark.docker
def test_docker_mounts_a_local_model_at_mnt_models_in_wharfs_server_image(iris_model, sklearn_image):
    folder, want = iris_model
    lines: list[str] = []
    path = sdep_file(folder, "SKLEARN_SERVER", "models/iris")
    np.testing.assert_allclose(predict_in_containers(path, lines), want, rtol=1e-9)
    assert any("/mnt/models/model.joblib" in line for line in lines), lines[-20:]


@pytest.mark.docker
def test_docker_an_s3_model_is_fetched_here_with_this_shells_credentials_and_mounted(
    iris_model, sklearn_image, s3_env, bucket
):
    """As the storage initializer in a pod: the model is fetched before the server starts and mounted at
    /mnt/models; the server container gets no credential at all."""
    from wharf.storage import upload

    folder, want = iris_model
    upload(folder / "models" / "iris" / "model.joblib", f"s3://{bucket}/sklearn/iris/")
    path = sdep_file(folder, "SKLEARN_SERVER", f"s3://{bucket}/sklearn/iris", "s3.yaml")
    lines: list[str] = []
    np.testing.assert_allclose(predict_in_containers(path, lines), want, rtol=1e-9)
    assert any(f"fetching s3://{bucket}/sklearn/iris for /mnt/models" in line for line in lines), lines[-20:]
    assert any("/mnt/models/model.joblib" in line for line in lines), lines[-20:]
    assert not any(s3_env["AWS_SECRET_ACCESS_KEY"] in line for line in lines)


@pytest.mark.docker
def test_docker_a_gs_model_is_fetched_and_mounted_the_same_way(iris_model, sklearn_image, gcs_env, gcs_bucket):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    folder, want = iris_model
    client = storage.Client(
        project="wharf-test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs_env["STORAGE_EMULATOR_HOST"]},
    )
    client.bucket(gcs_bucket).blob("sklearn/iris/model.joblib").upload_from_filename(
        str(folder / "models" / "iris" / "model.joblib")
    )
    path = sdep_file(folder, "SKLEARN_SERVER", f"gs://{gcs_bucket}/sklearn/iris", "gs.yaml")
    np.testing.assert_allclose(predict_in_containers(path, []), want, rtol=1e-9)


@pytest.mark.docker
def test_docker_a_model_uri_that_does_not_exist_stops_the_run_naming_it(iris_model, sklearn_image, s3_env, bucket):
    folder, _ = iris_model
    path = sdep_file(folder, "SKLEARN_SERVER", f"s3://{bucket}/no/such/model", "missing.yaml")
    graph = LocalGraph(path, docker=True, http_port=free_port(), grpc_port=free_port(), out=lambda line: None)
    with pytest.raises(GraphError, match=rf"modelUri .*s3://{bucket}/no/such/model.*nothing under no/such/model/"):
        graph.start()
    assert graph._procs == [] or all(proc.poll() is not None for _, proc in graph._procs)


@pytest.mark.docker
def test_docker_an_mlflow_model_from_s3_runs_in_wharfs_mlflow_image(tmp_path, s3_env, bucket):
    """MLFLOW_SERVER through `wharf run --docker`: the model folder saved by mlflow.sklearn, fetched from
    the bucket here and mounted, served by wharf/mlflowserver."""
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from wharf.build.service_images import MLFLOW_SERVER, build_service_image
    from wharf.storage import upload

    build_service_image(MLFLOW_SERVER, progress=None)
    model = LogisticRegression(max_iter=500, C=0.05).fit(*load_iris(return_X_y=True))
    mlflow.sklearn.save_model(model, str(tmp_path / "tree"))
    for path in (tmp_path / "tree").iterdir():
        upload(path, f"s3://{bucket}/mlflow/tree/")
    path = sdep_file(tmp_path, "MLFLOW_SERVER", f"s3://{bucket}/mlflow/tree", "mlflow.yaml")
    lines: list[str] = []
    np.testing.assert_array_equal(np.ravel(predict_in_containers(path, lines)), model.predict(np.array(ROWS)))
    assert not any(s3_env["AWS_SECRET_ACCESS_KEY"] in line for line in lines)


@pytest.fixture(scope="module")
def mlserver_image():
    from wharf.build.service_images import MLSERVER

    return service_image(MLSERVER)


def v2_infer(graph: LocalGraph, output: str | None = None) -> np.ndarray:
    """A V2 inference request to the graph's front (the orchestrator), as a V2 client sends it."""
    body: dict = {"inputs": [{"name": "input-0", "shape": [len(ROWS), 4], "datatype": "FP64", "data": sum(ROWS, [])}]}
    if output:
        body["outputs"] = [{"name": output}]
    request = urllib.request.Request(
        f"{graph.url}/v2/models/classifier/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        result = json.loads(answer.read())["outputs"][0]
    assert output is None or result["name"] == output, result
    return np.array(result["data"]).reshape(result["shape"])


@pytest.mark.docker
@pytest.mark.parametrize("implementation", ["SKLEARN_SERVER", "XGBOOST_SERVER"])
def test_docker_protocol_v2_runs_the_operators_mlserver_image(
    iris_model, mlserver_image, s3_env, bucket, tmp_path, implementation
):
    """protocol: v2 through `wharf run --docker`: the image the operator's table names for v2 (Wharf's
    MLServer build, not the Seldon-protocol server), set up as the operator sets it up (runtime,
    /mnt/models), answering V2 requests through the orchestrator with the model's own predictions.
    The xgboost model comes from the S3 API, as a storage initializer would fetch it."""
    import docker

    from wharf.deployment.servers import PREDICTOR_SERVERS
    from wharf.storage import upload

    folder, want = iris_model
    if implementation == "SKLEARN_SERVER":
        path = sdep_file(folder, implementation, "models/iris", "v2-sklearn.yaml", protocol="v2")
        want = {"predict_proba": want}
    else:
        import xgboost
        from sklearn.datasets import load_iris

        X, y = load_iris(return_X_y=True)
        booster = xgboost.train(
            {"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, xgboost.DMatrix(X, label=y), 10
        )
        booster.save_model(str(tmp_path / "model.json"))
        upload(tmp_path / "model.json", f"s3://{bucket}/xgboost/iris/")
        path = sdep_file(tmp_path, implementation, f"s3://{bucket}/xgboost/iris", "v2-xgb.yaml", protocol="v2")
        want = {None: booster.predict(xgboost.DMatrix(np.array(ROWS)))}
    lines: list[str] = []
    graph = LocalGraph(path, docker=True, http_port=free_port(), grpc_port=free_port(), out=lines.append)
    assert [p.image for p in graph.plans] == [PREDICTOR_SERVERS[implementation]["v2"]] == [mlserver_image]
    graph.start(timeout=120)
    try:
        running = docker.from_env().containers.list(filters={"name": f"wharf-run-{os.getpid()}-classifier"})
        assert len(running) == 1 and mlserver_image in running[0].image.tags, running
        for output, expected in want.items():
            np.testing.assert_allclose(v2_infer(graph, output), expected, rtol=1e-6)
    finally:
        graph.stop()
    assert not any(s3_env["AWS_SECRET_ACCESS_KEY"] in line for line in lines)
