"""The pinned helm binaries, Helm 3 and Helm 4, built from their Go module source (no release downloads here).

Which major a caller gets: ``ensure_helm(major=...)``, else ``WHARF_HELM_MAJOR`` (``3`` or ``4``), else
Helm 3. The invoke tasks' ``--helm 3|4`` set that variable, so every helm call below them (lint,
template, install) uses the same major.

Why Helm 3 needs extra ldflags: its Makefile stamps the Kubernetes version that ``helm template`` and
``helm lint`` assume when no cluster is asked (derived from its client-go module). A plain ``go install``
skips the Makefile, so the binary would claim Kubernetes v1.20 and refuse every chart whose
``kubeVersion`` is newer. We stamp the same values as the official release. Helm 4 reads that version
from the binary's own module build info at run time, so only its version string needs stamping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

MAJOR_ENV = "WHARF_HELM_MAJOR"


@dataclass(frozen=True)
class HelmBuild:
    version: str
    module: str
    kube: tuple[str, str] | None = None  # (major, minor) to stamp; None: helm derives it itself

    def ldflags(self) -> str:
        stamps = {f"{self.module}/internal/version.version": self.version}
        if self.kube:
            for pkg in ("pkg/chartutil", "pkg/lint/rules"):
                stamps[f"{self.module}/{pkg}.k8sVersionMajor"] = self.kube[0]
                stamps[f"{self.module}/{pkg}.k8sVersionMinor"] = self.kube[1]
        return " ".join(f"-X {name}={value}" for name, value in stamps.items())


BUILDS = {
    # helm v3.19.0 builds against k8s.io/client-go v0.34.0 -> Kubernetes 1.34 (see its Makefile).
    "3": HelmBuild("v3.19.0", "helm.sh/helm/v3", ("1", "34")),
    # the newest v4 the module proxy serves; it builds against client-go v0.37.2 -> Kubernetes 1.37.
    "4": HelmBuild("v4.3.2", "helm.sh/helm/v4"),
}
DEFAULT_MAJOR = "3"
HELM_VERSION = BUILDS["3"].version


class HelmUnavailable(RuntimeError):
    """The helm binary could not be found or built (message says why and how to fix it)."""


def selected_major(major: str | int | None = None) -> str:
    """``major``, else ``$WHARF_HELM_MAJOR``, else Helm 3; anything but 3 or 4 is refused by name."""
    value = str(major if major is not None else os.environ.get(MAJOR_ENV) or DEFAULT_MAJOR).strip()
    if value not in BUILDS:
        where = "--helm" if major is not None else MAJOR_ENV
        raise HelmUnavailable(f"{where}={value}: Helm major must be one of {', '.join(BUILDS)}")
    return value


def helm_version(major: str | int | None = None) -> str:
    return BUILDS[selected_major(major)].version


def cache_dir(major: str | int | None = None) -> Path:
    base = Path(os.environ.get("WHARF_CACHE", Path.home() / ".cache" / "wharf"))
    return base / "bin" / f"helm-{helm_version(major)}"


def ldflags(major: str | int | None = None) -> str:
    return BUILDS[selected_major(major)].ldflags()


def _reports_version(binary: Path, version: str) -> bool:
    try:
        out = subprocess.run([str(binary), "version", "--short"], capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return out.returncode == 0 and out.stdout.strip().startswith(version)


def ensure_helm(build: bool = True, major: str | int | None = None) -> Path:
    """Return the path of the pinned helm of ``major`` (see ``selected_major``); build it with
    ``go install`` into the cache if missing.

    ``WHARF_HELM`` points at another binary (it must report the pinned version of that major).
    """
    spec = BUILDS[selected_major(major)]
    override = os.environ.get("WHARF_HELM")
    if override:
        path = Path(override)
        if not _reports_version(path, spec.version):
            raise HelmUnavailable(f"WHARF_HELM={override} is not a working helm {spec.version}")
        return path
    binary = cache_dir(major) / "helm"
    if binary.exists() and _reports_version(binary, spec.version):
        return binary
    if not build:
        flag = "" if spec is BUILDS[DEFAULT_MAJOR] else f" --helm {selected_major(major)}"
        raise HelmUnavailable(f"helm {spec.version} is not built at {binary}; run `invoke charts.helm{flag}`")
    go = shutil.which("go")
    if go is None:
        raise HelmUnavailable(
            f"helm {spec.version} needs Go to build (`go install {spec.module}/cmd/helm@{spec.version}`)"
        )
    # Build into a scratch dir first so a failed build never leaves a half-written binary in the cache.
    with tempfile.TemporaryDirectory(prefix="wharf-helm-") as scratch:
        env = {**os.environ, "GOBIN": scratch, "CGO_ENABLED": "0"}
        done = subprocess.run(
            [go, "install", "-ldflags", spec.ldflags(), f"{spec.module}/cmd/helm@{spec.version}"],
            env=env,
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if done.returncode != 0:
            raise HelmUnavailable(f"building helm {spec.version} failed:\n{done.stderr[-4000:]}")
        binary.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(scratch) / "helm"), binary)
    if not _reports_version(binary, spec.version):
        raise HelmUnavailable(f"built {binary} but it does not report {spec.version}")
    return binary
