"""The test folders are not packages, so pytest imports each test file by its basename: two files
with one name in different folders stop the whole run at collection. Caught here, in seconds."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_modules_share_a_basename_outside_packages() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        if not (path.parent / "__init__.py").exists():
            by_name[path.name].append(str(path.relative_to(TESTS)))
    assert {name: paths for name, paths in by_name.items() if len(paths) > 1} == {}


def test_no_test_imports_a_conftest_by_name() -> None:
    """Every folder's conftest is imported as the module ``conftest``: ``from conftest import X`` gets
    whichever was loaded last, which in the full run is another folder's (seen in CI)."""
    offenders = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("*.py")
        if any(
            line.strip().startswith(("from conftest import", "import conftest"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []
