"""The Argo CD health checks we ship, run as Argo CD runs them (Lua 5.1, no standard libraries)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wharf.gitops import argocd

pytest.importorskip("lupa", reason="lupa is part of the test extra")

CASES = [
    (group, kind, case)
    for group, kind in argocd.CHECKS
    for case in yaml.safe_load((argocd.CUSTOMIZATIONS / group / kind / "health_test.yaml").read_text())["tests"]
]


@pytest.mark.parametrize("group, kind, case", CASES, ids=[f"{k}-{Path(c['inputPath']).stem}" for _, k, c in CASES])
def test_health_test_yaml_cases(group: str, kind: str, case: dict) -> None:
    folder = argocd.CUSTOMIZATIONS / group / kind
    obj = yaml.safe_load((folder / case["inputPath"]).read_text())
    assert argocd.run_health_check(obj, argocd.health_script(group, kind)) == case["healthStatus"]


def test_every_testdata_file_is_covered() -> None:
    for group, kind in argocd.CHECKS:
        folder = argocd.CUSTOMIZATIONS / group / kind
        used = {c["inputPath"] for c in yaml.safe_load((folder / "health_test.yaml").read_text())["tests"]}
        assert {f"testdata/{p.name}" for p in (folder / "testdata").glob("*.yaml")} == used


def test_the_runner_is_stricter_than_argo_cd() -> None:
    # Only `obj` is in scope: a script that passes here needs no library, so it runs whatever
    # libraries an Argo CD installation opens (resource.customizations.useOpenLibs or not).
    with pytest.raises(Exception, match="string"):
        argocd.run_health_check({}, 'local hs = {}\nhs.status = string.upper("healthy")\nreturn hs')


def test_argocd_cm_patch_is_generated_from_the_scripts() -> None:
    assert argocd.CM_PATCH.read_text() == argocd.cm_patch(), "run `invoke generate`"
    data = yaml.safe_load(argocd.CM_PATCH.read_text())["data"]
    key = "resource.customizations.health.machinelearning.seldon.io_SeldonDeployment"
    assert data[key] == argocd.health_script("machinelearning.seldon.io", "SeldonDeployment")
