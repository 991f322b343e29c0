"""`implementation: SKLEARN_SERVER` / `XGBOOST_SERVER` with a `modelUri` in S3, on the real node, with no
Seldon image (issue 21).

A scikit-learn and an XGBoost model are trained here and uploaded to a real S3 API (moto, on the
node's address). The operator's defaults put Wharf's storage initializer in front of Wharf's server; the
initializer reads the bucket's credentials from the Secret named by `envSecretRefName`, in the
rclone form upstream's users already have. The answers through the predictor's Service must be
the model's own, and a modelUri that does not exist must say so in the pod's status.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from node_support import cluster_report, get, predict, restricted_namespace, service_url, wait_available, wait_for

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture(scope="module")
def models_in_s3(node_s3, tmp_path_factory):
    """The iris data learnt by both libraries, in s3://models/<library>/iris/, with each model's own answers."""
    import joblib
    import xgboost
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from wharf.storage import Location, _client, s3_settings, upload

    env = {"AWS_ENDPOINT_URL": node_s3, "AWS_ACCESS_KEY_ID": "wharf-e2e", "AWS_SECRET_ACCESS_KEY": "e2e-secret-4c1d"}
    _client(s3_settings(Location("s3", "models", ""), env)).make_bucket("models")
    X, y = load_iris(return_X_y=True)
    folder = tmp_path_factory.mktemp("models")
    joblib.dump(LogisticRegression(max_iter=1000).fit(X, y), folder / "model.joblib")
    booster = xgboost.train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, xgboost.DMatrix(X, label=y), num_boost_round=20
    )
    booster.save_model(str(folder / "model.bst"))
    upload(folder / "model.joblib", "s3://models/sklearn/iris/", env)
    upload(folder / "model.bst", "s3://models/xgboost/iris/", env)
    answers = {
        "SKLEARN_SERVER": joblib.load(folder / "model.joblib").predict_proba(np.array(ROWS)),
        "XGBOOST_SERVER": booster.predict(xgboost.DMatrix(np.array(ROWS))),
    }
    return env, answers


