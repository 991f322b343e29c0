"""One SBOM per released image: syft's SPDX JSON, written beside ``release.json`` and pushed to the registry.

The format is SPDX 2.3 JSON (syft's ``spdx-json``): an ISO standard (ISO/IEC 5962) with a registered
media type, ``application/spdx+json``, and the one most SBOM consumers (scanners, registries' UIs,
Kubernetes' own release SBOMs) read; every package carries its version and a package URL.

syft reads the image from the local Docker engine (``docker:<registry>/<repository>:<version>``, the
image just pushed, so the SBOM describes exactly the pushed bytes). The document is pushed into the
image's own repository under the tag ``sha256-<hex>.sbom`` (the tag scheme cosign uses), as an OCI image
manifest whose ``artifactType`` and single layer are ``application/spdx+json``, with the empty config and
a ``subject`` naming the image manifest. The tag is how a client finds it here: Debian's registry
(distribution 2.8) has no referrers API; a registry that has one also lists it through ``subject``.

An SBOM is tied to an image digest, so it is made once per digest: when the registry already holds the
tag for that digest (a second run, or ``--force`` with unchanged images), its document is fetched and
written to the release folder, and syft is not run nor anything pushed again.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from wharf.release.oci import (
    MAX_ARTIFACT,
    OCI_MANIFEST,
    PublishError,
    get_blob,
    get_manifest,
    manifest_descriptor,
    put_blob,
    put_manifest,
    sha256_digest,
)

SPDX_JSON = "application/spdx+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
EMPTY_BLOB = b"{}"
TITLE = "org.opencontainers.image.title"


def sbom_tag(digest: str) -> str:
    """``sha256:abc...`` -> ``sha256-abc....sbom``."""
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}-{hex_part}.sbom"


def sbom_file_name(repository: str) -> str:
    return f"{repository.replace('/', '-')}.spdx.json"


def scan(syft: Path, image: str, dest: Path, timeout: float = 1800) -> bytes:
    """syft's SPDX JSON of ``image`` (a reference the local Docker engine has), written to ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    cmd = [str(syft), "scan", f"docker:{image}", "--output", f"spdx-json={partial}", "--quiet"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        partial.unlink(missing_ok=True)
        raise PublishError(f"syft scan of {image}: timed out after {timeout:.0f} s") from None
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise PublishError(f"syft scan of {image} failed:\n{(done.stderr or done.stdout).strip()[-2000:]}")
    document = partial.read_bytes()
    try:
        version = json.loads(document).get("spdxVersion", "")
    except ValueError:
        version = ""
    if not version.startswith("SPDX-"):
        raise PublishError(f"syft scan of {image} wrote no SPDX document ({partial})")
    partial.replace(dest)
    return document


def pull_sbom(registry: str, repository: str, digest: str) -> tuple[str, bytes] | None:
    """(manifest digest, SPDX document) of the SBOM the registry holds for image ``digest``, or None."""
    found = get_manifest(registry, repository, sbom_tag(digest))
    if found is None:
        return None
    manifest_digest, body = found
    where = f"{registry}/{repository}:{sbom_tag(digest)}"
    try:
        manifest = json.loads(body)
    except ValueError:
        raise PublishError(f"{where}: the manifest is not JSON") from None
    layers = [layer for layer in manifest.get("layers") or [] if layer.get("mediaType") == SPDX_JSON]
    if manifest.get("artifactType") != SPDX_JSON or len(layers) != 1:
        raise PublishError(f"{where} exists but is not an SPDX SBOM (one {SPDX_JSON} layer)")
    if int(layers[0].get("size", 0)) > MAX_ARTIFACT:
        raise PublishError(f"{where}: the document is larger than {MAX_ARTIFACT} bytes")
    return manifest_digest, get_blob(registry, repository, layers[0]["digest"])


def sbom_manifest(document: bytes, document_digest: str, subject: dict, title: str) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SPDX_JSON,
        "config": {"mediaType": EMPTY_CONFIG, "digest": sha256_digest(EMPTY_BLOB), "size": len(EMPTY_BLOB)},
        "layers": [
            {
                "mediaType": SPDX_JSON,
                "digest": document_digest,
                "size": len(document),
                "annotations": {TITLE: title},
            }
        ],
        "subject": subject,
    }
    return json.dumps(manifest, indent=2).encode() + b"\n"


def publish_sbom(
    syft: Path,
    registry: str,
    repository: str,
    version: str,
    digest: str,
    out_dir: Path,
    out: Callable[[str], None] = print,
) -> dict:
    """The SBOM of ``registry/repository:version`` (pushed with ``digest``): made and pushed unless the
    registry has it already, written to ``out_dir/sbom/`` either way; what ``release.json`` records."""
    tag = sbom_tag(digest)
    path = out_dir / "sbom" / sbom_file_name(repository)
    record = {"reference": f"{registry}/{repository}:{tag}", "file": f"sbom/{path.name}", "format": "spdx-json"}
    existing = pull_sbom(registry, repository, digest)
    if existing is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(existing[1])
        out(f"SBOM {record['reference']} was pushed before for this digest: not made again, written to {path}")
        return {**record, "digest": existing[0]}
    subject = manifest_descriptor(registry, repository, digest)
    if subject is None:
        raise PublishError(f"{registry}/{repository}@{digest} is not in the registry: no SBOM can point at it")
    document = scan(syft, f"{registry}/{repository}:{version}", path)
    put_blob(registry, repository, EMPTY_BLOB)
    document_digest = put_blob(registry, repository, document)
    manifest_digest = put_manifest(
        registry, repository, tag, sbom_manifest(document, document_digest, subject, path.name)
    )
    out(f"pushed SBOM {record['reference']} ({manifest_digest}); written to {path}")
    return {**record, "digest": manifest_digest}
