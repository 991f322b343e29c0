"""SKLEARN_SERVER and XGBOOST_SERVER as processes: real models trained here, served by the component
server as upstream's prepackaged server classes are, over REST and gRPC (grpcio's client)."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest
from support import run_to_exit

from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as rpc

SERVER = "wharf.servers.sklearn.SKLearnServer"
XGBOOST = "wharf.servers.xgboost.XGBoostServer"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


def params(**values: str) -> dict[str, str]:
    """PREDICTIVE_UNIT_PARAMETERS as the operator writes them (model_uri is its /mnt/models)."""
    return {
        "PREDICTIVE_UNIT_PARAMETERS": json.dumps([{"name": k, "value": v, "type": "STRING"} for k, v in values.items()])
    }


@pytest.fixture(scope="module")
def iris_folder(tmp_path_factory):
    """A logistic regression on the iris data, saved with joblib as upstream's examples save theirs."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("iris")
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    joblib.dump(model, folder / "model.joblib")
    (folder / "metadata.yaml").write_text("name: iris\nversions: [iris/v1]\nplatform: sklearn\n")
    return folder, model


def test_rest_and_grpc_answers_are_the_models_own(serve, iris_folder):
    folder, model = iris_folder
    server = serve(SERVER, env=params(model_uri=str(folder)))
    answer = server.predict({"data": {"ndarray": ROWS}}).json()
    assert answer["data"]["names"] == ["t:0", "t:1", "t:2"]  # upstream's class sets no class_names
    np.testing.assert_allclose(answer["data"]["ndarray"], model.predict_proba(np.array(ROWS)), rtol=1e-12)

    request = pb.SeldonMessage(data=pb.DefaultData(tensor=pb.Tensor(shape=[3, 4], values=sum(ROWS, []))))
    with grpc.insecure_channel(server.grpc_target) as channel:
        reply = rpc.ModelStub(channel).Predict(request, timeout=30)
    assert list(reply.data.tensor.shape) == [3, 3]
    np.testing.assert_allclose(
        np.array(reply.data.tensor.values).reshape(3, 3), model.predict_proba(np.array(ROWS)), rtol=1e-12
    )
    assert server.get("/metadata").json()["name"] == "iris"


@pytest.mark.parametrize("method", ["predict", "decision_function"])
def test_the_method_parameter_picks_the_estimators_method(serve, iris_folder, method):
    folder, model = iris_folder
    server = serve(SERVER, env=params(model_uri=str(folder), method=method))
    got = server.predict({"data": {"ndarray": ROWS}}).json()["data"]["ndarray"]
    np.testing.assert_allclose(got, getattr(model, method)(np.array(ROWS)), rtol=1e-12)


@pytest.mark.parametrize("kind", ["sklearn", "xgboost"])
def test_a_model_in_a_bucket_is_fetched_when_model_uri_is_a_bucket_uri(serve, request, model_bucket, kind):
    """Outside a cluster there is no storage initializer: the server downloads the folder itself, from
    the S3 API and from the GCS one alike."""
    from wharf.storage import upload

    prefix, env = model_bucket
    folder, model = request.getfixturevalue(f"{kind}_folder" if kind == "xgboost" else "iris_folder")
    for path in folder.iterdir():
        upload(path, f"{prefix}/{kind}/iris/")
    server = serve(SERVER if kind == "sklearn" else XGBOOST, env={**env, **params(model_uri=f"{prefix}/{kind}/iris")})
    got = server.predict({"data": {"ndarray": ROWS}}).json()["data"]["ndarray"]
    if kind == "sklearn":
        np.testing.assert_allclose(got, model.predict_proba(np.array(ROWS)), rtol=1e-12)
    else:
        import xgboost

        np.testing.assert_allclose(got, model.predict(xgboost.DMatrix(np.array(ROWS))), rtol=1e-6)


def test_a_model_file_at_an_https_url_is_fetched(serve, iris_folder, tmp_path):
    """model_uri naming one file over http(s): downloaded once, in the main process."""
    import functools
    import http.server
    import threading

    folder, model = iris_folder
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/model.joblib"
        server = serve(SERVER, env=params(model_uri=url))
        got = server.predict({"data": {"ndarray": ROWS}}).json()["data"]["ndarray"]
    finally:
        httpd.shutdown()
        httpd.server_close()
    np.testing.assert_allclose(got, model.predict_proba(np.array(ROWS)), rtol=1e-12)


