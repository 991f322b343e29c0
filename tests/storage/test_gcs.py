"""``gs://`` in ``wharf storage cp``, ``wharf.storage.download`` and the server classes, against a real
Google Cloud Storage JSON API on loopback (fake-gcs-server, built from its Go module), through
google-cloud-storage.

fake-gcs-server checks no credentials: it answers an anonymous request and one with any bearer token
alike, and never answers 401 or 403. What is checkable is checked: that anonymous access is the
default and reads a bucket; that a service-account credential, in each upstream form, really signs a
token request with its key (Google's token endpoint cannot exist here: a stand-in on loopback takes
its place, verifies the signed JWT with the key's public half, and answers or refuses); and that a
refused or malformed credential fails with a message naming the variable, never the secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wharf.storage import GCSCredential, Location, StorageError, download, gcs_credential, gcs_endpoint
from wharf.testing.gcs import TokenEndpoint, service_account_json
from wharf.testing.gcs import service_account_key as new_key

MODEL_FILES = {
    "model.joblib": os.urandom(300_000),
    "metadata.yaml": b"name: iris\nplatform: sklearn\n",
    "vocab/nested/words.txt": b"setosa\nversicolor\nvirginica\n",
}


def wharf(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wharf.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def admin_client(endpoint: str):
    """Google's client, used as a store's administrator would, to put files in place (outside Wharf)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project="wharf-test", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
    )


def put(endpoint: str, bucket: str, files: dict[str, bytes], prefix: str) -> None:
    with admin_client(endpoint) as client:
        for name, data in files.items():
            client.bucket(bucket).blob(prefix + name).upload_from_string(data)


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- copying, anonymous (the default) ----------------------------------------------------------------
@pytest.mark.gcs
def test_a_model_folder_under_a_nested_prefix_is_copied_byte_for_byte(gcs_env, gcs_bucket, tmp_path) -> None:
    endpoint = gcs_env["STORAGE_EMULATOR_HOST"]
    put(endpoint, gcs_bucket, MODEL_FILES, "sklearn/iris/v1/")
    put(endpoint, gcs_bucket, {"model.joblib": b"another model"}, "sklearn/iris/v10/")  # shares the prefix text
    put(endpoint, gcs_bucket, {"": b""}, "sklearn/iris/v1/empty-folder/")  # a console's folder placeholder
    proc = wharf("storage", "cp", f"gs://{gcs_bucket}/sklearn/iris/v1", str(tmp_path / "models"), env=gcs_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "models")
    assert files_in(tmp_path / "models") == MODEL_FILES  # contents only: no v10 file, no placeholder, no temp
    proc = wharf("storage", "cp", f"gs://{gcs_bucket}/sklearn/iris/v1/", str(tmp_path / "slash"), env=gcs_env)
    assert proc.returncode == 0 and files_in(tmp_path / "slash") == MODEL_FILES, proc.stderr


@pytest.mark.gcs
def test_one_object_lands_under_its_own_name(gcs_env, gcs_bucket, tmp_path) -> None:
    put(gcs_env["STORAGE_EMULATOR_HOST"], gcs_bucket, MODEL_FILES, "m/")
    got = download(f"gs://{gcs_bucket}/m/vocab/nested/words.txt", tmp_path / "out")
    assert got == tmp_path / "out" / "words.txt"
    assert files_in(tmp_path / "out") == {"words.txt": MODEL_FILES["vocab/nested/words.txt"]}


@pytest.mark.gcs
def test_the_rclone_remote_forms_of_upstreams_initializer_work(gcs_endpoint, gcs_bucket, tmp_path) -> None:
    """``gs:bucket/path`` (the remote upstream's image declares) and a remote a Secret declares."""
    put(gcs_endpoint, gcs_bucket, MODEL_FILES, "iris/")
    got = download(f"gs:{gcs_bucket}/iris", tmp_path / "a", env={"STORAGE_EMULATOR_HOST": gcs_endpoint})
    assert files_in(got) == MODEL_FILES
    secret = {
        "RCLONE_CONFIG_MYGCS_TYPE": "google cloud storage",
        "RCLONE_CONFIG_MYGCS_ANONYMOUS": "true",
        "RCLONE_CONFIG_MYGCS_ENDPOINT": gcs_endpoint,
    }
    assert files_in(download(f"mygcs:{gcs_bucket}/iris", tmp_path / "b", env=secret)) == MODEL_FILES


@pytest.mark.gcs
def test_a_file_goes_up_with_wharf_storage_cp_and_comes_back_identical(gcs_env, gcs_bucket, tmp_path) -> None:
    model = tmp_path / "model.bst"
    model.write_bytes(os.urandom(3 << 20))
    proc = wharf("storage", "cp", str(model), f"gs://{gcs_bucket}/xgb/", env=gcs_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"gs://{gcs_bucket}/xgb/model.bst"
    with admin_client(gcs_env["STORAGE_EMULATOR_HOST"]) as client:
        assert client.bucket(gcs_bucket).blob("xgb/model.bst").download_as_bytes() == model.read_bytes()


# --- bad input: named, no traceback, nothing left behind -----------------------------------------------
@pytest.mark.gcs
def test_a_missing_bucket_or_prefix_is_named_and_leaves_nothing(gcs_env, gcs_bucket, tmp_path) -> None:
    endpoint = gcs_env["STORAGE_EMULATOR_HOST"]
    proc = wharf("storage", "cp", "gs://nobody-made-this/sklearn/iris", str(tmp_path / "out"), env=gcs_env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert (
        f"download gs://nobody-made-this/sklearn/iris: bucket 'nobody-made-this' does not exist at {endpoint}"
        in proc.stderr
    )
    proc = wharf("storage", "cp", f"gs://{gcs_bucket}/no/such/model", str(tmp_path / "out"), env=gcs_env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert (
        f"gs://{gcs_bucket}/no/such/model: no object 'no/such/model' and nothing under no/such/model/ "
        f"in bucket {gcs_bucket!r}"
    ) in proc.stderr
    assert not any((tmp_path / "out").rglob("*"))


def test_an_unsupported_scheme_or_a_missing_bucket_name_is_named(tmp_path) -> None:
    proc = wharf("storage", "cp", "hdfs://namenode/models/iris", str(tmp_path / "models"), env={})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "hdfs://namenode/models/iris: hdfs:// is not supported (supported: s3://<bucket>/<key>, gs://" in proc.stderr
    with pytest.raises(StorageError, match=r"gs:///iris: no bucket name \(expected gs://<bucket>/<key>\)"):
        download("gs:///iris", tmp_path, env={})
    with pytest.raises(StorageError, match="RCLONE_CONFIG_AZ_TYPE is 'azureblob'; only s3 and google cloud storage"):
        download("az:models/iris", tmp_path, env={"RCLONE_CONFIG_AZ_TYPE": "azureblob"})


@pytest.mark.gcs
def test_object_names_that_climb_out_of_the_target_are_refused_before_anything_is_written(
    gcs_env, gcs_bucket, tmp_path
) -> None:
    """A broken or hostile store: ``..`` in a name must not write outside /mnt/models."""
    put(gcs_env["STORAGE_EMULATOR_HOST"], gcs_bucket, {"a.txt": b"fine", "../../escaped.txt": b"evil"}, "m/")
    with pytest.raises(
        StorageError,
        match=r"the object name 'm/\.\./\.\./escaped\.txt' in bucket .* would land "
        r"outside",
    ):
        download(f"gs://{gcs_bucket}/m", tmp_path / "deep" / "out")
    assert not list(tmp_path.rglob("*.txt"))


def test_an_unreachable_endpoint_fails_within_the_retry_bound_and_names_the_variable(tmp_path) -> None:
    from wharf.local.process import free_port

    closed = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(StorageError) as err:
        download("gs://models/iris", tmp_path / "out", env={"STORAGE_EMULATOR_HOST": closed})
    assert time.monotonic() - started < 40
    assert f"cannot reach the Google Cloud Storage endpoint {closed}" in str(err.value)
    assert "STORAGE_EMULATOR_HOST" in str(err.value)


def test_without_google_cloud_storage_installed_gs_is_named_not_a_traceback(tmp_path) -> None:
    """An image or venv made without the gcs extra (the library's absence simulated: import blocked)."""
    code = (
        "import sys; sys.modules['google.cloud.storage'] = None\n"
        "from wharf.cli import main\n"
        f"sys.exit(main(['storage', 'cp', 'gs://models/iris', {str(tmp_path / 'm')!r}]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "gs://models/iris: gs:// needs google-cloud-storage, which is not installed here" in proc.stderr


# --- which credential: pure, no server ---------------------------------------------------------------------
GS = Location("gs", "models", "iris", "gcs")


@pytest.mark.parametrize(
    "env, want",
    [
        ({}, GCSCredential("anonymous")),
        (
            {"RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS": "{}"},
            GCSCredential("json", "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS"),
        ),
        (
            {"RCLONE_CONFIG_GS_SERVICE_ACCOUNT_FILE": "/s/key.json", "GOOGLE_APPLICATION_CREDENTIALS": "/g.json"},
            GCSCredential("file", "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_FILE"),
        ),
        ({"GOOGLE_APPLICATION_CREDENTIALS": "/g.json"}, GCSCredential("file", "GOOGLE_APPLICATION_CREDENTIALS")),
        # rclone lets ANONYMOUS=true win over a key, as upstream's image (which sets it) does
        (
            {"RCLONE_CONFIG_GS_ANONYMOUS": "true", "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS": "{}"},
            GCSCredential("anonymous", "RCLONE_CONFIG_GS_ANONYMOUS"),
        ),
        (
            {"RCLONE_CONFIG_GS_ANONYMOUS": "false", "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS": "{}"},
            GCSCredential("json", "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS"),
        ),
        ({"RCLONE_CONFIG_GS_ANONYMOUS": "false"}, GCSCredential("default", "RCLONE_CONFIG_GS_ANONYMOUS")),
        ({"RCLONE_CONFIG_GS_ENV_AUTH": "true"}, GCSCredential("default", "RCLONE_CONFIG_GS_ENV_AUTH")),
        ({"RCLONE_CONFIG_OTHER_SERVICE_ACCOUNT_CREDENTIALS": "{}"}, GCSCredential("anonymous")),  # another remote's
    ],
)
def test_the_credential_is_chosen_in_rclones_order_then_google_application_credentials(env, want) -> None:
    assert gcs_credential(GS, env) == want


def test_the_endpoint_is_the_remotes_then_the_emulators_then_googles() -> None:
    assert gcs_endpoint(GS, {}) == "https://storage.googleapis.com"
    assert gcs_endpoint(GS, {"STORAGE_EMULATOR_HOST": "localhost:4443"}) == "http://localhost:4443"
    assert (
        gcs_endpoint(GS, {"STORAGE_EMULATOR_HOST": "http://a:1", "RCLONE_CONFIG_GS_ENDPOINT": "https://b/"})
        == "https://b"
    )


# --- service-account credentials, with a stand-in for Google's token endpoint ----------------------------------
@pytest.fixture(scope="module")
def service_account_key() -> tuple[str, str]:
    return new_key()


@pytest.fixture
def token_endpoint(service_account_key):
    endpoint = TokenEndpoint(service_account_key[1])
    yield endpoint
    endpoint.close()


@pytest.mark.gcs
@pytest.mark.parametrize(
    "form",
    [
        "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS",
        "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_FILE",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ],
)
def test_a_service_account_in_each_upstream_form_signs_the_token_request(
    form, gcs_env, gcs_bucket, service_account_key, token_endpoint, tmp_path
) -> None:
    put(gcs_env["STORAGE_EMULATOR_HOST"], gcs_bucket, MODEL_FILES, "iris/")
    secret = service_account_json(service_account_key[0], token_endpoint.url)
    if form == "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS":  # the JSON itself; the other two name a file
        env = {form: secret}
    else:
        (tmp_path / "key.json").write_text(secret)
        env = {form: str(tmp_path / "key.json")}
    proc = wharf("storage", "cp", f"gs://{gcs_bucket}/iris", str(tmp_path / "models"), env={**gcs_env, **env})
    assert proc.returncode == 0, proc.stderr
    assert files_in(tmp_path / "models") == MODEL_FILES
    assert token_endpoint.claims, "the key was not used to ask for a token"
    claims = token_endpoint.claims[0]
    assert claims["iss"] == "models-reader@wharf-test.iam.gserviceaccount.com"
    assert "devstorage" in claims["scope"]


@pytest.mark.gcs
def test_a_refused_credential_names_the_uri_and_variable_and_never_the_key(
    gcs_env, gcs_bucket, service_account_key, tmp_path
) -> None:
    put(gcs_env["STORAGE_EMULATOR_HOST"], gcs_bucket, MODEL_FILES, "iris/")
    refusing = TokenEndpoint(service_account_key[1], refuse=True)
    try:
        secret = service_account_json(service_account_key[0], refusing.url)
        proc = wharf(
            "storage",
            "cp",
            f"gs://{gcs_bucket}/iris",
            str(tmp_path / "models"),
            env={**gcs_env, "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS": secret},
        )
    finally:
        refusing.close()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert (
        f"download gs://{gcs_bucket}/iris: the service account in RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS "
        "was refused when asking for an access token"
    ) in proc.stderr
    assert "invalid_grant" in proc.stderr
    output = proc.stdout + proc.stderr
    assert secret not in output and "PRIVATE KEY" not in output and service_account_key[0][100:160] not in output
    assert not any((tmp_path / "models").rglob("*"))


@pytest.mark.parametrize(
    "value, message",
    [
        (
            '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nsecretkeymaterial42',
            "is not valid JSON",
        ),
        ('{"type": "authorized_user", "client_secret": "secretkeymaterial42"}', "is not a service account key"),
        ('{"type": "service_account", "private_key": "secretkeymaterial42"}', "is not a usable service account key"),
    ],
)
def test_a_malformed_credentials_json_is_named_by_its_variable_without_its_value(value, message, tmp_path) -> None:
    proc = wharf(
        "storage",
        "cp",
        "gs://models/iris",
        str(tmp_path / "models"),
        env={"RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS": value, "STORAGE_EMULATOR_HOST": "127.0.0.1:9"},
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"wharf storage: gs://models/iris: RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS {message}" in proc.stderr
    assert "secretkeymaterial42" not in proc.stdout + proc.stderr


def test_a_credentials_file_that_is_missing_is_named_with_its_variable(tmp_path) -> None:
    with pytest.raises(
        StorageError,
        match=r"gs://models/iris: GOOGLE_APPLICATION_CREDENTIALS=/nope/key\.json: "
        r"(cannot read the credentials file|not a usable credentials file)",
    ):
        download("gs://models/iris", tmp_path, env={"GOOGLE_APPLICATION_CREDENTIALS": "/nope/key.json"})


def test_a_key_pasted_into_a_path_variable_is_refused_without_showing_it(service_account_key, tmp_path) -> None:
    """A common slip: the JSON itself in GOOGLE_APPLICATION_CREDENTIALS, which names a file."""
    secret = service_account_json(service_account_key[0], "http://127.0.0.1:9/token")
    proc = wharf(
        "storage", "cp", "gs://models/iris", str(tmp_path / "m"), env={"GOOGLE_APPLICATION_CREDENTIALS": secret}
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "gs://models/iris: GOOGLE_APPLICATION_CREDENTIALS holds JSON, not the path of a file" in proc.stderr
    assert secret not in proc.stderr and "PRIVATE KEY" not in proc.stderr


# --- the server classes and wharf run, with a gs:// model_uri -----------------------------------------------
@pytest.fixture(scope="module")
def iris_model(tmp_path_factory):
    import joblib
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("iris")
    model = LogisticRegression(max_iter=1000).fit(*load_iris(return_X_y=True))
    joblib.dump(model, folder / "model.joblib")
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    return folder, rows, model.predict_proba(np.array(rows))


@pytest.mark.gcs
def test_wharf_run_serves_a_sklearn_model_from_a_gs_model_uri(gcs_env, gcs_bucket, iris_model, tmp_path) -> None:
    """``wharf run``: no storage initializer outside a cluster; Wharf's server class fetches the folder."""
    import urllib.request

    import numpy as np
    import yaml

    from wharf.local.process import free_port
    from wharf.local.run import LocalGraph

    folder, rows, want = iris_model
    put(
        gcs_env["STORAGE_EMULATOR_HOST"],
        gcs_bucket,
        {"model.joblib": (folder / "model.joblib").read_bytes()},
        "sklearn/iris/",
    )
    path = tmp_path / "iris.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "machinelearning.seldon.io/v1",
                "kind": "SeldonDeployment",
                "metadata": {"name": "iris"},
                "spec": {
                    "predictors": [
                        {
                            "name": "default",
                            "graph": {
                                "name": "classifier",
                                "implementation": "SKLEARN_SERVER",
                                "modelUri": f"gs://{gcs_bucket}/sklearn/iris",
                            },
                        }
                    ]
                },
            }
        )
    )
    with LocalGraph(path, http_port=free_port(), grpc_port=free_port(), out=lambda line: None) as graph:
        request = urllib.request.Request(
            f"{graph.url}/api/v1.0/predictions",
            data=json.dumps({"data": {"ndarray": rows}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            got = json.loads(answer.read())["data"]["ndarray"]
    np.testing.assert_allclose(got, want, rtol=1e-9)


@pytest.mark.gcs
def test_the_server_names_a_refused_credential_in_its_log_without_the_secret(
    gcs_env, gcs_bucket, service_account_key, tmp_path
) -> None:
    """The server class started with a gs:// model_uri and a key the token endpoint refuses."""
    from wharf.local.process import free_port

    refusing = TokenEndpoint(service_account_key[1], refuse=True)
    secret = service_account_json(service_account_key[0], refusing.url)
    params = json.dumps([{"name": "model_uri", "value": f"gs://{gcs_bucket}/iris", "type": "STRING"}])
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "wharf.cli",
                "serve",
                "wharf.servers.sklearn.SKLearnServer",
                "--http-port",
                str(free_port()),
                "--grpc-port",
                str(free_port()),
                "--metrics-port",
                str(free_port()),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                **os.environ,
                **gcs_env,
                "PREDICTIVE_UNIT_PARAMETERS": params,
                "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS": secret,
            },
        )
    finally:
        refusing.close()
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in log, log[-3000:]
    assert f"model_uri gs://{gcs_bucket}/iris" in log and "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS" in log
    assert secret not in log and "PRIVATE KEY" not in log
