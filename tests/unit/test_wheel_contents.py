"""What a model image installs is the wheel `build_wharf_wheel` makes from this checkout: the runtime
and the contract tester, never the project's test harness (wharf.testing), which stays in the
checkout for the editable dev venv."""

from __future__ import annotations

import zipfile
from pathlib import Path

from wharf.build.builder import build_wharf_wheel


def test_the_wheel_carries_the_runtime_and_not_the_harness(tmp_path: Path) -> None:
    wheel = build_wharf_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not [n for n in names if n.startswith("wharf/testing/")], "the test harness went into the wheel"
    # what images run: the microservice command, the servers, the orchestrator, the tester, the stubs' sources
    for needed in (
        "wharf/cli.py",
        "wharf/server/supervisor.py",
        "wharf/orchestrator/serve.py",
        "wharf/contract/tester.py",
        "wharf/http_server/protocol.py",
        "wharf/protocol/proto/prediction.proto",
    ):
        assert needed in names, needed


def test_the_dev_venv_still_sees_the_harness() -> None:
    # make venv installs in editable mode: src/ is on sys.path, so tasks.py and the tests import it
    import wharf.testing.apiserver

    assert Path(wharf.testing.apiserver.__file__).parent == Path(__file__).resolve().parents[2] / "src/wharf/testing"
