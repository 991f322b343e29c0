"""The kustomize bundle: generated from the wharf-core chart, and equal to it mode by mode."""

from __future__ import annotations

import os

import pytest

from wharf.gitops import kustomize as k

pytestmark = pytest.mark.helm


def by_key(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_generated_files_are_up_to_date(helm_binary) -> None:
    assert k.stale_files() == [], "run `invoke generate`"


@pytest.mark.parametrize(
    "mode", [None, *[m for m in k.MODES if not m.component]], ids=lambda m: m.path if m else k.DEFAULT_OVERLAY
)
def test_overlay_builds_to_the_chart_in_the_same_mode(helm_binary, mode) -> None:
    built = by_key(k.kustomize_build(k.KUSTOMIZE / (mode.path if mode else k.DEFAULT_OVERLAY)))
    want = by_key([k.namespace_object(), *k.mode_objects(mode)])
    assert built.keys() == want.keys()
    for key in built:
        assert built[key] == want[key], key


def test_components_combine_like_their_chart_values(helm_binary, tmp_path) -> None:
    def rel(path: str) -> str:  # kustomize takes only relative paths to other kustomizations
        return os.path.relpath(k.KUSTOMIZE / path, tmp_path)

    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{rel(k.DEFAULT_OVERLAY)}]\n"
        f"components: [{', '.join(rel(m.path) for m in k.MODES if m.component)}]\n"
    )
    sets = {key: value for m in k.MODES if m.component for key, value in m.sets.items()}
    apis = tuple(a for m in k.MODES if m.component for a in m.api_versions)
    combined = k.Mode("combined", sets, api_versions=apis)
    assert by_key(k.kustomize_build(tmp_path)) == by_key([k.namespace_object(), *k.mode_objects(combined)])


def test_the_crd_in_kustomize_is_the_charts(helm_binary) -> None:
    built = by_key(k.kustomize_build(k.KUSTOMIZE / k.DEFAULT_OVERLAY))
    crd = built[("CustomResourceDefinition", "seldondeployments.machinelearning.seldon.io")]
    assert [v["name"] for v in crd["spec"]["versions"]] == ["v1", "v1alpha2", "v1alpha3"]
    assert "helm.sh/resource-policy" not in (crd["metadata"].get("annotations") or {})


def test_dev_overlay_runs_local_images() -> None:
    deployment = by_key(k.kustomize_build(k.KUSTOMIZE / "overlays" / "dev"))[("Deployment", "wharf-operator")]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["image"] == "wharf/operator:dev" and container["imagePullPolicy"] == "Never"
    assert (
        env["SELDON_LOG_LEVEL"] == "DEBUG" and env["EXECUTOR_CONTAINER_IMAGE_AND_VERSION"] == "wharf/orchestrator:dev"
    )


def test_json_patches_name_the_env_entry_they_change() -> None:
    old = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    new = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]}
    assert k.json_patch(old, new) == [
        {"op": "test", "path": "/env/1/name", "value": "B"},
        {"op": "replace", "path": "/env/1/value", "value": "3"},
    ]
    many = {"rules": [1, 2, 3, 4, 5]}
    assert k.json_patch(many, {"rules": [5]}) == [{"op": "replace", "path": "/rules", "value": [5]}]


def test_the_default_overlay_pins_the_operator_as_wharf_core_values_say(tmp_path) -> None:
    """A release pins wharf-core's image values; the regenerated overlay must say the same, or `invoke
    generate --check` fails on the release commit. Unpinned values give the plain tag."""
    import shutil

    import yaml

    from wharf.release.pin import set_scalars

    chart = shutil.copytree(k.CHART, tmp_path / "wharf-core")
    unpinned = yaml.safe_load(k.default_overlay_files(chart)["kustomization.yaml"])["images"]
    app_version = yaml.safe_load((chart / "Chart.yaml").read_text())["appVersion"]
    assert unpinned == [{"name": "docker.io/wharf/operator", "newTag": app_version}]
    digest = "sha256:" + "ab" * 32
    values = chart / "values.yaml"
    values.write_text(
        set_scalars(
            values.read_text(),
            {("image", "registry"): "reg.example:5000", ("image", "tag"): "1.2.3", ("image", "digest"): digest},
        )
    )
    pinned = yaml.safe_load(k.default_overlay_files(chart)["kustomization.yaml"])["images"]
    assert pinned == [{"name": "reg.example:5000/wharf/operator", "newTag": "1.2.3", "digest": digest}]
