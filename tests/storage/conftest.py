from __future__ import annotations

import pytest

from wharf.testing.infra import unavailable
from wharf.testing.s3 import moto_server_bin, s3_server


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """A real S3 API (moto server mode) on 127.0.0.1, for the whole session."""
    if moto_server_bin() is None:
        unavailable("the moto S3 server", "run `python -m wharf.testing.s3` to install it in its own venv")
    with s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch) -> dict[str, str]:
    """The variables a user exports for an S3-compatible store; moto accepts any key pair."""
    env = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "wharf-test",
           "AWS_SECRET_ACCESS_KEY": "not-a-real-secret-7f3a", "AWS_REGION": "us-east-1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def bucket(s3_env) -> str:
    """A fresh bucket, made the way a store's administrator would (outside Wharf)."""
    import uuid

    from wharf.storage import Location, _client, s3_settings

    name = f"models-{uuid.uuid4().hex[:8]}"
    _client(s3_settings(Location("s3", name, ""), s3_env)).make_bucket(name)
    return name
