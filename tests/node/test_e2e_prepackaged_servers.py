"""The other prepackaged servers on the real node, each from a bucket, with Wharf's images only (issue 21):

- MLFLOW_SERVER: an MLflow model saved here with mlflow.sklearn, from S3 (moto on the node's address);
- a custom server registered through wharf-core's `predictor_servers` value (the LightGBM example,
  examples/servers/lightgbm), from S3;
- SKLEARN_SERVER from `gs://`: a real GCS JSON API (fake-gcs-server) on the node's address, read
  anonymously, as upstream's initializer reads public buckets;
- `protocol: v2` SKLEARN_SERVER and XGBOOST_SERVER: Wharf's MLServer image behind Wharf's
  orchestrator, answering V2 REST and gRPC clients through the predictor's Service.

Answers through the predictor's Service must be the model's own, computed here in process.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from node_support import (
    ROOT,
    cluster_report,
    get,
    helm,
    predict,
    restricted_namespace,
    service_url,
    wait_available,
    wait_for,
)

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
KEYS = {"AWS_ACCESS_KEY_ID": "wharf-e2e", "AWS_SECRET_ACCESS_KEY": "e2e-secret-7b2f"}


@pytest.fixture(scope="module")
def s3(node_s3):
    from wharf.storage import Location, _client, s3_settings

    env = {"AWS_ENDPOINT_URL": node_s3, **KEYS}
    client = _client(s3_settings(Location("s3", "servers", ""), env))
    if not client.bucket_exists("servers"):
        client.make_bucket("servers")
    return env


def upload_folder(folder: Path, prefix: str, env: dict[str, str]) -> None:
    from wharf.storage import upload

    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        upload(path, f"s3://servers/{prefix}/{path.relative_to(folder).parent.as_posix()}/".replace("/./", "/"), env)


def secret(env: dict[str, str], extra: dict[str, str] | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "store"},
        "type": "Opaque",
        "stringData": {
            "RCLONE_CONFIG_S3_TYPE": "s3",
            "RCLONE_CONFIG_S3_PROVIDER": "Other",
            "RCLONE_CONFIG_S3_ENDPOINT": env["AWS_ENDPOINT_URL"],
            "RCLONE_CONFIG_S3_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
            "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
            **(extra or {}),
        },
    }


def sdep(name: str, implementation: str, uri: str, protocol: str | None = None) -> dict:
    spec: dict = {
        "predictors": [
            {
                "name": "default",
                "replicas": 1,
                "graph": {
                    "name": "classifier",
                    "implementation": implementation,
                    "modelUri": uri,
                    "envSecretRefName": "store",
                },
            }
        ]
    }
    if protocol:
        spec["protocol"] = protocol
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }


def serve_and_predict(kube, ns: str, objects: list[dict], name: str) -> dict:
    for obj in objects:
        kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))
    wait_available(kube, ns, name)
    return predict(service_url(kube, ns, f"{name}-default"), ROWS, settle_s=30)


def iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


def test_mlflow_server_serves_an_mlflow_model_from_s3(kube_node, wharf_core, server_images, s3, tmp_path):
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=500, C=0.3).fit(*iris())
    mlflow.sklearn.save_model(model, str(tmp_path / "model"))
    upload_folder(tmp_path / "model", "mlflow/iris", s3)
    ns = restricted_namespace(kube_node, "prepackaged-mlflow")
    try:
        answer = serve_and_predict(
            kube_node, ns, [secret(s3), sdep("wine", "MLFLOW_SERVER", "s3://servers/mlflow/iris")], "wine"
        )
        # upstream's MLFlowServer answers pyfunc's predict: the class labels for a classifier
        np.testing.assert_array_equal(np.array(answer["data"]["ndarray"]).ravel(), model.predict(np.array(ROWS)))
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster_report(kube_node, ns)}") from None
    finally:
        kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_a_custom_server_registered_in_predictor_servers_serves_its_model(
    kube_node, wharf_core, server_images, s3, tmp_path
):
    """examples/servers/lightgbm as a user applies it: the values file added to wharf-core (helm upgrade
    --reuse-values keeps the rest), then the example SeldonDeployment with its modelUri in our bucket."""
    import lightgbm
    import yaml

    X, y = iris()
    booster = lightgbm.train(
        {"objective": "multiclass", "num_class": 3, "num_leaves": 7, "verbose": -1, "min_data_in_leaf": 5},
        lightgbm.Dataset(X, label=y),
        num_boost_round=10,
    )
    (tmp_path / "model").mkdir()
    booster.save_model(str(tmp_path / "model" / "model.txt"))
    upload_folder(tmp_path / "model", "lightgbm/iris", s3)
    example = ROOT / "examples" / "servers" / "lightgbm"
    helm(
        kube_node,
        "upgrade",
        "wharf",
        str(ROOT / "charts" / "wharf-core"),
        "-n",
        wharf_core,
        "--reuse-values",
        "-f",
        str(example / "values.yaml"),
        "--wait",
        "--timeout",
        "5m",
    )
    deployment = yaml.safe_load((example / "seldondeployment.yaml").read_text())
    graph = deployment["spec"]["predictors"][0]["graph"]
    graph["modelUri"], graph["envSecretRefName"] = "s3://servers/lightgbm/iris", "store"
    ns = restricted_namespace(kube_node, "prepackaged-custom")
    try:
        answer = serve_and_predict(kube_node, ns, [secret(s3), deployment], deployment["metadata"]["name"])
        np.testing.assert_allclose(answer["data"]["ndarray"], booster.predict(np.array(ROWS)), rtol=1e-9)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster_report(kube_node, ns)}") from None
    finally:
        kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture(scope="module")
def node_gcs(tmp_path_factory):
    """fake-gcs-server on the node's address, where the storage initializer in a pod reaches it."""
    from wharf.testing import infra
    from wharf.testing.gcs import BUILD_COMMAND, fake_gcs_server_bin, gcs_server
    from wharf.testing.node import NODE_IP

    if fake_gcs_server_bin() is None:
        infra.unavailable("fake-gcs-server", f"run `{BUILD_COMMAND}` to build it from its Go module")
    with gcs_server(tmp_path_factory.mktemp("fake-gcs") / "fake-gcs-server.log", host=NODE_IP) as endpoint:
        yield endpoint


