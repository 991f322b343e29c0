"""The pinned helm binary, built from its Go module source (no release downloads here).

Why the extra ldflags: helm's Makefile stamps the Kubernetes version that ``helm template`` and
``helm lint`` assume when no cluster is asked (derived from its client-go module). A plain
``go install`` skips the Makefile, so the binary would claim Kubernetes v1.20 and refuse every
chart whose ``kubeVersion`` is newer. We stamp the same values as the official release.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HELM_VERSION = "v3.19.0"
# helm v3.19.0 builds against k8s.io/client-go v0.34.0 -> Kubernetes 1.34 (see its Makefile).
HELM_KUBE_MAJOR, HELM_KUBE_MINOR = "1", "34"
MODULE = "helm.sh/helm/v3"


class HelmUnavailable(RuntimeError):
    """The helm binary could not be found or built (message says why and how to fix it)."""


def cache_dir() -> Path:
    return Path(os.environ.get("WHARF_CACHE", Path.home() / ".cache" / "wharf")) / "bin" / f"helm-{HELM_VERSION}"


def ldflags() -> str:
    stamps = {
        f"{MODULE}/internal/version.version": HELM_VERSION,
        f"{MODULE}/pkg/chartutil.k8sVersionMajor": HELM_KUBE_MAJOR,
        f"{MODULE}/pkg/chartutil.k8sVersionMinor": HELM_KUBE_MINOR,
        f"{MODULE}/pkg/lint/rules.k8sVersionMajor": HELM_KUBE_MAJOR,
        f"{MODULE}/pkg/lint/rules.k8sVersionMinor": HELM_KUBE_MINOR,
    }
    return " ".join(f"-X {name}={value}" for name, value in stamps.items())


def _reports_pinned_version(binary: Path) -> bool:
    try:
        out = subprocess.run([str(binary), "version", "--short"], capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return out.returncode == 0 and out.stdout.strip().startswith(HELM_VERSION)


def ensure_helm(build: bool = True) -> Path:
    """Return the path of helm ``HELM_VERSION``; build it with ``go install`` into the cache if missing.

    ``WHARF_HELM`` points at another binary (it must report the pinned version).
    """
    override = os.environ.get("WHARF_HELM")
    if override:
        path = Path(override)
        if not _reports_pinned_version(path):
            raise HelmUnavailable(f"WHARF_HELM={override} is not a working helm {HELM_VERSION}")
        return path
    binary = cache_dir() / "helm"
    if binary.exists() and _reports_pinned_version(binary):
        return binary
    if not build:
        raise HelmUnavailable(f"helm {HELM_VERSION} is not built at {binary}; run `invoke charts.helm`")
    go = shutil.which("go")
    if go is None:
        raise HelmUnavailable(f"helm {HELM_VERSION} needs Go to build (`go install {MODULE}/cmd/helm@{HELM_VERSION}`)")
    # Build into a scratch dir first so a failed build never leaves a half-written binary in the cache.
    with tempfile.TemporaryDirectory(prefix="wharf-helm-") as scratch:
        env = {**os.environ, "GOBIN": scratch, "CGO_ENABLED": "0"}
        done = subprocess.run([go, "install", "-ldflags", ldflags(), f"{MODULE}/cmd/helm@{HELM_VERSION}"],
                              env=env, cwd=scratch, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise HelmUnavailable(f"building helm {HELM_VERSION} failed:\n{done.stderr[-4000:]}")
        binary.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(scratch) / "helm"), binary)
    if not _reports_pinned_version(binary):
        raise HelmUnavailable(f"built {binary} but it does not report {HELM_VERSION}")
    return binary