def _start_failure(model_uri: str, **more: str) -> str:
    out = run_to_exit(
        [SERVER, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"],
        env=params(model_uri=model_uri, **more),
        timeout=60,
    )
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stdout, out.stdout
    return out.stdout


def test_a_folder_without_a_model_names_the_folder_and_what_is_in_it(tmp_path):
    (tmp_path / "model.bst").write_bytes(b"\x00")
    text = _start_failure(str(tmp_path))
    assert f"no scikit-learn (joblib) model in {tmp_path}: expected model.joblib" in text and "found: model.bst" in text


def test_a_file_that_is_not_a_joblib_model_is_named(tmp_path):
    (tmp_path / "model.joblib").write_text("not a pickle\n")
    assert f"{tmp_path / 'model.joblib'}: not a joblib or pickle file" in _start_failure(str(tmp_path))


def test_a_model_uri_that_does_not_exist_is_named(tmp_path):
    assert f"model_uri {tmp_path / 'nope'}: no such file or directory" in _start_failure(str(tmp_path / "nope"))


def test_an_unknown_method_or_one_the_estimator_lacks_is_refused_at_start(tmp_path, iris_folder):
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC

    folder, _ = iris_folder
    assert "parameter method: 'predict_log' is not one of predict_proba, predict, decision_function" in _start_failure(
        str(folder), method="predict_log"
    )
    joblib.dump(SVC().fit(*load_iris(return_X_y=True)), tmp_path / "model.joblib")  # no probability=True
    text = _start_failure(str(tmp_path))
    assert (
        "the SVC in it has no predict_proba(); set the parameter method to one of: predict, decision_function" in text
    )


@pytest.fixture(scope="module")
def xgboost_folder(tmp_path_factory):
    """A multi-class booster on the iris data, saved as model.bst (the name upstream's server reads)."""
    import xgboost
    from sklearn.datasets import load_iris

    folder = tmp_path_factory.mktemp("xgb")
    X, y = load_iris(return_X_y=True)
    booster = xgboost.train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, xgboost.DMatrix(X, label=y), num_boost_round=20
    )
    booster.save_model(str(folder / "model.bst"))
    return folder, booster


def test_xgboost_answers_are_the_boosters_own_with_two_workers(serve, xgboost_folder):
    """Two workers: the booster is loaded before the fork, and XGBoost's threads must survive it."""
    import xgboost

    folder, booster = xgboost_folder
    server = serve(XGBOOST, env=params(model_uri=str(folder)), workers=2)
    want = booster.predict(xgboost.DMatrix(np.array(ROWS)))
    for _ in range(4):  # reaches both workers
        got = server.predict({"data": {"ndarray": ROWS}}).json()["data"]["ndarray"]
        np.testing.assert_allclose(got, want, rtol=1e-6)
    request = pb.SeldonMessage(data=pb.DefaultData(tensor=pb.Tensor(shape=[3, 4], values=sum(ROWS, []))))
    with grpc.insecure_channel(server.grpc_target) as channel:
        reply = rpc.ModelStub(channel).Predict(request, timeout=30)
    np.testing.assert_allclose(np.array(reply.data.tensor.values).reshape(3, 3), want, rtol=1e-6)


def test_xgboost_reads_model_json_when_there_is_no_model_bst(serve, xgboost_folder, tmp_path):
    import xgboost

    _, booster = xgboost_folder
    booster.save_model(str(tmp_path / "model.json"))
    server = serve(XGBOOST, env=params(model_uri=str(tmp_path)))
    got = server.predict({"data": {"ndarray": ROWS}}).json()["data"]["ndarray"]
    np.testing.assert_allclose(got, booster.predict(xgboost.DMatrix(np.array(ROWS))), rtol=1e-6)


def test_xgboost_a_file_that_is_not_a_booster_is_named(tmp_path):
    (tmp_path / "model.bst").write_text("version https://git-lfs.github.com/spec/v1\n")  # an LFS pointer, say
    out = run_to_exit(
        [XGBOOST, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"],
        env=params(model_uri=str(tmp_path)),
        timeout=60,
    )
    assert out.returncode == 1 and "Traceback" not in out.stdout, out.stdout
    assert f"{tmp_path / 'model.bst'}: not an XGBoost model file" in out.stdout


def test_the_cause_of_a_failed_start_is_the_containers_termination_message(tmp_path):
    """What the kubelet puts in the pod's status (and the operator in the SeldonDeployment's): the
    worker's reason, though the supervisor's "stopping the server" is the log's last line."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.bst").write_text("version https://git-lfs.github.com/spec/v1\n")
    message = tmp_path / "termination-log"
    message.write_text("")  # the kubelet creates the file; outside a pod there is none and nothing is written
    out = run_to_exit(
        [XGBOOST, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"],
        env={**params(model_uri=str(tmp_path / "model")), "WHARF_TERMINATION_MESSAGE_PATH": str(message)},
        timeout=60,
    )
    assert out.returncode == 1
    # the supervisor and the other worker log after the cause, in no fixed order
    assert "stopping the server" in out.stdout
    assert (
        message.read_text()
        == f"load() failed: {tmp_path / 'model' / 'model.bst'}: not an XGBoost model file"
        + message.read_text().split("not an XGBoost model file", 1)[1]
    )
    assert "\n" not in message.read_text().strip()
