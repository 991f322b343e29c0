"""The Argo CD layout in examples/gitops, rendered the way Argo CD renders each Application."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wharf.charts.manifests import check_custom_resource, crd_schemas
from wharf.charts.render import helm_template
from wharf.gitops import argocd
from wharf.gitops.kustomize import kustomize_build

pytestmark = pytest.mark.helm

ROOT = argocd.ROOT
APPS = sorted((argocd.ARGOCD_DIR / "apps").glob("*.yaml")) + sorted((argocd.ARGOCD_DIR / "variants").glob("*.yaml"))
PROJECT = yaml.safe_load((argocd.ARGOCD_DIR / "project.yaml").read_text())
# Helm hooks Argo CD maps onto its own phases; any of these in a chart would run at sync time.
MAPPED_HOOKS = {"pre-install", "pre-upgrade", "post-install", "post-upgrade", "pre-delete", "post-delete"}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def render(app: dict, tmp_path: Path) -> list[dict]:
    """What Argo CD would apply for ``app``: helm template, kustomize build, or a plain directory."""
    source, dest = app["spec"]["source"], app["spec"]["destination"]
    path = ROOT / source["path"]
    if (path / "Chart.yaml").is_file():
        helm = source.get("helm") or {}
        values = [path / f for f in helm.get("valueFiles", [])]
        if "valuesObject" in helm:
            inline = tmp_path / f"{app['metadata']['name']}-values.yaml"
            inline.write_text(yaml.safe_dump(helm["valuesObject"]))
            values.append(inline)
        docs = [
            r.doc
            for r in helm_template(
                path, values, release=helm.get("releaseName", app["metadata"]["name"]), namespace=dest["namespace"]
            )
        ]
        hooks = {
            h.strip()
            for d in docs
            for h in ((d["metadata"].get("annotations") or {}).get("helm.sh/hook") or "").split(",")
            if h
        }
        assert not hooks & MAPPED_HOOKS, f"{app['metadata']['name']}: hooks Argo CD would run: {hooks & MAPPED_HOOKS}"
        return [d for d in docs if "helm.sh/hook" not in (d["metadata"].get("annotations") or {})]  # test hooks: inert
    if (path / "kustomization.yaml").is_file():
        return kustomize_build(path)
    return [d for f in sorted(path.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]


@pytest.fixture(scope="module")
def crd() -> dict:
    return load(ROOT / "kustomize" / "base" / "crd" / "machinelearning.seldon.io_seldondeployments.yaml")


@pytest.mark.parametrize("path", APPS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_application_renders_within_its_project(path: Path, tmp_path: Path, crd: dict, helm_binary) -> None:
    app = load(path)
    assert app["spec"]["project"] == PROJECT["metadata"]["name"]
    docs = render(app, tmp_path)
    assert docs, f"{path.name} renders nothing"
    allowed_cluster_kinds = {(g["group"], g["kind"]) for g in PROJECT["spec"]["clusterResourceWhitelist"]}
    allowed_namespaces = {d["namespace"] for d in PROJECT["spec"]["destinations"]}
    schemas = crd_schemas(crd)
    for doc in docs:
        group = doc["apiVersion"].rpartition("/")[0]
        namespaced = doc["kind"] not in {k for _, k in allowed_cluster_kinds}
        if namespaced:
            namespace = doc["metadata"].get("namespace") or app["spec"]["destination"]["namespace"]
            assert namespace in allowed_namespaces, f"{doc['kind']}/{doc['metadata']['name']} -> {namespace}"
        else:
            assert (group, doc["kind"]) in allowed_cluster_kinds
        assert check_custom_resource(doc, schemas, path.name) == []


def test_sync_waves_order_runtime_before_models() -> None:
    apps = {load(p)["metadata"]["name"]: load(p) for p in APPS}
    wave = {name: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for name, a in apps.items()}
    runtime = {
        n for n, a in apps.items() if a["spec"]["source"]["path"] in ("charts/wharf-core", "kustomize/overlays/default")
    }
    models = set(apps) - runtime
    assert runtime and models and max(wave[n] for n in runtime) < min(wave[n] for n in models)
    for name in runtime:  # the CRD is larger than a client-side apply can annotate
        assert "ServerSideApply=true" in apps[name]["spec"]["syncPolicy"]["syncOptions"]
    for name in models:  # their CRD comes from another Application
        assert "SkipDryRunOnMissingResource=true" in apps[name]["spec"]["syncPolicy"]["syncOptions"]


def test_root_app_points_at_the_apps_folder() -> None:
    root = load(argocd.ARGOCD_DIR / "root-app.yaml")
    assert (ROOT / root["spec"]["source"]["path"]).resolve() == (argocd.ARGOCD_DIR / "apps").resolve()
