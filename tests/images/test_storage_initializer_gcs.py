"""Wharf's storage-initializer image copying ``gs://`` into a mounted folder, as the operator's init
container does: ``docker run --read-only --user 1001:0`` with args ``[modelUri, /mnt/models]``.

The store is fake-gcs-server (a real GCS JSON API, built from its Go module) listening on the Docker
bridge's gateway, reachable from this machine and its containers only, as an in-cluster store would be.
It checks no credentials, so the service-account case also runs a stand-in for Google's token endpoint
(unreachable here) on the same address: it verifies the JWT the container signs with the key.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_walkthrough_docker import bridge_gateway

from wharf.testing.infra import unavailable

pytestmark = [pytest.mark.docker, pytest.mark.gcs]

FILES = {"model.joblib": os.urandom(200_000), "metadata.yaml": b"name: iris\n", "sub/dir/labels.txt": b"a\nb\nc\n"}


@pytest.fixture(scope="module")
def initializer_image(engine) -> str:
    from wharf.build.service_images import STORAGE_INITIALIZER, build_service_image

    return build_service_image(STORAGE_INITIALIZER, progress=None)


@pytest.fixture(scope="module")
def store(engine, tmp_path_factory):
    """fake-gcs-server on the bridge gateway, a bucket with a model folder under a nested prefix."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from wharf.testing.gcs import BUILD_COMMAND, fake_gcs_server_bin, gcs_server

    if fake_gcs_server_bin() is None:
        unavailable("fake-gcs-server", f"run `{BUILD_COMMAND}` to build it from its Go module")
    gateway = bridge_gateway(engine)
    with gcs_server(tmp_path_factory.mktemp("fake-gcs") / "fake-gcs-server.log", host=gateway) as endpoint:
        with storage.Client(
            project="wharf-test", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
        ) as client:
            bucket = client.create_bucket("seldon-models")
            for name, data in FILES.items():
                bucket.blob(f"sklearn/iris/v1/{name}").upload_from_string(data)
        yield gateway, endpoint


def models_volume(tmp_path: Path) -> Path:
    """An emptyDir's stand-in: a root-owned folder anyone may write, as the pod's /mnt/models is."""
    folder = tmp_path / "models"
    folder.mkdir()
    folder.chmod(0o777)
    return folder


def initialize(engine, image: str, uri: str, folder: Path, env: dict[str, str]) -> tuple[int, str]:
    container = engine.containers.run(
        image,
        [uri, "/mnt/models"],
        detach=True,
        read_only=True,
        user="1001:0",
        environment=env,
        volumes={str(folder): {"bind": "/mnt/models", "mode": "rw"}},
    )
    try:
        status = container.wait(timeout=120)["StatusCode"]
        return status, container.logs().decode()
    finally:
        container.remove(force=True)


def test_the_initializer_copies_a_public_gs_prefix_into_mnt_models(engine, initializer_image, store, tmp_path):
    """No Secret at all: anonymous access, as upstream's image gives gs:// for public buckets."""
    _, endpoint = store
    folder = models_volume(tmp_path)
    status, logs = initialize(
        engine, initializer_image, "gs://seldon-models/sklearn/iris/v1", folder, {"STORAGE_EMULATOR_HOST": endpoint}
    )
    assert status == 0, logs
    assert {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == FILES
    assert all(p.stat().st_uid == 1001 for p in folder.rglob("*") if p.is_file())


def test_the_initializer_uses_a_service_account_from_the_rclone_secret(engine, initializer_image, store, tmp_path):
    from wharf.testing.gcs import TokenEndpoint, service_account_json, service_account_key

    gateway, endpoint = store
    private, public = service_account_key()
    tokens = TokenEndpoint(public, host=gateway)
    try:
        secret = {
            "RCLONE_CONFIG_GS_TYPE": "google cloud storage",
            "RCLONE_CONFIG_GS_ANONYMOUS": "false",
            "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS": service_account_json(private, tokens.url),
        }
        folder = models_volume(tmp_path)
        status, logs = initialize(
            engine,
            initializer_image,
            "gs://seldon-models/sklearn/iris/v1/model.joblib",
            folder,
            {"STORAGE_EMULATOR_HOST": endpoint, **secret},
        )
    finally:
        tokens.close()
    assert status == 0, logs
    assert (folder / "model.joblib").read_bytes() == FILES["model.joblib"]
    assert tokens.claims and tokens.claims[0]["iss"] == "models-reader@wharf-test.iam.gserviceaccount.com"


def test_a_missing_prefix_fails_the_init_container_with_its_name(engine, initializer_image, store, tmp_path):
    _, endpoint = store
    folder = models_volume(tmp_path)
    status, logs = initialize(
        engine, initializer_image, "gs://seldon-models/sklearn/nope", folder, {"STORAGE_EMULATOR_HOST": endpoint}
    )
    assert status == 1 and "Traceback" not in logs, logs
    assert (
        "gs://seldon-models/sklearn/nope: no object 'sklearn/nope' and nothing under sklearn/nope/ "
        "in bucket 'seldon-models'"
    ) in logs
    assert not any(folder.iterdir())
