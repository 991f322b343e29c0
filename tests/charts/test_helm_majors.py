"""Helm 3 and Helm 4 side by side: which one runs, and where their output is the same.

docs/charts.md lists what differs between the two; these tests hold the parts Wharf relies on.
"""

from __future__ import annotations

import subprocess

import pytest
from chart_support import CHARTS, ROOT

from wharf.charts.helm import BUILDS, MAJOR_ENV, HelmUnavailable, ensure_helm, helm_version, selected_major

# values a user gets wrong, one per kind of schema rule the charts use
BAD_VALUES = [
    ("wharf-model", "replicas: two\nmodel: {image: x:1}\n", "at '/replicas': got string, want integer"),
    ("wharf-model", "model: {image: x:1, imagee: y}\n", "additional properties 'imagee' not allowed"),
    ("wharf-core", "image: {pullPolicy: Sometimes}\n", "at '/image/pullPolicy'"),
]


def test_the_major_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.delenv(MAJOR_ENV, raising=False)
    assert selected_major() == "3" and helm_version() == BUILDS["3"].version
    monkeypatch.setenv(MAJOR_ENV, "4")
    assert selected_major() == "4" and helm_version() == "v4.3.2"
    assert selected_major(3) == "3"
    monkeypatch.setenv(MAJOR_ENV, "2")
    with pytest.raises(HelmUnavailable, match=f"^{MAJOR_ENV}=2: Helm major must be one of 3, 4$"):
        ensure_helm(build=False)


def test_helm3_stamps_its_kubernetes_version_and_helm4_only_its_own():
    assert "helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=34" in BUILDS["3"].ldflags()
    assert BUILDS["4"].ldflags() == "-X helm.sh/helm/v4/internal/version.version=v4.3.2"


def test_invoke_refuses_an_unknown_major_by_its_flag():
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "invoke"), "lint", "--all", "--helm", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.strip() == "--helm=5: Helm major must be one of 3, 4"


@pytest.mark.helm
@pytest.mark.parametrize("chart,text,expected", BAD_VALUES)
def test_schema_failures_read_the_same_under_both_majors(helm, tmp_path, chart, text, expected):
    """Both majors validate values with the same JSON-schema library, so a message is the same text:
    docs and tests may quote it once for both."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    errors = {}
    for major in BUILDS:
        done = subprocess.run(
            [str(ensure_helm(build=False, major=major)), "template", "r", str(CHARTS / chart), "-f", str(bad)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1
        errors[major] = done.stderr
    assert errors["3"] == errors["4"]
    assert expected in errors["3"], errors["3"]
