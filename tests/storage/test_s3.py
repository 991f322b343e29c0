"""``wharf storage`` and ``wharf.storage.download`` against a real S3 API (moto server) on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wharf.storage import Location, StorageError, _client, copy, download, s3_settings, upload

pytestmark = pytest.mark.s3

BIG = 21 * 1024 * 1024  # over 20 MB: the upload must go up in parts


def wharf(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wharf.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_a_big_model_file_goes_up_in_parts_and_comes_back_identical(bucket, s3_env, tmp_path) -> None:
    model = tmp_path / "weights.bin"
    model.write_bytes(os.urandom(BIG))
    proc = wharf("storage", "cp", str(model), f"s3://{bucket}/temperature/", env=s3_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"s3://{bucket}/temperature/weights.bin"
    stat = _client(s3_settings(Location("s3", bucket, ""), s3_env)).stat_object(bucket, "temperature/weights.bin")
    assert stat.size == BIG
    assert "-" in stat.etag, f"etag {stat.etag} is not a multipart upload's (<md5>-<parts>)"
    assert int(stat.etag.rsplit("-", 1)[1]) >= 4
    fetched = download(f"s3://{bucket}/temperature/weights.bin", tmp_path / "out")
    assert fetched == tmp_path / "out" / "weights.bin"
    assert fetched.read_bytes() == model.read_bytes()


def test_a_prefix_is_copied_with_everything_under_it(bucket, s3_env, tmp_path) -> None:
    for name in ("model.json", "vocab/words.txt"):
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_text(name)
        upload(tmp_path / "src" / name, f"s3://{bucket}/m/v1/{name}")
    out = download(f"s3://{bucket}/m/v1", tmp_path / "dst")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == ["model.json", "vocab/words.txt"]
    assert (out / "vocab" / "words.txt").read_text() == "vocab/words.txt"


def test_the_storage_initializers_rclone_remote_variables_work_as_they_are(bucket, s3_env, tmp_path) -> None:
    """A Secret written for Seldon's rclone storage initializer, and its ``remote:bucket/key`` URIs."""
    upload(_file(tmp_path, "a.txt", b"rclone"), f"s3://{bucket}/a.txt")
    rclone_env = {
        "RCLONE_CONFIG_MYS3_TYPE": "s3",
        "RCLONE_CONFIG_MYS3_PROVIDER": "Minio",
        "RCLONE_CONFIG_MYS3_ENDPOINT": s3_env["AWS_ENDPOINT_URL"],
        "RCLONE_CONFIG_MYS3_ACCESS_KEY_ID": "k",
        "RCLONE_CONFIG_MYS3_SECRET_ACCESS_KEY": "s",
    }
    got = download(f"mys3:{bucket}/a.txt", tmp_path / "out", env=rclone_env)
    assert got.read_bytes() == b"rclone"


def test_a_missing_object_names_the_key_and_bucket_and_leaves_no_file(bucket, s3_env, tmp_path) -> None:
    proc = wharf("storage", "cp", f"s3://{bucket}/no/such/model.bin", str(tmp_path / "out"), env=s3_env)
    assert proc.returncode == 1
    assert "'no/such/model.bin'" in proc.stderr and repr(bucket) in proc.stderr
    assert not any((tmp_path / "out").rglob("*"))
    assert s3_env["AWS_SECRET_ACCESS_KEY"] not in proc.stderr + proc.stdout


