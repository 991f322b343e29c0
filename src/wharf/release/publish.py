"""`invoke release`: push images and charts of one version to an OCI registry, pinned by digest.

Order, so that what is pushed is what is pinned: (1) refuse if the version is already in the registry
(unless ``force``); (2) each image gets the OCI labels and is pushed as ``registry/repository:version``,
its digest recorded; (3) those digests go into wharf-core's default values (operator, orchestrator,
prepackaged servers, storage initializer) and the kustomize bundle is regenerated from them; (4) each
chart is packaged at the version (values pinned) and pushed with ``helm push``;
(5) a classic chart repository ``index.yaml`` is written beside the archives, and ``release.json``
records every reference and digest. Running it again with ``force`` pushes the same content again.
Given syft, each image also gets its SBOM right after its push (``wharf.release.sbom``): written to
``<out>/sbom/`` and pushed under the tag ``sha256-<digest>.sbom``, once per image digest.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wharf.release.oci import PublishError, is_loopback, package_chart, push_chart, push_image, run
from wharf.release.pin import pin_core_values
from wharf.release.sbom import publish_sbom

LICENSE = "Apache-2.0"
CORE_VALUES = Path("charts/wharf-core/values.yaml")
KUSTOMIZATION = Path("kustomize/overlays/default/kustomization.yaml")


class ReleaseRefused(RuntimeError):
    """The version is already in the registry and ``force`` was not given."""


@dataclass(frozen=True)
class Image:
    local: str  # the image as built locally, e.g. wharf/operator:0.1.0
    repository: str  # its name in the registry, e.g. wharf/operator


@dataclass(frozen=True)
class ReleaseOptions:
    registry: str  # host:port
    version: str
    out: Path  # chart archives, index.yaml, release.json
    force: bool = False
    revision: str = ""  # git commit of the release (org.opencontainers.image.revision)
    source: str = ""  # the repository's URL (org.opencontainers.image.source); empty: left out


def registry_tags(registry: str, name: str) -> list[str]:
    """Tags of ``name`` in the registry (none when the repository does not exist yet)."""
    scheme = "http" if is_loopback(registry) else "https"
    try:
        with urllib.request.urlopen(f"{scheme}://{registry}/v2/{name}/tags/list", timeout=30) as resp:
            return json.loads(resp.read()).get("tags") or []
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise PublishError(f"listing tags of {registry}/{name}: HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise PublishError(f"registry {registry} does not answer: {exc.reason}") from None


def oci_labels(opts: ReleaseOptions) -> dict[str, str]:
    labels = {
        "org.opencontainers.image.source": opts.source,
        "org.opencontainers.image.revision": opts.revision,
        "org.opencontainers.image.version": opts.version,
        "org.opencontainers.image.licenses": LICENSE,
    }
    return {k: v for k, v in labels.items() if v}


def labelled(image: Image, labels: dict[str, str]) -> str:
    """``image.local`` with ``labels`` added (a build of one LABEL step: no layer, no context)."""
    target = f"{image.local.rsplit(':', 1)[0]}:release"
    cmd = [
        "docker",
        "build",
        "--quiet",
        "-t",
        target,
        *[a for k, v in labels.items() for a in ("--label", f"{k}={v}")],
        "-",
    ]
    done = subprocess.run(cmd, input=f"FROM {image.local}\n", capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise PublishError(f"labelling {image.local} failed:\n{done.stderr.strip()[-2000:]}")
    return target


def release(
    repo: Path,
    opts: ReleaseOptions,
    images: list[Image],
    charts: list[Path],
    helm: Path,
    out: Callable[[str], None] = print,
    syft: Path | None = None,
) -> dict:
    """Publish; returns what ``release.json`` holds. Raises ReleaseRefused or PublishError with the step."""
    taken = [
        name
        for name in [f"charts/{c.name}" for c in charts] + [i.repository for i in images]
        if opts.version in registry_tags(opts.registry, name)
    ]
    if taken and not opts.force:
        raise ReleaseRefused(
            f"version {opts.version} is already in {opts.registry} ({', '.join(taken)}); --force pushes it again"
        )
    record: dict = {"version": opts.version, "registry": opts.registry, "images": {}, "charts": {}}
    digests = {}
    for image in images:
        digest = push_image(labelled(image, oci_labels(opts)), opts.registry, image.repository, opts.version)
        digests[image.repository] = digest
        record["images"][image.repository] = {
            "reference": f"{opts.registry}/{image.repository}:{opts.version}",
            "digest": digest,
        }
        out(f"pushed {opts.registry}/{image.repository}:{opts.version}@{digest}")
        if syft is not None:
            record["images"][image.repository]["sbom"] = publish_sbom(
                syft, opts.registry, image.repository, opts.version, digest, opts.out, out
            )
    pin_core_values(repo / CORE_VALUES, opts.registry, opts.version, digests)
    # The kustomize bundle is generated from wharf-core with its default values (`invoke generate`):
    # regenerated from the pinned values, its base names every image by digest (the orchestrator and
    # the servers too, which only the operator's environment names) and `generate --check` holds.
    from wharf.gitops.kustomize import write_all

    write_all(repo / CORE_VALUES.parent, repo / KUSTOMIZATION.parents[2])
    out(f"pinned {CORE_VALUES} and regenerated {KUSTOMIZATION.parents[2]}/ from it")
    archives = opts.out / "charts"
    for chart in charts:
        archive = package_chart(helm, chart, archives, version=opts.version, app_version=opts.version)
        digest = push_chart(helm, archive, opts.registry)
        record["charts"][chart.name] = {
            "reference": f"oci://{opts.registry}/charts/{chart.name}",
            "version": opts.version,
            "digest": digest,
            "archive": archive.name,
        }
        out(f"pushed oci://{opts.registry}/charts/{chart.name} {opts.version} ({digest})")
    # The classic repository (chart-releaser's layout): index.yaml beside the archives, relative URLs.
    run([str(helm), "repo", "index", str(archives)], "helm repo index", 120)
    (opts.out / "release.json").write_text(json.dumps(record, indent=2) + "\n")
    out(f"wrote {archives / 'index.yaml'} and {opts.out / 'release.json'}")
    return record
