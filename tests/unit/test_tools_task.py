"""`invoke tools --export`: evaluated in a shell, the README's tools resolve to the cached builds
and to this virtualenv. Runs the real invoke and bash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wharf.build.s2icli import s2i_path
from wharf.charts.helm import HelmUnavailable, ensure_helm
from wharf.testing.infra import unavailable

ROOT = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).with_name("invoke")


def test_eval_of_the_export_line_puts_every_tool_on_path() -> None:
    try:
        helm = ensure_helm(build=False)
    except HelmUnavailable as exc:
        unavailable("helm", str(exc))
    if not s2i_path().is_file():
        unavailable("the s2i CLI", "run `invoke build-s2i-cli`")
    script = f'eval "$({INVOKE} -r {ROOT} tools --export)" && command -v helm s2i wharf invoke'
    ran = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == [str(helm), str(s2i_path()), str(INVOKE.with_name("wharf")), str(INVOKE)]
    assert "helm: " in ran.stderr  # what it found goes to stderr, so that eval sees only the export
