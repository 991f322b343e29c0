"""Every invoke task's help works, and shows each flag under its own name.

Runs the real `invoke` program on the repository's tasks.py, the way a user types it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INVOKE = [sys.executable, "-m", "invoke"]


def _task_names() -> list[str]:
    """Every task by the dotted name a user types, from tasks.py's own namespace (invoke's JSON
    listing leaves the sub-collections' names out)."""
    sys.path.insert(0, str(ROOT))
    try:
        import tasks
    finally:
        sys.path.remove(str(ROOT))
    return sorted(tasks.ns.task_names)


TASKS = _task_names()


def test_the_tasks_the_readme_names_are_listed() -> None:
    assert {"build", "ct", "lint", "deploy", "cluster.up", "charts.helm"} <= set(TASKS)


@pytest.mark.parametrize("task", TASKS)
def test_task_help_prints_usage_and_every_flag_has_a_name(task: str) -> None:
    shown = subprocess.run([*INVOKE, task, "--help"], cwd=ROOT, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"Usage: inv[oke] [--core-opts] {task} "), shown.stdout[:200]
    flags = [line for line in shown.stdout.splitlines() if re.match(r"\s+-", line)]
    assert not [f for f in flags if re.match(r"\s+(-\w, )?--,", f)], f"a flag without a name in:\n{shown.stdout}"


def test_build_without_source_says_which_flags_it_needs() -> None:
    ran = subprocess.run([*INVOKE, "build", "--image", "x:1"], cwd=ROOT, capture_output=True, text=True)
    assert ran.returncode == 2
    assert "invoke build needs --source" in ran.stderr and "Traceback" not in ran.stderr