def test_a_public_gs_bucket_is_served_with_no_credentials(kube_node, wharf_core, server_images, s3, node_gcs, tmp_path):
    """As upstream's initializer image, Wharf's reads gs:// anonymously when no credential is given; the
    Secret only points the `gs` remote at the stand-in's endpoint (rclone's ENDPOINT option)."""
    import joblib
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=500, C=2.0).fit(*iris())
    joblib.dump(model, tmp_path / "model.joblib")
    client = storage.Client(
        project="wharf-e2e", credentials=AnonymousCredentials(), client_options={"api_endpoint": node_gcs}
    )
    client.create_bucket("public-models").blob("sklearn/iris/model.joblib").upload_from_filename(
        str(tmp_path / "model.joblib")
    )
    ns = restricted_namespace(kube_node, "prepackaged-gcs")
    try:
        answer = serve_and_predict(
            kube_node,
            ns,
            [
                secret(s3, {"RCLONE_CONFIG_GS_ENDPOINT": node_gcs}),
                sdep("iris", "SKLEARN_SERVER", "gs://public-models/sklearn/iris"),
            ],
            "iris",
        )
        np.testing.assert_allclose(answer["data"]["ndarray"], model.predict_proba(np.array(ROWS)), rtol=1e-9)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster_report(kube_node, ns)}") from None
    finally:
        kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _ready(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


def _v2_grpc_infer(target: str, rows: list[list[float]]) -> np.ndarray:
    """ModelInfer over gRPC with grpcio; the answer as MLServer gives it (typed contents or raw bytes)."""
    import grpc

    from wharf.protocol.pb import inference_pb2 as pb

    request = pb.ModelInferRequest(model_name="classifier")
    tensor = request.inputs.add(name="input-0", datatype="FP64", shape=[len(rows), len(rows[0])])
    tensor.contents.fp64_contents.extend(x for row in rows for x in row)
    with grpc.insecure_channel(target) as channel:
        infer = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=pb.ModelInferRequest.SerializeToString,
            response_deserializer=pb.ModelInferResponse.FromString,
        )
        answer = infer(request, timeout=30)
    (output,) = answer.outputs
    dtype = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32}[output.datatype]
    if answer.raw_output_contents:
        values = np.frombuffer(answer.raw_output_contents[0], dtype=dtype)
    else:
        contents = output.contents
        values = np.array(
            {"FP32": contents.fp32_contents, "FP64": contents.fp64_contents}.get(output.datatype)
            or list(contents.int64_contents or contents.int_contents),
            dtype=dtype,
        )
    return values.reshape(list(output.shape))


