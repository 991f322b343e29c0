"""The code keeps the house style: `ruff format` leaves every file as it is and `ruff check` finds
nothing, with the configuration in pyproject.toml (the same one an editor's ruff reads)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).with_name("ruff")


def ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(RUFF), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_every_file_is_formatted() -> None:
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, "run `ruff format .`:\n" + result.stdout[-3000:] + result.stderr[-1000:]


def test_the_linter_finds_nothing() -> None:
    result = ruff("check", ".")
    assert result.returncode == 0, "run `ruff check --fix .`:\n" + result.stdout[-3000:] + result.stderr[-1000:]


def test_the_checks_can_fail(tmp_path: Path) -> None:
    # the project's own configuration, on a file that breaks both a lint rule and the format
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "sloppy.py").write_text("import os\nx = {'a':1}\n")
    lint = ruff("check", "--no-cache", "sloppy.py", cwd=tmp_path)
    assert lint.returncode == 1 and "F401" in lint.stdout, lint.stdout
    fmt = ruff("format", "--check", "--no-cache", "sloppy.py", cwd=tmp_path)
    assert fmt.returncode == 1 and "sloppy.py" in fmt.stdout, fmt.stdout
