"""Fixtures for chart tests: the pinned helm binary (marker ``helm``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wharf.testing import infra


@pytest.fixture(scope="session")
def helm() -> Path:
    from wharf.charts.helm import HELM_VERSION, HelmUnavailable, ensure_helm

    try:
        return ensure_helm(build=False)
    except HelmUnavailable:
        infra.unavailable(f"helm {HELM_VERSION}", "run `invoke charts.helm` (builds it with Go into ~/.cache/wharf)")
