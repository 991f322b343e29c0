"""GitOps tests render with the real helm (marker ``helm``): skipped locally without it, required in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from wharf.testing.infra import unavailable


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    from wharf.charts.helm import HelmUnavailable, ensure_helm

    try:
        return ensure_helm(build=False)
    except HelmUnavailable as exc:
        unavailable("helm", f"{exc}")


@pytest.fixture(scope="session")
def seldon_crd(kube_api) -> None:
    """The SeldonDeployment CRD (the kustomize bundle's copy) installed and Established."""
    import yaml

    from wharf.gitops.kustomize import BASE

    kube_api.apply_crd(yaml.safe_load((BASE / "crd" / "machinelearning.seldon.io_seldondeployments.yaml").read_text()))
