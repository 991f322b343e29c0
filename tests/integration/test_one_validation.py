"""One validation, one message, one exit code: `wharf render` and `wharf run` read a SeldonDeployment
file the same way (0 ok, 1 the input is wrong, 2 a bad flag), and a misspelt field is named first
and alone. Runs the installed console script on real files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wharf.local.process import free_port

WHARF = str(Path(sys.executable).parent / "wharf")

TYPO = textwrap.dedent("""\
    apiVersion: machinelearning.seldon.io/v1
    kind: SeldonDeployment
    metadata: {name: typo}
    spec:
      predictors:
      - name: default
        graph: {name: classifier, type: MODEL}
        componentSpec:
        - spec:
            containers:
            - name: classifier
              image: example/iris:1
    """)


def wharf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([WHARF, *args], capture_output=True, text=True, timeout=120)


def both(path: Path) -> dict[str, subprocess.CompletedProcess]:
    return {
        "render": wharf("render", str(path)),
        "run": wharf("run", str(path), "--http-port", str(free_port()), "--grpc-port", str(free_port())),
    }


def test_a_misspelt_field_is_named_first_and_alone_by_render_and_run(tmp_path: Path) -> None:
    path = tmp_path / "sdep.yaml"
    path.write_text(TYPO)
    for command, ran in both(path).items():
        assert ran.returncode == 1, (command, ran.stderr)
        assert ran.stderr.strip().splitlines() == [
            f"error: {path}: SeldonDeployment typo: spec.predictors[0]: unknown field 'componentSpec'"
        ], command


def test_a_wrong_type_gets_the_same_line_from_render_and_run(tmp_path: Path) -> None:
    path = tmp_path / "sdep.yaml"
    path.write_text(
        TYPO.replace("componentSpec:", "componentSpecs:").replace(
            "image: example/iris:1", "image: example/iris:1\n          imagePullPolicy: 22"
        )
    )
    seen = {command: ran for command, ran in both(path).items()}
    assert {c: r.returncode for c, r in seen.items()} == {"render": 1, "run": 1}
    expected = (
        f"error: {path}: SeldonDeployment typo: spec.predictors[0].componentSpecs[0].spec.containers[0]"
        ".imagePullPolicy: expected a string, got 22"
    )
    assert expected in seen["render"].stderr.splitlines()
    assert expected in seen["run"].stderr.splitlines()


@pytest.mark.parametrize("content", ["kind: ConfigMap\nmetadata: {name: x}\n", "spec: [unclosed\n"])
def test_a_file_that_is_no_seldondeployment_exits_1_for_both(tmp_path: Path, content: str) -> None:
    path = tmp_path / "sdep.yaml"
    path.write_text(content)
    for command, ran in both(path).items():
        assert ran.returncode == 1 and "Traceback" not in ran.stderr, (command, ran.stderr)
        assert ran.stderr.startswith(f"error: {path}"), (command, ran.stderr)


def test_a_bad_flag_exits_2() -> None:
    for command in ("render", "run"):
        assert wharf(command, "--no-such-flag", "x.yaml").returncode == 2
