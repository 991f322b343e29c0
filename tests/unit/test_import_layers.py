"""The layering of docs/architecture.md holds: import-linter checks the contracts in pyproject.toml,
every top-level part of ``wharf`` has a place in them, and starting the runtime loads no harness."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import wharf

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def run_lint_imports(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_are_kept() -> None:
    result = run_lint_imports(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


def test_a_layer_turned_upside_down_is_reported_broken(tmp_path: Path) -> None:
    # The same contract with protocol/ put above component/: component imports protocol, so the
    # linter must call it broken (proof that it reads the code, not only the configuration).
    text = (ROOT / "pyproject.toml").read_text()
    layers = """    "wharf.component | wharf.deployment | wharf.storage | wharf.tracing | wharf.termination",
    "wharf.protocol",
"""
    assert layers in text
    upside_down = text.replace(
        layers,
        """    "wharf.protocol",
    "wharf.component | wharf.deployment | wharf.storage | wharf.tracing | wharf.termination",
""",
    )
    (tmp_path / "pyproject.toml").write_text(upside_down)
    result = run_lint_imports(tmp_path / "pyproject.toml")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "wharf.component" in result.stdout and "wharf.protocol" in result.stdout


def test_every_top_level_package_has_a_layer() -> None:
    layered = {
        name.strip()
        for contract in contracts()
        if contract["type"] == "layers"
        for layer in contract["layers"]
        for name in layer.split("|")
    }
    parts = {f"wharf.{module.name}" for module in pkgutil.iter_modules(wharf.__path__)}
    assert parts - layered == set(), "give each new package or module its layer in pyproject.toml"


def test_the_runtime_loads_no_harness() -> None:
    # What a model image runs: the microservice command, the component server and the orchestrator.
    code = (
        "import sys, wharf.cli, wharf.server.supervisor, wharf.orchestrator.serve, wharf.contract.tester;"
        "print(sorted(m for m in sys.modules if m.startswith('wharf.testing')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
