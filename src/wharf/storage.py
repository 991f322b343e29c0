"""Model files in object stores (S3-compatible, Google Cloud Storage): ``wharf storage cp`` and
``download()`` for ``load()``.

S3 credentials and endpoints come from the environment, in the two forms Seldon users already have:

- the storage initializer's rclone remotes, ``RCLONE_CONFIG_<REMOTE>_{ENDPOINT,ACCESS_KEY_ID,
  SECRET_ACCESS_KEY,REGION}``, so the Secret a SeldonDeployment names in ``envSecretRefName``
  works unchanged, with URIs in either ``s3://bucket/key`` or rclone's ``<remote>:bucket/key`` form;
- the AWS SDK variables ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (or the older ``S3_ENDPOINT``
  with ``S3_USE_HTTPS``), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``.

The client is MinIO's (the S3 library seldon-core's own storage module used): it signs requests,
and uploads files above 5 MiB in parts.

``gs://bucket/path`` (and rclone remotes of type ``google cloud storage``) goes through
google-cloud-storage; which credential it uses is decided by :func:`gcs_credential` (anonymous
unless one is given, as upstream's initializer image). Secrets never appear in messages or reprs.
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
    """An object (or prefix) in a bucket; ``remote`` is the rclone remote name (``s3`` for ``s3://``,
    ``gs`` for ``gs://``), ``kind`` the store's API: ``s3`` or ``gcs``."""

    remote: str
    bucket: str
    key: str
    kind: str = "s3"

    def __str__(self) -> str:
        if (self.remote, self.kind) in (("s3", "s3"), ("gs", "gcs")):
            return f"{self.remote}://{self.bucket}/{self.key}"
        return f"{self.remote}:{self.bucket}/{self.key}"


@dataclass(frozen=True)
class S3Settings:
    endpoint: str
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    region: str | None = None
    verify: bool = True
    # The variables the keys came from, so an error can name what to fix (never the value).
    access_key_variable: str = "AWS_ACCESS_KEY_ID"
    secret_key_variable: str = "AWS_SECRET_ACCESS_KEY"


def parse_location(uri: str, env: Mapping[str, str]) -> Location | None:
    """The bucket location ``uri`` names, or None when it is a local path (plain or ``file://``)."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme in HTTP_SCHEMES:
        return None
    if scheme and scheme not in ("s3", "gs", "file"):
        raise StorageError(
            f"{uri}: {scheme}:// is not supported (supported: s3://<bucket>/<key>, "
            "gs://<bucket>/<path>, an rclone remote <remote>:<bucket>/<key> of type s3 or "
            "google cloud storage, https:// for one file, a local path or file://, and pvc:// "
            "in a SeldonDeployment)"
        )
    if scheme in ("s3", "gs"):
        remote, rest, kind = scheme, uri.split("://", 1)[1], "s3" if scheme == "s3" else "gcs"
    elif ":" in uri and not uri.startswith(("/", ".", "file:")) and _remote_type(uri.split(":", 1)[0], env):
        remote, rest = uri.split(":", 1)
        kind = _remote_type(remote, env)
    else:
        return None
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise StorageError(f"{uri}: no bucket name (expected {'gs' if kind == 'gcs' else 's3'}://<bucket>/<key>)")
    return Location(remote, bucket, key, kind)


GCS_TYPES = ("google cloud storage", "gcs")  # rclone knows the backend by its name and its prefix


def _remote_type(remote: str, env: Mapping[str, str]) -> str | None:
    """``s3`` or ``gcs`` for an rclone remote the environment declares, else None. ``gs`` needs no
    declaration: upstream's initializer image declares it (type google cloud storage) itself."""
    kind = env.get(f"RCLONE_CONFIG_{remote.upper()}_TYPE")
    if not kind:
        return "gcs" if remote.lower() == "gs" else None
    if kind.lower() in GCS_TYPES:
        return "gcs"
    if kind != "s3":
        raise StorageError(
            f"{remote}: RCLONE_CONFIG_{remote.upper()}_TYPE is {kind!r}; only s3 and "
            "google cloud storage remotes are supported"
        )
    return kind


def s3_settings(location: Location, env: Mapping[str, str]) -> S3Settings:
    """Endpoint and credentials for ``location``: its rclone remote's variables first, then AWS's."""
    prefix = f"RCLONE_CONFIG_{location.remote.upper()}_"

    def source(rclone: str, *aws: str) -> str | None:
        return next((name for name in (prefix + rclone, *aws) if env.get(name)), None)

    def pick(rclone: str, *aws: str) -> str | None:
        name = source(rclone, *aws)
        return env[name] if name else None

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
        access_key_variable=source("ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID") or "AWS_ACCESS_KEY_ID",
        secret_key_variable=source("SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY") or "AWS_SECRET_ACCESS_KEY",
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
    return Minio(
        url.netloc,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        region=settings.region,
        secure=url.scheme == "https",
        http_client=http,
        cert_check=settings.verify,
    )


def _explain(exc: Exception, what: str, location: Location, settings: S3Settings) -> StorageError:
    """The exception as a message a user can act on (and that leaks no secret)."""
    from minio.error import S3Error

    if isinstance(exc, S3Error):
        bucket, key_id, secret = location.bucket, settings.access_key_variable, settings.secret_key_variable
        hints = {
            "NoSuchBucket": f"bucket {bucket!r} does not exist at {settings.endpoint}",
            "NoSuchKey": f"no object {location.key!r} in bucket {bucket!r}",
            "AccessDenied": f"access denied to bucket {bucket!r} for the access key in {key_id}: check "
            "that key's permissions on this bucket",
            "InvalidAccessKeyId": f"the access key id in {key_id} is not known to {settings.endpoint} "
            f"(bucket {bucket!r})",
            "SignatureDoesNotMatch": f"the secret access key in {secret} is wrong for the access key in "
            f"{key_id} (bucket {bucket!r} at {settings.endpoint})",
        }
        return StorageError(f"{what} {location}: {hints.get(exc.code, f'{exc.code}: {exc.message}')}")
    reason = getattr(exc, "reason", None) or exc
    return StorageError(
        f"{what} {location}: cannot reach the S3 endpoint {settings.endpoint} ({reason}); "
        "set AWS_ENDPOINT_URL (or the rclone remote's ENDPOINT) to a reachable address"
    )


# --- Google Cloud Storage -------------------------------------------------------------------------
GCS_ENDPOINT = "https://storage.googleapis.com"
# Bounded as the S3 client is: connecting gives up after 5 s, a read after 120 s without bytes, and
# the library's retries (5xx, 429, dropped connections) stop after 20 s in all.
GCS_TIMEOUT = (5, 120)
GCS_RETRY_DEADLINE_S = 20
GCS_SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"


@dataclass(frozen=True)
class GCSCredential:
    """Which credential a ``gs://`` copy uses: ``how`` is ``anonymous``, ``json`` (service-account
    JSON in the variable ``variable``), ``file`` (a path in ``variable``) or ``default`` (Google's
    application-default credentials, asked for by ``variable``). Holds names only, never a secret."""

    how: str
    variable: str | None = None

    def describe(self) -> str:
        if self.how == "anonymous" and self.variable:
            return f"anonymous access ({self.variable}=true)"
        return {
            "anonymous": "anonymous access (no credential given)",
            "json": f"the service account in {self.variable}",
            "file": f"the credentials file named by {self.variable}",
            "default": f"Google's application-default credentials ({self.variable})",
        }[self.how]


def _truthy(value: str | None) -> bool | None:
    return None if value is None or value == "" else value.strip().lower() in ("1", "true", "yes", "on")


def gcs_credential(location: Location, env: Mapping[str, str]) -> GCSCredential:
    """The credential for ``location``, in rclone's order for its remote (``gs`` for ``gs://``), then
    KFServing's initializer's:

    1. ``RCLONE_CONFIG_<REMOTE>_ANONYMOUS=true``: anonymous (rclone lets it win over everything);
    2. ``RCLONE_CONFIG_<REMOTE>_SERVICE_ACCOUNT_CREDENTIALS``: the service-account JSON itself;
    3. ``RCLONE_CONFIG_<REMOTE>_SERVICE_ACCOUNT_FILE``: a path to that JSON;
    4. ``GOOGLE_APPLICATION_CREDENTIALS``: a path to a credentials file of any type Google's libraries read;
    5. ``..._ENV_AUTH=true``, or ``..._ANONYMOUS=false`` with nothing above: application-default
       credentials (the metadata server, workload identity), as rclone falls back to;
    6. otherwise anonymous, which reads public buckets: upstream's image ships the ``gs`` remote
       with ``RCLONE_CONFIG_GS_ANONYMOUS=true`` for the same reason.
    """
    prefix = f"RCLONE_CONFIG_{location.remote.upper()}_"
    anonymous = _truthy(env.get(prefix + "ANONYMOUS"))
    if anonymous:
        return GCSCredential("anonymous", prefix + "ANONYMOUS")
    if env.get(prefix + "SERVICE_ACCOUNT_CREDENTIALS"):
        return GCSCredential("json", prefix + "SERVICE_ACCOUNT_CREDENTIALS")
    for name in (prefix + "SERVICE_ACCOUNT_FILE", "GOOGLE_APPLICATION_CREDENTIALS"):
        if env.get(name):
            return GCSCredential("file", name)
    if _truthy(env.get(prefix + "ENV_AUTH")):
        return GCSCredential("default", prefix + "ENV_AUTH")
    if anonymous is False:
        return GCSCredential("default", prefix + "ANONYMOUS")
    return GCSCredential("anonymous")


def gcs_endpoint(location: Location, env: Mapping[str, str]) -> str:
    """The JSON API's base URL: the remote's ``ENDPOINT``, then ``STORAGE_EMULATOR_HOST`` (an emulator
    such as fake-gcs-server; a bare ``host:port`` means plain http, as emulators serve), then Google's."""
    endpoint = env.get(f"RCLONE_CONFIG_{location.remote.upper()}_ENDPOINT") or env.get("STORAGE_EMULATOR_HOST")
    if not endpoint:
        return GCS_ENDPOINT
    return (endpoint if "://" in endpoint else f"http://{endpoint}").rstrip("/")


def _gcs_secrets(credential: GCSCredential, env: Mapping[str, str]) -> list[str]:
    """Strings that must never be shown: the JSON and its private key, when the credential is inline."""
    raw = env.get(credential.variable or "", "")
    if credential.how != "json" and not raw.lstrip().startswith("{"):
        return []
    found = [raw]
    try:
        import json

        info = json.loads(raw)
        found += [
            str(info[k])
            for k in ("private_key", "private_key_id", "client_secret", "refresh_token")
            if isinstance(info, dict) and info.get(k)
        ]
    except ValueError:
        pass
    return [s for s in found if len(s) >= 8]


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _gcs_client(location: Location, credential: GCSCredential, endpoint: str, env: Mapping[str, str]) -> Any:
    """A google-cloud-storage client for ``endpoint`` with exactly ``credential``: the library's own
    search (environment, metadata server) runs only when ``credential`` asks for it."""
    import json
    import warnings

    try:
        with warnings.catch_warnings():  # google.api_core warns at import about Python versions it will drop
            warnings.simplefilter("ignore", FutureWarning)
            import google.auth
            import google.auth.exceptions
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage
            from google.oauth2 import service_account
    except ImportError:  # an image or venv made without the gcs extra
        raise StorageError(
            f"{location}: gs:// needs google-cloud-storage, which is not installed here "
            "(pip install 'wharf-ml[gcs]'; Wharf's storage-initializer image has it)"
        ) from None

    where = f"{location}: {credential.variable}"
    project = None
    if credential.how == "anonymous":
        credentials = AnonymousCredentials()
    elif credential.how == "json":
        try:
            info = json.loads(env[credential.variable])
        except ValueError as exc:
            raise StorageError(
                f"{where} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                "it must hold a service account key file's contents"
            ) from None
        if not isinstance(info, dict) or info.get("type") != "service_account":
            raise StorageError(
                f'{where} is not a service account key (expected a JSON object with "type": "service_account")'
            )
        try:
            credentials = service_account.Credentials.from_service_account_info(info, scopes=[GCS_SCOPE])
        except (ValueError, KeyError) as exc:
            raise StorageError(
                f"{where} is not a usable service account key: {_redact(str(exc), _gcs_secrets(credential, env))}"
            ) from None
        project = info.get("project_id")
    elif credential.how == "file":
        path = env[credential.variable]
        if path.lstrip().startswith("{"):  # a key pasted where a path belongs: say so, and show none of it
            raise StorageError(
                f"{where} holds JSON, not the path of a file; mount the key as a file and name it "
                "there, or put the JSON in RCLONE_CONFIG_<REMOTE>_SERVICE_ACCOUNT_CREDENTIALS"
            )
        try:
            with warnings.catch_warnings():  # the file is this deployment's own Secret, not a stranger's
                warnings.simplefilter("ignore")
                if credential.variable == "GOOGLE_APPLICATION_CREDENTIALS":
                    credentials, project = google.auth.load_credentials_from_file(path, scopes=[GCS_SCOPE])
                else:  # rclone reads a service account key from SERVICE_ACCOUNT_FILE, nothing else
                    credentials = service_account.Credentials.from_service_account_file(path, scopes=[GCS_SCOPE])
                    project = credentials.project_id
        except OSError as exc:
            raise StorageError(f"{where}={path}: cannot read the credentials file ({exc.strerror})") from None
        except (ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as exc:
            raise StorageError(f"{where}={path}: not a usable credentials file ({_first_line(exc)})") from None
    else:
        try:
            credentials, project = google.auth.default(scopes=[GCS_SCOPE])
        except google.auth.exceptions.DefaultCredentialsError as exc:
            raise StorageError(
                f"{where} asks for application-default credentials, and there are none here ({_first_line(exc)})"
            ) from None
    return storage.Client(
        project=project or "<none>", credentials=credentials, client_options={"api_endpoint": endpoint}
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _explain_gcs(
    exc: BaseException, what: str, location: Location, credential: GCSCredential, endpoint: str, env: Mapping[str, str]
) -> StorageError:
    """The exception as a message a user can act on: the URI, the bucket, the credential's variable."""
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    if isinstance(exc, api.RetryError) and exc.cause is not None:
        exc = exc.cause
    bucket = f"bucket {location.bucket!r}"
    give = (
        f"give a credential (RCLONE_CONFIG_{location.remote.upper()}_SERVICE_ACCOUNT_CREDENTIALS or "
        "GOOGLE_APPLICATION_CREDENTIALS, from the Secret named in envSecretRefName)"
    )
    if isinstance(exc, api.NotFound):
        text = f"{bucket} does not exist at {endpoint}"
    elif isinstance(exc, (api.Unauthorized, api.Forbidden)):
        status = 401 if isinstance(exc, api.Unauthorized) else 403
        text = f"access denied to {bucket} (HTTP {status}) with {credential.describe()}: " + (
            f"the bucket is not public; {give}"
            if credential.how == "anonymous"
            else "check that it may read this bucket"
        )
    elif isinstance(exc, auth.RefreshError):
        text = (
            f"{credential.describe()} was refused when asking for an access token "
            f"({_first_line(exc)}); check {credential.variable}"
        )
    elif isinstance(exc, auth.TransportError):  # the token request, not the storage API
        text = (
            f"{credential.describe()} could not get an access token: the token endpoint did not answer "
            f"({_first_line(exc)})"
        )
    elif isinstance(exc, api.ServiceUnavailable) or _is_connection_error(exc):
        return StorageError(
            f"{what} {location}: cannot reach the Google Cloud Storage endpoint {endpoint} "
            f"({_first_line(exc)}); set STORAGE_EMULATOR_HOST (or the rclone remote's ENDPOINT) "
            "to a reachable address, or leave both unset for Google's"
        )
    elif isinstance(exc, api.GoogleAPICallError):
        text = f"{bucket}: HTTP {exc.code} {exc.message}"
    else:
        text = f"{type(exc).__name__}: {_first_line(exc)}"
    return StorageError(_redact(f"{what} {location}: {text}", _gcs_secrets(credential, env)))


def _is_connection_error(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, (requests.ConnectionError, requests.Timeout))


def _download_gcs(location: Location, dest: Path, env: Mapping[str, str]) -> Path:
    """An object into ``dest``/<its name>, or everything under the prefix into ``dest`` (contents
    only, as ``rclone copy`` does). Every name is checked before the first byte is fetched."""
    credential, endpoint = gcs_credential(location, env), gcs_endpoint(location, env)
    client = _gcs_client(location, credential, endpoint, env)
    retry = _gcs_retry()
    try:
        bucket = client.bucket(location.bucket)
        blob = None
        if location.key and not location.key.endswith("/"):
            blob = bucket.get_blob(location.key, timeout=GCS_TIMEOUT, retry=retry)
        if blob is not None:
            targets = [(blob, dest / Path(location.key).name)]
        else:
            prefix = location.key.rstrip("/") + "/" if location.key else ""
            blobs = [
                b
                for b in client.list_blobs(location.bucket, prefix=prefix, timeout=GCS_TIMEOUT, retry=retry)
                if not b.name.endswith("/")
            ]  # "folder" placeholders that consoles create
            if not blobs:
                raise StorageError(
                    f"download {location}: no object {location.key!r} and nothing under "
                    f"{prefix or '/'} in bucket {location.bucket!r}"
                )
            targets = [(b, _inside(dest, b.name, prefix, location)) for b in blobs]
        for item, target in targets:
            _fetch_blob(item, target, retry)
        return targets[0][1] if blob is not None else dest
    except StorageError:
        raise
    except OSError as exc:
        if exc.filename is None:
            raise _explain_gcs(exc, "download", location, credential, endpoint, env) from None
        raise StorageError(f"download {location}: cannot write {exc.filename}: {exc.strerror}") from None
    except Exception as exc:
        raise _explain_gcs(exc, "download", location, credential, endpoint, env) from None
    finally:
        client.close()


def _gcs_retry() -> Any:
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_deadline(GCS_RETRY_DEADLINE_S)


def _fetch_blob(blob: Any, target: Path, retry: Any) -> None:
    """One object to ``target``, written to a temporary name and renamed: complete or absent."""
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            blob.download_to_file(out, timeout=GCS_TIMEOUT, retry=retry)
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)


def _upload_gcs(path: Path, location: Location, env: Mapping[str, str]) -> str:
    credential, endpoint = gcs_credential(location, env), gcs_endpoint(location, env)
    client = _gcs_client(location, credential, endpoint, env)
    try:
        client.bucket(location.bucket).blob(location.key).upload_from_filename(
            str(path), timeout=GCS_TIMEOUT, retry=_gcs_retry()
        )
    except Exception as exc:
        raise _explain_gcs(exc, "upload to", location, credential, endpoint, env) from None
    finally:
        client.close()
    return str(location)


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
    dest = Path(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"download {location}: cannot create the folder {dest}: {exc.strerror}") from None
    if location.kind == "gcs":
        return _download_gcs(location, dest, env)
    settings = s3_settings(location, env)
    client = _client(settings)
    try:
        if location.key and not location.key.endswith("/") and _exists(client, location):
            target = dest / Path(location.key).name
            client.fget_object(location.bucket, location.key, str(target))
            return target
        prefix = location.key.rstrip("/") + "/" if location.key else ""
        objects = [o for o in client.list_objects(location.bucket, prefix=prefix, recursive=True) if not o.is_dir]
        if not objects:
            raise StorageError(
                f"download {location}: no object {location.key!r} and nothing under "
                f"{prefix or '/'} in bucket {location.bucket!r}"
            )
        targets = [(obj.object_name, _inside(dest, obj.object_name, prefix, location)) for obj in objects]
        for name, target in targets:
            client.fget_object(location.bucket, name, str(target))
        return dest
    except StorageError:
        raise
    except OSError as exc:  # the local side: a full or read-only disk
        if exc.filename is None:
            raise _explain(exc, "download", location, settings) from None
        raise StorageError(f"download {location}: cannot write {exc.filename}: {exc.strerror}") from None
    except Exception as exc:
        raise _explain(exc, "download", location, settings) from None


def _inside(dest: Path, name: str, prefix: str, location: Location) -> Path:
    """Where the object ``name`` (under ``prefix``) lands in ``dest``; a name that would climb out of
    ``dest`` (``..``, or an absolute path) is refused: a bucket's names are not to be trusted."""
    from pathlib import PurePosixPath

    relative = PurePosixPath(name[len(prefix) :])
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise StorageError(
            f"download {location}: the object name {name!r} in bucket {location.bucket!r} would "
            f"land outside {dest}; nothing was copied"
        )
    return dest.joinpath(*relative.parts)


def _exists(client: Any, location: Location) -> bool:
    from minio.error import S3Error

    try:
        client.stat_object(location.bucket, location.key)
        return True
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
            return False
        if exc.code == "AccessDenied":  # a HEAD answer has no body to say why: ask again with a GET
            next(iter(client.list_objects(location.bucket, prefix=location.key)), None)
        raise


def upload(path: str | os.PathLike, uri: str, env: Mapping[str, str] | None = None) -> str:
    """Copy the local file ``path`` to ``uri`` (a key, or a prefix ending in ``/``); return the object's URI.

    Files over 5 MiB go up as a multipart upload (parts of at least 5 MiB, three at a time).
    """
    env = os.environ if env is None else env
    location = parse_location(uri, env)
    if location is None:
        raise StorageError(
            f"{uri}: not an object-store URI (expected s3://<bucket>/<key>, gs://<bucket>/<path> "
            "or <remote>:<bucket>/<key>)"
        )
    path = Path(path)
    if not path.is_file():
        raise StorageError(f"{path}: no such file")
    if not location.key or location.key.endswith("/"):
        location = Location(location.remote, location.bucket, location.key + path.name, location.kind)
    if location.kind == "gcs":
        return _upload_gcs(path, location, env)
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
        raise StorageError(
            f"{source}: no such file or directory"
            + (" (is the claim mounted, and the path inside it right?)" if str(source).startswith("/mnt/pvc") else "")
        )
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
        raise StorageError(
            f"cp {source} {target}: {exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
        ) from None
