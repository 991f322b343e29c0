"""The pure pieces of wharf.testing.argocd: reading argo-cd's go.mod, the user's repoURL edit."""

from __future__ import annotations

import pytest

from wharf.testing import argocd
from wharf.testing.kube_binaries import BuildError

# The shape of argo-cd v3.6's go.mod: a nested module required at the release's version and
# replaced by a folder of the same repository, next to ordinary version replacements.
GO_MOD = """module github.com/argoproj/argo-cd/v3

go 1.27.0

require (
	dario.cat/mergo v1.0.2
	github.com/argoproj/argo-cd/gitops-engine/v3 v3.6.2 // Tagged as gitops-engine/vX.Y.Z at release time
)

replace (
	github.com/golang/protobuf => github.com/golang/protobuf v1.5.4
	k8s.io/api => k8s.io/api v0.37.0
)

replace github.com/argoproj/argo-cd/gitops-engine/v3 => ./gitops-engine
"""


def test_nested_replacements_are_the_relative_ones_only() -> None:
    assert argocd.nested_replacements(GO_MOD) == {"github.com/argoproj/argo-cd/gitops-engine/v3": "gitops-engine"}


def test_required_version_of_the_nested_module() -> None:
    assert argocd.required_version(GO_MOD, "github.com/argoproj/argo-cd/gitops-engine/v3") == "v3.6.2"
    assert argocd.required_version(GO_MOD, "dario.cat/mergo") == "v1.0.2"
    with pytest.raises(BuildError, match="example.com/absent is not required"):
        argocd.required_version(GO_MOD, "example.com/absent")


def test_the_user_edit_replaces_every_placeholder_repo_url(tmp_path) -> None:
    repo = argocd.GitRepo(tmp_path)
    folder = repo.checkout / "examples" / "gitops" / "argocd"
    (folder / "apps").mkdir(parents=True)
    (folder / "root-app.yaml").write_text(f"spec:\n  source:\n    repoURL: {argocd.PLACEHOLDER_REPO_URL}\n")
    (folder / "apps" / "a.yaml").write_text(f"a: {argocd.PLACEHOLDER_REPO_URL}\nb: {argocd.PLACEHOLDER_REPO_URL}\n")
    (folder / "apps" / "other.yaml").write_text("repoURL: https://charts.example.org\n")
    changed = repo.point_at_self()
    assert sorted(p.name for p in changed) == ["a.yaml", "root-app.yaml"]
    assert (folder / "apps" / "a.yaml").read_text() == f"a: {repo.url}\nb: {repo.url}\n"
    assert repo.url == f"file://{tmp_path / 'gitops.git'}"
    assert (folder / "apps" / "other.yaml").read_text() == "repoURL: https://charts.example.org\n"


def test_install_objects_need_a_build(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert not argocd.built()
    assert argocd.build_dir() == tmp_path / "wharf" / "bin" / f"argocd-v{argocd.ARGOCD_VERSION}"
    # no build in progress (no lock file): nothing to wait for
    assert argocd.wait_for_build(timeout=1) is False


def test_a_module_zip_unpacks_without_its_module_at_version_prefix(tmp_path) -> None:
    import zipfile

    zip_path = tmp_path / "m.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        # module paths have slashes: the prefix ends at the first slash after the '@'
        archive.writestr("github.com/argoproj/argo-cd/gitops-engine/v3@v3.6.2/go.mod", "module x\n")
        archive.writestr("github.com/argoproj/argo-cd/gitops-engine/v3@v3.6.2/pkg/sync/a.go", "package sync\n")
    argocd._unzip_module(zip_path, tmp_path / "out")
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()) == [
        "go.mod",
        "pkg/sync/a.go",
    ]
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as archive:
        archive.writestr("no-version/go.mod", "module x\n")
    with pytest.raises(BuildError, match="not a Go module zip"):
        argocd._unzip_module(tmp_path / "bad.zip", tmp_path / "bad")
