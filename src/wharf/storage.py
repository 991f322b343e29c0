"""Model files in S3-compatible object stores: ``wharf storage cp`` and ``download()`` for ``load()``.

Credentials and endpoints come from the environment, in the two forms Seldon users already have:

- the storage initializer's rclone remotes, ``RCLONE_CONFIG_<REMOTE>_{ENDPOINT,ACCESS_KEY_ID,
  SECRET_ACCESS_KEY,REGION}``, so the Secret a SeldonDeployment names in ``envSecretRefName``
  works unchanged, with URIs in either ``s3://bucket/key`` or rclone's ``<remote>:bucket/key`` form;
- the AWS SDK variables ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (or the older ``S3_ENDPOINT``
  with ``S3_USE_HTTPS``), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``.

The client is MinIO's (the S3 library seldon-core's own storage module used): it signs requests,
and uploads files above 5 MiB in parts. Secrets never appear in messages or reprs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

DEFAULT_ENDPOINT = "https://s3.amazonaws.com"


class StorageError(RuntimeError):
    """A copy from or to object storage failed; the message names the URI and what to change."""


@dataclass(frozen=True)
class Location:
    """An object (or prefix) in a bucket; ``remote`` is the rclone remote name, ``s3`` for ``s3://``."""

    remote: str
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.remote == "s3" else f"{self.remote}:{self.bucket}/{self.key}"


@dataclass(frozen=True)
class S3Settings:
    endpoint: str
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    region: str | None = None
    verify: bool = True


