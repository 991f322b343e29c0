"""mypy, with the configuration in pyproject.toml, passes on the packages it checks strictly
(wharf.protocol, wharf.deployment, wharf.operator), and the same run does report a type error."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRICT_PACKAGES = ["src/wharf/protocol", "src/wharf/deployment", "src/wharf/operator"]
TARGET = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["python_version"]
# mypy's verdict also depends on the stubs of the libraries installed next to it, numpy's above all,
# which is not pinned (a runtime dependency, kept loose) and differs between interpreters (numpy 2.5
# needs Python 3.12 and its stubs read some calls differently). So mypy runs on the interpreter the
# configuration targets, in .venv; .ci/run's second pass, on Python 3.12, skips it.
on_target = pytest.mark.skipif(
    f"{sys.version_info[0]}.{sys.version_info[1]}" != TARGET,
    reason=f"the type check runs on Python {TARGET}, the version [tool.mypy] targets",
)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module: the second run reads the wharf modules the first one analysed."""
    return tmp_path_factory.mktemp("mypy-cache")


def run_mypy(cache_dir: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    # No paths: the `files` of [tool.mypy], as a developer's plain `mypy` checks them.
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(cache_dir),
            "--no-error-summary",
            *paths,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_configuration_is_strict_on_the_three_packages() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # The checker CI runs is the one pinned in the test extra (a newer mypy can find new errors).
    assert f"mypy=={metadata.version('mypy')}" in pyproject["project"]["optional-dependencies"]["test"]
    config = pyproject["tool"]["mypy"]
    assert config["strict"] is True
    assert config["files"] == STRICT_PACKAGES
    # Untyped third-party packages are named one by one in an override, never let through wholesale.
    assert "ignore_missing_imports" not in config
    for override in config.get("overrides", []):
        assert override.get("ignore_missing_imports") is not True or "wharf" not in str(override["module"])


@on_target
def test_the_strict_packages_type_check(cache_dir: Path) -> None:
    result = run_mypy(cache_dir)
    assert result.returncode == 0, f"mypy found errors:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"


@on_target
def test_a_type_error_is_reported(cache_dir: Path, tmp_path: Path) -> None:
    # Proof the run above can fail: a module with an unannotated function and a str returned as an
    # int, checked with the same configuration. The call into wharf.deployment also shows that mypy
    # reads wharf's own types (seldon_id returns str), not Any.
    module = tmp_path / "typing_probe.py"
    module.write_text(
        "from wharf.deployment.names import seldon_id\n"
        "\n"
        "\n"
        "def unannotated(name):\n"
        "    return name\n"
        "\n"
        "\n"
        "def count() -> int:\n"
        "    return seldon_id('iris')\n"
    )
    result = run_mypy(cache_dir, str(module))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any("typing_probe.py:4:" in line and "[no-untyped-def]" in line for line in lines), result.stdout
    assert any("typing_probe.py:9:" in line and "[return-value]" in line for line in lines), result.stdout
