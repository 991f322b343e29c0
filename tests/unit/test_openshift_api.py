"""Fetching OpenShift's Route CRD from the github.com/openshift/api module: the pure parts and the cache.

The Go module proxy itself is exercised by `invoke route-crd` and the deploy walkthrough test; here
a zip laid out as Go lays out module zips stands in for the download (said so where it is used).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import yaml

from wharf.testing import openshift_api as oa

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "routes.route.openshift.io"},
    "spec": {
        "group": "route.openshift.io",
        "versions": [
            {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}
        ],
    },
}


def module_zip(tmp_path: Path, files: dict[str, str]) -> Path:
    """A stand-in for the module zip the proxy serves (every member under <module>@<version>/)."""
    path = tmp_path / "module.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(f"{oa.MODULE}@{oa.VERSION}/{name}", text)
    return path


def test_the_crd_is_read_from_its_place_in_the_module_zip(tmp_path) -> None:
    path = module_zip(tmp_path, {oa.ROUTE_CRD_PATH: yaml.safe_dump(CRD), "route/v1/types.go": "package v1"})
    assert yaml.safe_load(oa.read_from_zip(path)) == CRD
    with pytest.raises(
        oa.RouteCRDUnavailable, match=r"module.zip: has no github.com/openshift/api@v0\.0\.0-.*/route/v1/"
    ):
        oa.read_from_zip(module_zip(tmp_path, {"route/v1/types.go": "package v1"}))
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(oa.RouteCRDUnavailable, match="broken.zip: cannot read the module zip"):
        oa.read_from_zip(tmp_path / "broken.zip")


@pytest.mark.parametrize(
    "change,problem",
    [
        (lambda d: d.update(kind="ConfigMap"), "not a CustomResourceDefinition"),
        (lambda d: d["metadata"].update(name="routes.example.com"), "metadata.name is not routes.route.openshift.io"),
        (lambda d: d["spec"]["versions"][0].update(served=False), "no served v1 version"),
    ],
)
def test_something_else_than_the_route_crd_is_refused(change, problem) -> None:
    import copy

    doc = copy.deepcopy(CRD)
    change(doc)
    with pytest.raises(oa.RouteCRDUnavailable, match=problem):
        oa.check_route_crd(doc)
    assert oa.check_route_crd(CRD) is CRD


def test_a_cached_crd_is_used_without_go_and_a_missing_one_says_how_to_fetch_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WHARF_CACHE", str(tmp_path))
    with pytest.raises(oa.RouteCRDUnavailable, match="run `invoke route-crd`"):
        oa.ensure_route_crd(fetch=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no go: fetching must fail with the reason
    with pytest.raises(oa.RouteCRDUnavailable, match="Go is needed to fetch github.com/openshift/api@"):
        oa.ensure_route_crd()
    assert not oa.cache_file().exists()  # nothing half-written
    oa.cache_file().parent.mkdir(parents=True)
    oa.cache_file().write_text(yaml.safe_dump(CRD))
    assert oa.route_crd() == CRD
    assert str(oa.cache_file()).startswith(str(tmp_path / f"openshift-api-{oa.VERSION}"))