def parse_location(uri: str, env: Mapping[str, str]) -> Location | None:
    """The bucket location ``uri`` names, or None when it is a local path (plain or ``file://``)."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme in HTTP_SCHEMES:
        return None
    if scheme and scheme not in ("s3", "file"):
        raise StorageError(f"{uri}: {scheme}:// is not supported (supported: s3://<bucket>/<key>, an rclone "
                           "remote <remote>:<bucket>/<key> of type s3, https:// for one file, a local path or "
                           "file://, and pvc:// in a SeldonDeployment)")
    if uri.startswith("s3://"):
        remote, rest = "s3", uri[5:]
    elif ":" in uri and not uri.startswith(("/", ".", "file:")) and _remote_type(uri.split(":", 1)[0], env):
        remote, rest = uri.split(":", 1)
    else:
        return None
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise StorageError(f"{uri}: no bucket name (expected s3://<bucket>/<key>)")
    return Location(remote, bucket, key)


def _remote_type(remote: str, env: Mapping[str, str]) -> str | None:
    kind = env.get(f"RCLONE_CONFIG_{remote.upper()}_TYPE")
    if kind and kind != "s3":
        raise StorageError(f"{remote}: RCLONE_CONFIG_{remote.upper()}_TYPE is {kind!r}; only s3 remotes are supported")
    return kind


def s3_settings(location: Location, env: Mapping[str, str]) -> S3Settings:
    """Endpoint and credentials for ``location``: its rclone remote's variables first, then AWS's."""
    prefix = f"RCLONE_CONFIG_{location.remote.upper()}_"

    def pick(rclone: str, *aws: str) -> str | None:
        for name in (prefix + rclone, *aws):
            if env.get(name):
                return env[name]
        return None

    endpoint = pick("ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    if not endpoint and env.get("S3_ENDPOINT"):
        scheme = "https" if env.get("S3_USE_HTTPS", "1").lower() in ("1", "true", "yes") else "http"
        endpoint = env["S3_ENDPOINT"] if "://" in env["S3_ENDPOINT"] else f"{scheme}://{env['S3_ENDPOINT']}"
    endpoint = endpoint or DEFAULT_ENDPOINT
    if "://" not in endpoint:  # rclone accepts a bare host; it means https
        endpoint = f"https://{endpoint}"
    return S3Settings(
        endpoint=endpoint.rstrip("/"),
        access_key=pick("ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
        secret_key=pick("SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
        region=pick("REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
        verify=env.get("S3_VERIFY_SSL", "1").lower() not in ("0", "false", "no"),
    )


def _client(settings: S3Settings) -> Any:
    import urllib3
    from minio import Minio

    url = urlparse(settings.endpoint)
    # A short connect timeout and two retries: an unreachable endpoint fails in seconds, not minutes.
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=120),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        cert_reqs="CERT_REQUIRED" if settings.verify else "CERT_NONE",
        ca_certs=os.environ.get("SSL_CERT_FILE") or None,
    )
    return Minio(url.netloc, access_key=settings.access_key, secret_key=settings.secret_key,
                 region=settings.region, secure=url.scheme == "https", http_client=http,
                 cert_check=settings.verify)


def _explain(exc: Exception, what: str, location: Location, settings: S3Settings) -> StorageError:
    """The exception as a message a user can act on (and that leaks no secret)."""
    from minio.error import S3Error

    if isinstance(exc, S3Error):
        hints = {
            "NoSuchBucket": f"bucket {location.bucket!r} does not exist at {settings.endpoint}",
            "NoSuchKey": f"no object {location.key!r} in bucket {location.bucket!r}",
            "AccessDenied": "access denied: check the credentials' permissions on this bucket",
            "InvalidAccessKeyId": "the access key id is not known to the endpoint (AWS_ACCESS_KEY_ID or "
                                  f"RCLONE_CONFIG_{location.remote.upper()}_ACCESS_KEY_ID)",
            "SignatureDoesNotMatch": "the secret access key is wrong (AWS_SECRET_ACCESS_KEY or "
                                     f"RCLONE_CONFIG_{location.remote.upper()}_SECRET_ACCESS_KEY)",
        }
        return StorageError(f"{what} {location}: {hints.get(exc.code, f'{exc.code}: {exc.message}')}")
    reason = getattr(exc, "reason", None) or exc
    return StorageError(f"{what} {location}: cannot reach the S3 endpoint {settings.endpoint} ({reason}); "
                        "set AWS_ENDPOINT_URL (or the rclone remote's ENDPOINT) to a reachable address")


HTTP_SCHEMES = ("http", "https")
HTTP_TIMEOUT_S = 30  # per connect and per read; a download may take longer as long as bytes flow


def is_remote(uri: str, env: Mapping[str, str]) -> bool:
    """Whether ``uri`` must be fetched (a bucket location or an http(s) URL) rather than read in place."""
    return uri.split("://", 1)[0] in HTTP_SCHEMES or parse_location(uri, env) is not None


def _download_http(uri: str, dest: Path) -> Path:
    """One file from an http(s) URL into ``dest``/<the URL path's last part>, written whole or not at all."""
    import shutil
    import tempfile
    import urllib.error
    import urllib.parse
    import urllib.request

    name = urllib.parse.unquote(urllib.parse.urlparse(uri).path.rstrip("/").rsplit("/", 1)[-1])
    if not name or name in (".", ".."):
        raise StorageError(f"{uri}: the URL names no file (expected https://<host>/<path>/<file>)")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"download {uri}: cannot create the folder {dest}: {exc.strerror}") from None
    target = dest / name
    fd, partial = tempfile.mkstemp(dir=dest, prefix=f".{name}.")
    try:
        with urllib.request.urlopen(uri, timeout=HTTP_TIMEOUT_S) as answer, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(answer, out, 1 << 20)
        os.replace(partial, target)
    except urllib.error.HTTPError as exc:
        raise StorageError(f"download {uri}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise StorageError(f"download {uri}: cannot reach the server ({exc.reason})") from None
    except OSError as exc:
        raise StorageError(f"download {uri}: {exc.strerror or exc}") from None
    finally:
        Path(partial).unlink(missing_ok=True)  # gone already once renamed
    return target


def download(uri: str, dest: str | os.PathLike, env: Mapping[str, str] | None = None) -> Path:
    """Copy ``uri`` into the folder ``dest`` and return the local path of what was copied.

    An object lands as ``dest/<its name>``; a prefix is copied with everything under it (as
    ``rclone copy`` does for the storage initializer). A local path is returned unchanged.
    Files appear only complete: each is written to a temporary name and renamed.
    """
    env = os.environ if env is None else env
    if uri.split("://", 1)[0] in HTTP_SCHEMES:
        return _download_http(uri, Path(dest))
    location = parse_location(uri, env)
    if location is None:
        path = Path(uri[7:] if uri.startswith("file://") else uri)
        if not path.exists():
            raise StorageError(f"{uri}: no such file or directory")
        return path
    settings = s3_settings(location, env)
    client = _client(settings)
    dest = Path(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"download {location}: cannot create the folder {dest}: {exc.strerror}") from None
    try:
        if location.key and not location.key.endswith("/") and _exists(client, location):
            target = dest / Path(location.key).name
            client.fget_object(location.bucket, location.key, str(target))
            return target
        prefix = location.key.rstrip("/") + "/" if location.key else ""
        objects = [o for o in client.list_objects(location.bucket, prefix=prefix, recursive=True) if not o.is_dir]
        if not objects:
            raise StorageError(f"download {location}: no object {location.key!r} and nothing under "
                               f"{prefix or '/'} in bucket {location.bucket!r}")
        for obj in objects:
            client.fget_object(location.bucket, obj.object_name, str(dest / obj.object_name[len(prefix):]))
        return dest
    except StorageError:
        raise
    except OSError as exc:  # the local side: a full or read-only disk
        if exc.filename is None:
            raise _explain(exc, "download", location, settings) from None
        raise StorageError(f"download {location}: cannot write {exc.filename}: {exc.strerror}") from None
    except Exception as exc:
        raise _explain(exc, "download", location, settings) from None


def _exists(client: Any, location: Location) -> bool:
    from minio.error import S3Error

    try:
        client.stat_object(location.bucket, location.key)
        return True
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
            return False
        raise


def upload(path: str | os.PathLike, uri: str, env: Mapping[str, str] | None = None) -> str:
    """Copy the local file ``path`` to ``uri`` (a key, or a prefix ending in ``/``); return the object's URI.

    Files over 5 MiB go up as a multipart upload (parts of at least 5 MiB, three at a time).
    """
    env = os.environ if env is None else env
    location = parse_location(uri, env)
    if location is None:
        raise StorageError(f"{uri}: not an object-store URI (expected s3://<bucket>/<key> or <remote>:<bucket>/<key>)")
    path = Path(path)
    if not path.is_file():
        raise StorageError(f"{path}: no such file")
    if not location.key or location.key.endswith("/"):
        location = Location(location.remote, location.bucket, location.key + path.name)
    settings = s3_settings(location, env)
    try:
        _client(settings).fput_object(location.bucket, location.key, str(path))
    except Exception as exc:
        raise _explain(exc, "upload to", location, settings) from None
    return str(location)


def copy(source: str, target: str, env: Mapping[str, str] | None = None) -> str:
    """``wharf storage cp``: a bucket to a folder, a file to a bucket, or a folder to a folder (the
    storage initializer's ``pvc://`` case: the claim is mounted); returns where the copy went."""
    env = os.environ if env is None else env
    if target.split("://", 1)[0] in HTTP_SCHEMES:
        raise StorageError(f"cp {source} {target}: uploading to an http(s) URL is not supported")
    remote_source, remote_target = is_remote(source, env), parse_location(target, env)
    if remote_source and not remote_target:
        return str(download(source, target, env))
    if remote_target and not remote_source:
        return upload(source, target, env)
    if not remote_source and not remote_target:
        return str(copy_local(source, target))
    raise StorageError(f"cp {source} {target}: one of the two must be a local path (bucket to bucket is not supported)")


def copy_local(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """A folder's contents into ``target`` (as ``rclone copy`` does), or a file into ``target``/."""
    import shutil

    source, target = Path(str(source).removeprefix("file://")), Path(target)
    if not source.exists():
        raise StorageError(f"{source}: no such file or directory"
                           + (" (is the claim mounted, and the path inside it right?)" if str(source).startswith("/mnt/pvc") else ""))
    # Contents only, no modes or times: the target is typically an emptyDir's root, which belongs to
    # root, and the initializer's user may write into it but not change its attributes.
    try:
        target.mkdir(parents=True, exist_ok=True)
        if not source.is_dir():
            return Path(shutil.copyfile(source, target / source.name))
        for path in sorted(source.rglob("*")):
            destination = target / path.relative_to(source)
            if path.is_dir():
                destination.mkdir(exist_ok=True)
            else:
                shutil.copyfile(path, destination)
        return target
    except OSError as exc:
        raise StorageError(f"cp {source} {target}: {exc.strerror or exc}"
                           + (f" ({exc.filename})" if exc.filename else "")) from None

