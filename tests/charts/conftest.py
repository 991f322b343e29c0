"""Fixtures for chart tests: the pinned helm binaries (marker ``helm``).

``helm`` is the major the session selects (``WHARF_HELM_MAJOR``, else Helm 3); ``helm_major`` runs a
test once with Helm 3 and once with Helm 4, with ``WHARF_HELM_MAJOR`` set for the test so that
Wharf's own helm calls (render, lint, ct install) use the same binary.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wharf.testing import infra


def _built(major: str | None) -> Path:
    from wharf.charts.helm import HelmUnavailable, ensure_helm, helm_version

    try:
        return ensure_helm(build=False, major=major)
    except HelmUnavailable:
        flag = f" --helm {major}" if major else ""
        infra.unavailable(
            f"helm {helm_version(major)}", f"run `invoke charts.helm{flag}` (builds it with Go into ~/.cache/wharf)"
        )


@pytest.fixture(scope="session")
def helm() -> Path:
    return _built(None)


@pytest.fixture(params=["3", "4"], ids=["helm3", "helm4"])
def helm_major(request, monkeypatch) -> tuple[str, Path]:
    """(major, binary) for Helm 3 then Helm 4; ``WHARF_HELM_MAJOR`` is that major during the test."""
    from wharf.charts.helm import MAJOR_ENV

    major = request.param
    binary = _built(major)
    monkeypatch.setenv(MAJOR_ENV, major)
    return major, binary
