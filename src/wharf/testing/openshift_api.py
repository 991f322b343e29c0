"""The real OpenShift Route CRD, for test API servers that are not OpenShift.

``route.openshift.io/v1`` Routes are served by OpenShift itself, but the same API ships as a
CustomResourceDefinition in the Go module ``github.com/openshift/api`` (generated from the types
OpenShift compiles in, CEL rules included). Installing it lets a plain kube-apiserver accept or
reject a Route the way OpenShift's schema does. The module has no release tags, so a pseudo-version
is pinned; the Go module proxy serves its zip, and the one file is cached under
``~/.cache/wharf/openshift-api-<version>/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

MODULE = "github.com/openshift/api"
# A commit of October 2025 (OpenShift 4.21 development); used by several operators' go.mod files.
VERSION = "v0.0.0-20251015095338-264e80a2b6e7"
ROUTE_CRD_PATH = "route/v1/zz_generated.crd-manifests/routes.crd.yaml"
ROUTE_CRD_NAME = "routes.route.openshift.io"
FETCH_COMMAND = "invoke route-crd"


class RouteCRDUnavailable(RuntimeError):
    """The Route CRD could not be fetched (message says why and how to get it)."""


def cache_file(version: str = VERSION) -> Path:
    base = Path(os.environ.get("WHARF_CACHE", Path.home() / ".cache" / "wharf"))
    return base / f"openshift-api-{version}" / "routes.crd.yaml"


def zip_member(version: str = VERSION) -> str:
    """Path of the Route CRD inside the module zip (Go puts every file under ``<module>@<version>/``)."""
    return f"{MODULE}@{version}/{ROUTE_CRD_PATH}"


def check_route_crd(doc: Any) -> dict[str, Any]:
    """``doc`` if it is the Route CRD with a served v1 schema; else a RouteCRDUnavailable naming the part."""
    if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
        raise RouteCRDUnavailable(f"{ROUTE_CRD_PATH}: not a CustomResourceDefinition")
    if (doc.get("metadata") or {}).get("name") != ROUTE_CRD_NAME:
        raise RouteCRDUnavailable(f"{ROUTE_CRD_PATH}: metadata.name is not {ROUTE_CRD_NAME}")
    versions = (doc.get("spec") or {}).get("versions") or []
    if not any(
        v.get("name") == "v1" and v.get("served") and (v.get("schema") or {}).get("openAPIV3Schema") for v in versions
    ):
        raise RouteCRDUnavailable(f"{ROUTE_CRD_PATH}: no served v1 version with an openAPIV3Schema")
    return doc


def read_from_zip(zip_path: Path, version: str = VERSION) -> str:
    try:
        with zipfile.ZipFile(zip_path) as archive:
            return archive.read(zip_member(version)).decode("utf-8")
    except KeyError:
        raise RouteCRDUnavailable(f"{zip_path}: has no {zip_member(version)}") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise RouteCRDUnavailable(f"{zip_path}: cannot read the module zip ({exc})") from None


def _download_zip(version: str) -> Path:
    """``go mod download`` the module (verified against go.sum's checksum database) and return its zip."""
    go = shutil.which("go")
    if go is None:
        raise RouteCRDUnavailable(f"Go is needed to fetch {MODULE}@{version} from the module proxy")
    with tempfile.TemporaryDirectory(prefix="wharf-openshift-api-") as scratch:
        # Outside any module (a scratch cwd), so a go.work or go.mod around the checkout plays no part.
        done = subprocess.run(
            [go, "mod", "download", "-json", f"{MODULE}@{version}"],
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=600,
        )
    try:
        info = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        info = {}
    if done.returncode != 0 or info.get("Error") or not info.get("Zip"):
        why = info.get("Error") or done.stderr.strip()[-2000:] or f"exit code {done.returncode}"
        raise RouteCRDUnavailable(f"go mod download {MODULE}@{version} failed: {why}")
    return Path(info["Zip"])


def ensure_route_crd(version: str = VERSION, fetch: bool = True) -> Path:
    """Path of the cached Route CRD YAML; fetched through the Go module proxy when missing."""
    target = cache_file(version)
    if target.is_file():
        return target
    if not fetch:
        raise RouteCRDUnavailable(f"the OpenShift Route CRD is not cached at {target}; run `{FETCH_COMMAND}`")
    text = read_from_zip(_download_zip(version), version)
    check_route_crd(yaml.safe_load(text))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")  # renamed only when complete
    partial.write_text(text)
    partial.replace(target)
    return target


def route_crd(version: str = VERSION) -> dict[str, Any]:
    """The Route CRD as a dict (for ``kube_api.apply_crd``)."""
    return check_route_crd(yaml.safe_load(ensure_route_crd(version).read_text()))
