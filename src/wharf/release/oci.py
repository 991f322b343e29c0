"""Push images (``docker push``) and charts (``helm package`` + ``helm push``) to an OCI registry.

Each push returns the digest the registry stored, so a caller can pin by digest. Loopback registries
(127.0.0.0/8) speak plain HTTP: dockerd allows that for them by default, and helm needs
``--plain-http``, which ``plain_http`` adds for such an address.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class PublishError(RuntimeError):
    """A push or package step failed; the message names the step and carries the tool's own output."""


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    return host == "localhost" or host.startswith("127.")


def run(cmd: list[str], what: str, timeout: float = 900) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PublishError(f"{what}: timed out after {timeout:.0f} s") from None
    if done.returncode != 0:
        raise PublishError(f"{what} failed:\n{(done.stderr or done.stdout).strip()[-2000:]}")
    return done.stdout + done.stderr


def push_image(local: str, registry: str, repository: str, tag: str) -> str:
    """Tag ``local`` as ``registry/repository:tag``, push it, and return the manifest digest."""
    target = f"{registry}/{repository}:{tag}"
    run(["docker", "tag", local, target], f"docker tag {local} {target}", 60)
    out = run(["docker", "push", target], f"docker push {target}")
    # the last line: "<tag>: digest: sha256:... size: N"
    found = DIGEST.findall(out)
    if not found:
        raise PublishError(f"docker push {target} printed no digest:\n{out[-1000:]}")
    return found[-1]


def package_chart(helm: Path, chart: Path, dest: Path, version: str = "", app_version: str = "") -> Path:
    """``helm package`` ``chart`` into ``dest``; the archive's path."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [str(helm), "package", str(chart), "--destination", str(dest)]
    if version:
        cmd += ["--version", version]
    if app_version:
        cmd += ["--app-version", app_version]
    out = run(cmd, f"helm package {chart.name}", 120)
    # "Successfully packaged chart and saved it to: /dest/wharf-core-0.3.1.tgz"
    path = Path(out.strip().splitlines()[-1].split(": ", 1)[-1].strip())
    if not path.is_file():
        raise PublishError(f"helm package {chart.name} wrote no archive where it said:\n{out}")
    return path


def push_chart(helm: Path, archive: Path, registry: str, namespace: str = "charts") -> str:
    """``helm push`` ``archive`` to ``oci://registry/namespace``; the chart's manifest digest."""
    cmd = [str(helm), "push", str(archive), f"oci://{registry}/{namespace}"]
    if is_loopback(registry):
        cmd.append("--plain-http")
    out = run(cmd, f"helm push {archive.name}", 300)
    found = DIGEST.findall(out)
    if not found:
        raise PublishError(f"helm push {archive.name} printed no digest:\n{out[-1000:]}")
    return found[-1]


# --- the registry's HTTP API (distribution spec), for artifacts no CLI here pushes: SBOMs -------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MANIFEST_TYPES = ", ".join(
    [
        OCI_MANIFEST,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
MAX_MANIFEST = 4 * 1024 * 1024  # distribution refuses larger manifests itself
MAX_ARTIFACT = 256 * 1024 * 1024  # an SBOM of a large image is a few MB; this bounds what a pull reads


def registry_url(registry: str) -> str:
    return f"{'http' if is_loopback(registry) else 'https'}://{registry}"


def _request(
    registry: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 120,
) -> tuple[int, dict[str, str], bytes]:
    """One call to the registry; (status, headers, body). Raises PublishError naming the call on anything
    but a 2xx or a 404, or when the answer is larger than MAX_ARTIFACT."""
    import urllib.error
    import urllib.request

    url = path if path.startswith(("http://", "https://")) else registry_url(registry) + path
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            data = resp.read(MAX_ARTIFACT + 1)
            if len(data) > MAX_ARTIFACT:
                raise PublishError(f"{method} {url}: answer larger than {MAX_ARTIFACT} bytes")
            return resp.status, dict(resp.headers), data
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return 404, dict(exc.headers), b""
        detail = exc.read(2000).decode(errors="replace").strip()
        raise PublishError(f"{method} {url}: HTTP {exc.code} {detail}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise PublishError(f"{method} {url}: registry {registry} does not answer: {exc}") from None


def sha256_digest(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_descriptor(registry: str, repository: str, reference: str) -> dict | None:
    """``{mediaType, digest, size}`` of a manifest (by tag or digest), or None when there is none."""
    status, headers, _ = _request(
        registry, "HEAD", f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}
    )
    if status == 404:
        return None
    headers = {k.lower(): v for k, v in headers.items()}
    return {
        "mediaType": headers.get("content-type", "").split(";")[0].strip(),
        "digest": headers["docker-content-digest"],
        "size": int(headers["content-length"]),
    }


def get_manifest(registry: str, repository: str, reference: str) -> tuple[str, bytes] | None:
    """(digest, bytes) of a manifest, or None when there is none."""
    status, headers, body = _request(
        registry, "GET", f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}
    )
    if status == 404:
        return None
    if len(body) > MAX_MANIFEST:
        raise PublishError(f"{registry}/{repository}:{reference}: manifest larger than {MAX_MANIFEST} bytes")
    return sha256_digest(body), body


def get_blob(registry: str, repository: str, digest: str) -> bytes:
    status, _, body = _request(registry, "GET", f"/v2/{repository}/blobs/{digest}")
    if status == 404:
        raise PublishError(f"{registry}/{repository}: blob {digest} is missing")
    if sha256_digest(body) != digest:
        raise PublishError(f"{registry}/{repository}: blob {digest} has other content")
    return body


def put_blob(registry: str, repository: str, data: bytes) -> str:
    """Upload ``data`` (unless the registry has it already); its digest."""
    digest = sha256_digest(data)
    if _request(registry, "HEAD", f"/v2/{repository}/blobs/{digest}")[0] != 404:
        return digest
    status, headers, _ = _request(registry, "POST", f"/v2/{repository}/blobs/uploads/", body=b"")
    location = {k.lower(): v for k, v in headers.items()}.get("location")
    if status != 202 or not location:
        raise PublishError(f"{registry}/{repository}: starting an upload gave HTTP {status} and no Location")
    separator = "&" if "?" in location else "?"
    _request(
        registry,
        "PUT",
        f"{location}{separator}digest={digest}",
        body=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=600,
    )
    return digest


def put_manifest(registry: str, repository: str, tag: str, manifest: bytes, media_type: str = OCI_MANIFEST) -> str:
    """PUT ``manifest`` under ``tag``; the digest the registry answers (checked against the bytes)."""
    _, headers, _ = _request(
        registry, "PUT", f"/v2/{repository}/manifests/{tag}", body=manifest, headers={"Content-Type": media_type}
    )
    digest = sha256_digest(manifest)
    answered = {k.lower(): v for k, v in headers.items()}.get("docker-content-digest", digest)
    if answered != digest:
        raise PublishError(f"{registry}/{repository}:{tag}: the registry stored {answered}, not {digest}")
    return digest