@pytest.fixture(scope="module")
def checking_s3(tmp_path_factory):
    """An S3 API of its own that checks every request's signature, as a real store does, holding the
    sklearn model; (env with a key it knows, env with that key's secret wrong)."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from wharf.storage import Location, _client, s3_settings, upload
    from wharf.testing.node import NODE_IP
    from wharf.testing.s3 import enforce_credentials, s3_server

    folder = tmp_path_factory.mktemp("checking")
    joblib.dump(LogisticRegression(max_iter=300).fit(*load_iris(return_X_y=True)), folder / "model.joblib")
    with s3_server(folder / "moto.log", host=NODE_IP) as endpoint:
        env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "setup", "AWS_SECRET_ACCESS_KEY": "setup-secret"}
        _client(s3_settings(Location("s3", "models", ""), env)).make_bucket("models")
        upload(folder / "model.joblib", "s3://models/sklearn/iris/", env)
        key_id, secret = enforce_credentials(endpoint, "models")
        good = {**env, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}
        yield good, {**good, "AWS_SECRET_ACCESS_KEY": "not-" + secret}


def prepackaged_sdep(implementation: str, model_uri: str) -> dict:
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "iris"},
        "spec": {
            "predictors": [
                {
                    "name": "default",
                    "replicas": 1,
                    "graph": {
                        "name": "classifier",
                        "implementation": implementation,
                        "modelUri": model_uri,
                        "envSecretRefName": "s3-credentials",
                    },
                }
            ]
        },
    }


def seldon_grpc_predict(target: str, rows: list) -> list:
    """Seldon.Predict over gRPC (grpcio, upstream's prediction.proto), through the orchestrator."""
    import grpc
    from google.protobuf import json_format

    from wharf.protocol.pb import prediction_pb2, prediction_pb2_grpc

    message = json_format.ParseDict({"data": {"ndarray": rows}}, prediction_pb2.SeldonMessage())
    with grpc.insecure_channel(target) as channel:
        answer = prediction_pb2_grpc.SeldonStub(channel).Predict(message, timeout=30)
    return json_format.MessageToDict(answer)["data"]["ndarray"]


def credentials_secret(env: dict[str, str]) -> dict:
    """The rclone remote `s3`, as upstream's storage initializer documentation has users write it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s3-credentials"},
        "type": "Opaque",
        "stringData": {
            "RCLONE_CONFIG_S3_TYPE": "s3",
            "RCLONE_CONFIG_S3_PROVIDER": "Other",
            "RCLONE_CONFIG_S3_ENDPOINT": env["AWS_ENDPOINT_URL"],
            "RCLONE_CONFIG_S3_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
            "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
        },
    }


@pytest.mark.parametrize("implementation", ["SKLEARN_SERVER", "XGBOOST_SERVER"])
def test_a_prepackaged_server_serves_a_model_from_s3_with_wharf_images_only(
    kube_node, wharf_core, server_images, models_in_s3, implementation
):
    env, answers = models_in_s3
    library = implementation.split("_")[0].lower()
    ns = restricted_namespace(kube_node, f"prepackaged-{library}")
    try:
        kube_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(credentials_secret(env)))
        kube_node.kubectl(
            "apply",
            "-n",
            ns,
            "-f",
            "-",
            input=json.dumps(prepackaged_sdep(implementation, f"s3://models/{library}/iris")),
        )
        wait_available(kube_node, ns, "iris")
        pod = get(kube_node, "pods", "-n", ns)["items"][0]
        # only Wharf's images (the chart names the orchestrator with its registry, docker.io)
        images = {
            c["image"].removeprefix("docker.io/") for c in pod["spec"]["containers"] + pod["spec"]["initContainers"]
        }
        version = server_images["storage-initializer"].split(":")[1]
        assert images == {
            server_images[f"{library}server"],
            server_images["storage-initializer"],
            f"wharf/orchestrator:{version}",
        }, images
        answer = predict(service_url(kube_node, ns, "iris-default"), ROWS, settle_s=30)
        np.testing.assert_allclose(answer["data"]["ndarray"], answers[implementation], rtol=1e-6)
        grpc_target = service_url(kube_node, ns, "iris-default", port="grpc").removeprefix("http://")
        np.testing.assert_allclose(seldon_grpc_predict(grpc_target, ROWS), answers[implementation], rtol=1e-6)
        # the secret's value never reaches a log
        logs = kube_node.kubectl("logs", "-n", ns, pod["metadata"]["name"], "--all-containers", check=False).stdout
        assert env["AWS_SECRET_ACCESS_KEY"] not in logs
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster_report(kube_node, ns)}") from None
    finally:
        kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.mark.parametrize("case", ["missing-uri", "not-a-model", "wrong-credential"])
def test_a_model_that_cannot_be_served_fails_the_seldondeployment_with_the_cause(
    kube_node, wharf_core, server_images, models_in_s3, case, tmp_path, request
):
    """The storage initializer's last log line (a missing modelUri, a secret key the store refuses) or
    the server's (a file that is no scikit-learn model) reaches the pod's status, and from there the
    SeldonDeployment's: state Failed, with the cause, while the kubelet goes on retrying."""
    env, _ = models_in_s3
    initializer_failed = "init container classifier-model-initializer failed"
    if case == "missing-uri":
        uri, expect = (
            "s3://models/sklearn/no-such-model",
            ["s3://models/sklearn/no-such-model", "nothing under sklearn/no-such-model/"],
        )
        container = initializer_failed
    elif case == "wrong-credential":
        good, env = request.getfixturevalue("checking_s3")
        uri = "s3://models/sklearn/iris"
        # the Secret's rclone variable is named, and why; neither key's value is
        expect = [f"download {uri}", "bucket 'models'", "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", "is wrong"]
        container = initializer_failed
    else:
        from wharf.storage import upload

        bad = tmp_path / "model.joblib"
        bad.write_text("this is a README, not a pickled estimator\n")
        upload(bad, "s3://models/sklearn/not-a-model/", env)
        uri, expect = "s3://models/sklearn/not-a-model", ["/mnt/models/model.joblib: not a joblib or pickle file"]
        container = "container classifier failed"
    ns = restricted_namespace(kube_node, f"prepackaged-{case}")
    try:
        kube_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(credentials_secret(env)))
        kube_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(prepackaged_sdep("SKLEARN_SERVER", uri)))
        status = wait_for(
            "the SeldonDeployment to fail",
            lambda: (s := get(kube_node, "sdep", "iris", "-n", ns).get("status") or {}).get("state") == "Failed" and s,
            timeout=180,
        )
        description = status["description"]
        assert description.startswith("Deployment iris-default-0-classifier: pod iris-default-0-classifier-"), (
            description
        )
        assert container in description, description
        for text in expect:
            assert text in description, description
        assert env["AWS_SECRET_ACCESS_KEY"] not in json.dumps(status)
        if case == "wrong-credential":
            assert good["AWS_SECRET_ACCESS_KEY"] not in json.dumps(status)
        assert status["deploymentStatus"]["iris-default-0-classifier"]["status"] == "Failed"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster_report(kube_node, ns)}") from None
    finally:
        kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_a_pvc_model_uri_serves_the_model_in_the_claim(kube_node, wharf_core, server_images, tmp_path_factory):
    """pvc://<claim>/<path>: the claim (a hostPath PersistentVolume on the node) is mounted and copied from."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("claim")
    (folder / "sklearn" / "iris").mkdir(parents=True)
    model = LogisticRegression(max_iter=300, C=0.5).fit(*load_iris(return_X_y=True))
    joblib.dump(model, folder / "sklearn" / "iris" / "model.joblib")
    for path in (folder, folder / "sklearn", folder / "sklearn" / "iris"):
        path.chmod(0o755)  # the pod's user is not root
    (folder / "sklearn" / "iris" / "model.joblib").chmod(0o644)

    ns = restricted_namespace(kube_node, "prepackaged-pvc")
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"{ns}-models"},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadOnlyMany"],
            "storageClassName": "",
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": str(folder), "type": "Directory"},
            "claimRef": {"namespace": ns, "name": "models"},
        },
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "models"},
        "spec": {
            "accessModes": ["ReadOnlyMany"],
            "storageClassName": "",
            "volumeName": f"{ns}-models",
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    try:
        kube_node.kubectl("apply", "-f", "-", input=json.dumps(volume))
        kube_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(claim))
        sdep = prepackaged_sdep("SKLEARN_SERVER", "pvc://models/sklearn/iris")
        del sdep["spec"]["predictors"][0]["graph"]["envSecretRefName"]
        kube_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(sdep))
        wait_available(kube_node, ns, "iris")
        answer = predict(service_url(kube_node, ns, "iris-default"), ROWS, settle_s=30)
        np.testing.assert_allclose(answer["data"]["ndarray"], model.predict_proba(np.array(ROWS)), rtol=1e-9)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster_report(kube_node, ns)}") from None
    finally:
        kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        kube_node.kubectl("delete", "persistentvolume", f"{ns}-models", "--wait=false", check=False)
