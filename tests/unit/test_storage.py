"""Where ``wharf.storage`` looks for buckets, endpoints and credentials (pure functions)."""

from __future__ import annotations

import pytest

from wharf.storage import DEFAULT_ENDPOINT, Location, StorageError, parse_location, s3_settings


def test_uri_forms() -> None:
    env = {"RCLONE_CONFIG_MINIO_TYPE": "s3"}
    assert parse_location("s3://models/iris/model.joblib", env) == Location("s3", "models", "iris/model.joblib")
    assert parse_location("minio:models/iris", env) == Location("minio", "models", "iris")
    assert str(Location("minio", "models", "iris")) == "minio:models/iris"
    for local in ("/mnt/models", "./model.bin", "file:///mnt/models", "C:model"):  # C: is no configured remote
        assert parse_location(local, env) is None
    with pytest.raises(StorageError, match="no bucket name"):
        parse_location("s3:///key", env)
    gcs = Location("gs", "bucket", "key", "gcs")
    assert parse_location("gs://bucket/key", {}) == gcs and str(gcs) == "gs://bucket/key"
    assert parse_location("gs:bucket/key", {}) == gcs  # upstream's image declares the gs remote itself
    assert parse_location("g:bucket/key", {"RCLONE_CONFIG_G_TYPE": "google cloud storage"}) == Location(
        "g", "bucket", "key", "gcs"
    )
    with pytest.raises(StorageError, match="RCLONE_CONFIG_AZ_TYPE is 'azureblob'; only s3 and google cloud storage"):
        parse_location("az:bucket/key", {"RCLONE_CONFIG_AZ_TYPE": "azureblob"})


def test_the_rclone_remote_wins_over_the_aws_variables() -> None:
    env = {
        "RCLONE_CONFIG_MINIO_TYPE": "s3",
        "RCLONE_CONFIG_MINIO_ENDPOINT": "minio.minio-system.svc:9000",
        "RCLONE_CONFIG_MINIO_ACCESS_KEY_ID": "rk",
        "AWS_ACCESS_KEY_ID": "ak",
        "AWS_SECRET_ACCESS_KEY": "as",
        "AWS_ENDPOINT_URL": "http://aws.example:9000",
    }
    minio = s3_settings(Location("minio", "b", "k"), env)
    assert (minio.endpoint, minio.access_key, minio.secret_key) == ("https://minio.minio-system.svc:9000", "rk", "as")
    plain = s3_settings(Location("s3", "b", "k"), env)
    assert (plain.endpoint, plain.access_key) == ("http://aws.example:9000", "ak")


def test_endpoint_fallbacks() -> None:
    assert s3_settings(Location("s3", "b", ""), {}).endpoint == DEFAULT_ENDPOINT
    assert (
        s3_settings(Location("s3", "b", ""), {"S3_ENDPOINT": "store:9000", "S3_USE_HTTPS": "0"}).endpoint
        == "http://store:9000"
    )
    assert (
        s3_settings(
            Location("s3", "b", ""), {"AWS_ENDPOINT_URL_S3": "http://s3only/", "AWS_ENDPOINT_URL": "http://all"}
        ).endpoint
        == "http://s3only"
    )
    assert s3_settings(Location("s3", "b", ""), {"S3_VERIFY_SSL": "0"}).verify is False


def test_the_secret_stays_out_of_reprs() -> None:
    settings = s3_settings(Location("s3", "b", ""), {"AWS_SECRET_ACCESS_KEY": "hush-1234"})
    assert settings.secret_key == "hush-1234" and "hush-1234" not in repr(settings)