@pytest.mark.parametrize("implementation", ["SKLEARN_SERVER", "XGBOOST_SERVER"])
def test_protocol_v2_serves_the_model_with_wharfs_mlserver_image_through_the_orchestrator(
    kube_node, wharf_core, server_images, s3, tmp_path, implementation
):
    """`protocol: v2`: MLServer (built here from PyPI) runs the model, Wharf's orchestrator speaks
    V2 in front of it as upstream's executor does, and V2 clients get the model's answers over REST
    (NVIDIA's tritonclient) and gRPC (grpcio) through the predictor's Service."""
    import tritonclient.http as httpclient

    X, y = iris()
    (tmp_path / "model").mkdir()
    if implementation == "SKLEARN_SERVER":
        import joblib
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=500).fit(X, y)
        joblib.dump(model, tmp_path / "model" / "model.joblib")
        want = model.predict(np.array(ROWS))
    else:
        import xgboost

        booster = xgboost.train(
            {"objective": "multi:softprob", "num_class": 3, "max_depth": 3},
            xgboost.DMatrix(X, label=y),
            num_boost_round=10,
        )
        booster.save_model(str(tmp_path / "model" / "model.bst"))
        want = booster.predict(xgboost.DMatrix(np.array(ROWS)))
    library = implementation.split("_")[0].lower()
    upload_folder(tmp_path / "model", f"v2/{library}", s3)
    name = f"v2{library}"
    ns = restricted_namespace(kube_node, f"prepackaged-v2-{library}")
    try:
        for obj in (secret(s3), sdep(name, implementation, f"s3://servers/v2/{library}", protocol="v2")):
            kube_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))
        wait_available(kube_node, ns, name)
        pods = [p for p in get(kube_node, "pods", "-n", ns)["items"] if not p["metadata"].get("deletionTimestamp")]
        images = {c["image"].removeprefix("docker.io/") for p in pods for c in p["spec"]["containers"]}
        assert images == {server_images["mlserver"], f"wharf/orchestrator:{server_images['mlserver'].split(':')[1]}"}
        http_url = service_url(kube_node, ns, f"{name}-default")
        wait_for("kube-proxy to route the Service", lambda: _ready(f"{http_url}/v2/health/ready"), timeout=60)
        client = httpclient.InferenceServerClient(url=http_url.removeprefix("http://"))
        try:
            tensor = httpclient.InferInput("input-0", [len(ROWS), 4], "FP64")
            tensor.set_data_from_numpy(np.array(ROWS, dtype=np.float64), binary_data=False)
            result = client.infer("classifier", [tensor])
            rest = result.as_numpy(result.get_response()["outputs"][0]["name"])
        finally:
            client.close()
        grpc_target = service_url(kube_node, ns, f"{name}-default", port="grpc").removeprefix("http://")
        for got in (rest, _v2_grpc_infer(grpc_target, ROWS)):
            np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-6)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster_report(kube_node, ns)}") from None
    finally:
        kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)