@pytest.fixture(scope="module")
def checking_s3(tmp_path_factory):
    """A moto server of its own that checks signatures (the shared one accepts any key pair): one
    bucket with a model in it, and the key of the one IAM user allowed to read it."""
    from wharf.testing.s3 import enforce_credentials, s3_server

    folder = tmp_path_factory.mktemp("moto-auth")
    with s3_server(folder / "moto.log") as endpoint:
        env = {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1"}
        setup = {**env, "AWS_ACCESS_KEY_ID": "setup", "AWS_SECRET_ACCESS_KEY": "setup"}
        _client(s3_settings(Location("s3", "models", ""), setup)).make_bucket("models")
        upload(_file(folder, "model.joblib", os.urandom(1 << 20)), "s3://models/iris/model.joblib", env=setup)
        key_id, secret = enforce_credentials(endpoint, "models")
        yield env, key_id, secret


@pytest.mark.parametrize(
    ("uri", "key_id", "secret", "variable", "cause"),
    [
        ("s3://models/iris/model.joblib", None, "wrong-secret-5d1e", "AWS_SECRET_ACCESS_KEY", "is wrong"),
        ("s3://models/iris", None, "wrong-secret-5d1e", "AWS_SECRET_ACCESS_KEY", "is wrong"),
        ("s3://models/iris/model.joblib", "AKIANOBODYKNOWS0000", None, "AWS_ACCESS_KEY_ID", "is not known"),
        ("mys3:models/iris/", None, "wrong-secret-5d1e", "RCLONE_CONFIG_MYS3_SECRET_ACCESS_KEY", "is wrong"),
    ],
    ids=["wrong-secret", "wrong-secret-prefix", "unknown-key-id", "rclone-wrong-secret"],
)
def test_a_wrong_credential_names_the_uri_bucket_and_variable_and_leaves_no_file(
    checking_s3, tmp_path, uri, key_id, secret, variable, cause
) -> None:
    """Against a store that checks signatures: what the storage initializer runs (``wharf storage cp``)
    fails, says which variable holds the bad credential (never its value) and copies nothing."""
    base, good_id, good_secret = checking_s3
    good = wharf("storage", "cp", uri, str(tmp_path / "good"), env=_credentials(base, uri, good_id, good_secret))
    assert good.returncode == 0, good.stderr  # the right key pair is let in: only the bad part is refused
    proc = wharf(
        "storage",
        "cp",
        uri,
        str(tmp_path / "out"),
        env=_credentials(base, uri, key_id or good_id, secret or good_secret),
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert f"download {uri}: " in proc.stderr and "bucket 'models'" in proc.stderr, proc.stderr
    assert variable in proc.stderr and cause in proc.stderr, proc.stderr
    assert good_secret not in proc.stderr + proc.stdout and (secret or good_secret) not in proc.stderr + proc.stdout
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


def _credentials(base: dict[str, str], uri: str, key_id: str, secret: str) -> dict[str, str]:
    """The Secret's variables: AWS's names, or for an ``mys3:`` URI the rclone remote's own."""
    if uri.startswith("mys3:"):
        return {
            "RCLONE_CONFIG_MYS3_TYPE": "s3",
            "RCLONE_CONFIG_MYS3_ENDPOINT": base["AWS_ENDPOINT_URL"],
            "RCLONE_CONFIG_MYS3_REGION": base["AWS_REGION"],
            "RCLONE_CONFIG_MYS3_ACCESS_KEY_ID": key_id,
            "RCLONE_CONFIG_MYS3_SECRET_ACCESS_KEY": secret,
        }
    return {**base, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}


def test_a_target_folder_that_cannot_be_written_is_named_without_a_traceback(bucket, s3_env, tmp_path) -> None:
    """The storage initializer's /mnt/models missing its volume is a read-only root: say so, plainly."""
    upload(_file(tmp_path, "m.bin", b"x"), f"s3://{bucket}/m.bin")
    blocked = _file(tmp_path, "a-file", b"") / "models"  # a folder under a regular file cannot exist
    proc = wharf("storage", "cp", f"s3://{bucket}/m.bin", str(blocked), env=s3_env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"cannot create the folder {blocked}: Not a directory" in proc.stderr


def test_a_missing_bucket_is_named(s3_env, tmp_path) -> None:
    with pytest.raises(StorageError, match=r"bucket 'nobody-made-this' does not exist at http://127\.0\.0\.1"):
        download("s3://nobody-made-this/model.bin", tmp_path)
    with pytest.raises(StorageError, match=r"bucket 'nobody-made-this' does not exist"):
        upload(_file(tmp_path, "m.bin", b"x"), "s3://nobody-made-this/m.bin")


def test_an_unreachable_endpoint_fails_fast_and_says_which_variable_to_fix(tmp_path) -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "hush-42"}
    started = time.monotonic()
    with pytest.raises(StorageError) as err:
        download("s3://models/m.bin", tmp_path / "out", env=env)
    assert time.monotonic() - started < 30
    assert f"cannot reach the S3 endpoint http://127.0.0.1:{port}" in str(err.value)
    assert "AWS_ENDPOINT_URL" in str(err.value) and "hush-42" not in str(err.value)


def _file(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def test_seldon_core_storage_download_fetches_a_prefix_that_upstream_1_19_refuses(bucket, s3_env, tmp_path) -> None:
    from wharf.compat.seldon_core.storage import Storage

    upload(_file(tmp_path, "calibration.npy", b"table"), f"s3://{bucket}/temperature/calibration.npy")
    folder = Storage.download(f"s3://{bucket}/temperature")
    assert (Path(folder) / "calibration.npy").read_bytes() == b"table"


def test_a_local_folder_is_copied_into_the_target_as_for_a_mounted_claim(tmp_path) -> None:
    """pvc://: the operator mounts the claim at /mnt/pvc and the initializer copies from there."""
    for name in ("model.joblib", "sub/metadata.yaml"):
        (tmp_path / "claim" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "claim" / name).write_text(name)
    proc = wharf("storage", "cp", str(tmp_path / "claim"), str(tmp_path / "models"), env={})
    assert proc.returncode == 0, proc.stderr
    assert sorted(str(p.relative_to(tmp_path / "models")) for p in (tmp_path / "models").rglob("*") if p.is_file()) == [
        "model.joblib",
        "sub/metadata.yaml",
    ]
    proc = wharf("storage", "cp", str(tmp_path / "claim" / "model.joblib"), str(tmp_path / "one"), env={})
    assert proc.returncode == 0 and (tmp_path / "one" / "model.joblib").read_text() == "model.joblib"
    proc = wharf("storage", "cp", str(tmp_path / "nope"), str(tmp_path / "models"), env={})
    assert proc.returncode == 1 and f"{tmp_path / 'nope'}: no such file or directory" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_scheme_wharf_cannot_fetch_is_named_not_taken_for_a_local_path(tmp_path) -> None:
    proc = wharf("storage", "cp", "wasbs://models@account/sklearn/iris", str(tmp_path / "models"), env={})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "wasbs://models@account/sklearn/iris: wasbs:// is not supported (supported: s3://" in proc.stderr


def test_a_folder_copy_into_a_root_owned_shared_folder_works_as_another_user() -> None:
    """The initializer's case: /mnt/models is an emptyDir's root (root's, mode 0777) and the copy runs
    as the pod's user, which may write files there but not set the folder's mode or times."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a root-owned folder and run the copy as another user")
    import shutil
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(prefix="wharf-shared-"))  # pytest's own folder is root's alone (0700)
    for path in (tmp_path, tmp_path / "claim", tmp_path / "claim" / "sub"):
        path.mkdir(exist_ok=True)
        path.chmod(0o755)
    (tmp_path / "claim" / "sub" / "model.joblib").write_text("m")
    (tmp_path / "claim" / "sub" / "model.joblib").chmod(0o644)
    shared = tmp_path / "models"
    shared.mkdir()
    shared.chmod(0o777)
    pid = os.fork()
    if pid == 0:  # the child drops to the pod's user (the venv may not be readable by it: no exec)
        code = 1
        try:
            os.setgid(0)
            os.setuid(8888)
            copy(str(tmp_path / "claim"), str(shared))
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported through the exit code and stderr
            print(f"copy as 8888 failed: {exc}", file=sys.stderr)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    try:
        assert os.waitstatus_to_exitcode(status) == 0
        assert (shared / "sub" / "model.joblib").read_text() == "m"
    finally:
        shutil.rmtree(tmp_path)


@pytest.fixture
def http_files(tmp_path):
    """A plain HTTP server on loopback (Python's own), serving tmp_path/www."""
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_http_url_is_one_file_downloaded_whole(http_files, tmp_path) -> None:
    root, base = http_files
    (root / "models").mkdir()
    (root / "models" / "model.joblib").write_bytes(os.urandom(3 << 20))
    proc = wharf("storage", "cp", f"{base}/models/model.joblib", str(tmp_path / "out"), env={})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "model.joblib").read_bytes() == (root / "models" / "model.joblib").read_bytes()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["model.joblib"]  # no partial file left


def test_an_http_error_or_an_unreachable_server_is_named_and_leaves_nothing(http_files, tmp_path) -> None:
    from wharf.local.process import free_port

    _, base = http_files
    proc = wharf("storage", "cp", f"{base}/nope/model.joblib", str(tmp_path / "out"), env={})
    assert proc.returncode == 1 and f"download {base}/nope/model.joblib: HTTP 404 File not found" in proc.stderr
    assert not list((tmp_path / "out").iterdir())
    closed = f"http://127.0.0.1:{free_port()}/model.joblib"
    proc = wharf("storage", "cp", closed, str(tmp_path / "out"), env={})
    assert proc.returncode == 1 and f"download {closed}: cannot reach the server" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = wharf("storage", "cp", str(tmp_path / "out"), f"{base}/up/", env={})
    assert proc.returncode == 1 and "uploading to an http(s) URL is not supported" in proc.stderr
