"""`helm template` of a model chart with its default values: the one value to set is named, with
the flag that sets it, instead of Helm's "minLength: got 0, want 1" (issue: a chart's required image).
Runs the real helm binaries, Helm 3 and Helm 4."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CHARTS = Path(__file__).resolve().parents[2] / "charts"


def template(helm: Path, chart: str, *sets: str) -> subprocess.CompletedProcess:
    args = [str(helm), "template", "x", str(CHARTS / chart)]
    for s in sets:
        args += ["--set", s]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "chart, sets, value",
    [
        ("wharf-abtest", [], "modela.image.name"),
        ("wharf-abtest", ["modela.image.name=a/b"], "modela.image.version"),
        ("wharf-abtest", ["modela.image.name=a/b", "modela.image.version=1"], "modelb.image.name"),
        ("wharf-mab", [], "mab.image"),
        ("wharf-mab", ["mab.image=r/m:1"], "modela.image.name"),
    ],
)
def test_defaults_name_the_value_to_set_and_how(helm_major, chart, sets, value) -> None:
    _, helm = helm_major
    ran = template(helm, chart, *sets)
    assert ran.returncode == 1
    error = ran.stderr.strip().splitlines()[0]
    assert f"): {value} is required: " in error and "--set " in error, error
    assert "minLength" not in ran.stderr


def test_every_image_set_renders_each_form(helm_major) -> None:
    _, helm = helm_major
    base = ["modela.image.name=reg/a", "modela.image.version=1", "modelb.image.name=reg/b", "modelb.image.version=2.5"]
    abtest = template(helm, "wharf-abtest", *base)
    assert abtest.returncode == 0, abtest.stderr
    assert "image: reg/a:1\n" in abtest.stdout and "image: reg/b:2.5\n" in abtest.stdout
    for router in (["mab.image=reg/r:3"], ["mab.image.name=reg/r", "mab.image.version=3"]):
        mab = template(helm, "wharf-mab", *base, *router)
        assert mab.returncode == 0, mab.stderr
        assert "image: reg/r:3\n" in mab.stdout
