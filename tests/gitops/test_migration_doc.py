"""The migration guide's offline commands run as written (docs/migrating-from-seldon.md)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.helm

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "migrating-from-seldon.md"


def guide_commands() -> list[str]:
    blocks = re.findall(r"<!-- commands: tested -->\n```sh\n(.*?)```", GUIDE.read_text(), re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_the_guide_has_guide_commands() -> None:
    assert len(guide_commands()) >= 5


@pytest.mark.parametrize("command", guide_commands())
def test_command_runs(command: str, helm_binary: Path) -> None:
    bindir = Path(sys.executable).parent  # the venv: wharf, invoke, seldon-core-microservice
    env = {**os.environ, "PATH": f"{bindir}:{helm_binary.parent}:{os.environ['PATH']}"}
    done = subprocess.run(shlex.split(command), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert done.stdout.strip(), f"{command} printed nothing"
