"""ToolVenv: made once, trusted while its marker lists the same requirements, completed when they
change or the install was cut short, and refused with the tool's error when its check fails. Real
venvs with pip (installing pip itself, which is already there, needs no index)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wharf.testing.tool_venv import ToolVenv, ToolVenvError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_made_once_then_trusted_then_completed_when_requirements_change(home: Path) -> None:
    tool = ToolVenv(folder="t-venv", requirements=("pip",), check="import pip")
    bindir = tool.bin()
    assert bindir == home / ".cache/wharf/t-venv/bin" and (bindir / "python").exists()
    marker = home / ".cache/wharf/t-venv/.wharf-tool-venv-ok"
    assert marker.read_text().split() == ["pip"]
    # trusted as is: breaking pip would make any install fail, and nothing runs
    (bindir / "pip").unlink()
    assert tool.bin() == bindir
    # other requirements: completed (pip runs again) and the marker says what is in it now
    changed = ToolVenv(folder="t-venv", requirements=("pip", "setuptools"), check="import pip")
    assert changed.bin() == bindir
    assert marker.read_text().split() == ["pip", "setuptools"]


def test_a_failing_check_is_an_error_naming_the_requirements_and_leaves_no_marker(home: Path) -> None:
    tool = ToolVenv(folder="bad-venv", requirements=("pip",), check="import no_such_module_here")
    with pytest.raises(ToolVenvError, match=r"(?s)pip did not install in .*bad-venv: .*no_such_module_here"):
        tool.bin()
    assert not (home / ".cache/wharf/bad-venv/.wharf-tool-venv-ok").exists()


def test_a_ready_venv_named_by_the_environment_is_used_when_its_check_passes(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = ToolVenv(folder="ready-venv", requirements=("pip",), check="import pip").bin().parent
    (ready / ".wharf-tool-venv-ok").unlink()  # made by someone else: no marker of ours
    monkeypatch.setenv("WHARF_TEST_TOOL_VENV", str(ready))
    tool = ToolVenv(
        folder="unused", requirements=("pip==0.0.0-never",), check="import pip", env_override="WHARF_TEST_TOOL_VENV"
    )
    assert tool.bin() == ready / "bin"  # the impossible pin was never installed
