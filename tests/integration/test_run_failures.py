"""`wharf run` when the machine or a model says no: one line naming the port or node, no traceback,
exit 1, and nothing left running. Runs the real console script."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from wharf.local.process import free_port

WHARF = str(Path(sys.executable).parent / "wharf")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODELS = Path(__file__).resolve().parent / "models"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([WHARF, "run", *args], capture_output=True, text=True, timeout=120)


def test_a_busy_rest_port_is_named_with_the_flag_that_changes_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = run(
            str(EXAMPLES / "graphs" / "ab-router.yaml"), "--http-port", str(port), "--grpc-port", str(free_port())
        )
    assert ran.returncode == 1
    assert "Traceback" not in ran.stderr
    assert ran.stderr.strip().splitlines()[-1] == (
        f"error: port {port} on 127.0.0.1 (the graph's REST port) is already in use; "
        "stop what listens there or choose another with --http-port"
    )


def test_a_busy_grpc_port_is_named_too() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = run(
            str(EXAMPLES / "graphs" / "ab-router.yaml"), "--http-port", str(free_port()), "--grpc-port", str(port)
        )
    assert ran.returncode == 1 and "--grpc-port" in ran.stderr.splitlines()[-1] and "Traceback" not in ran.stderr


def test_a_node_that_dies_at_start_is_named_and_its_reason_shown(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    shutil.copy(MODELS / "FailingLoadModel.py", folder)
    sdep = tmp_path / "sdep.yaml"
    sdep.write_text(
        textwrap.dedent("""\
        apiVersion: machinelearning.seldon.io/v1
        kind: SeldonDeployment
        metadata: {name: broken}
        spec:
          predictors:
          - name: default
            graph: {name: broken, type: MODEL}
            componentSpecs:
            - spec:
                containers:
                - name: broken
                  image: example/broken:1
                  env: [{name: MODEL_NAME, value: FailingLoadModel}]
        """)
    )
    ran = run(
        str(sdep), "--source", f"broken={folder}", "--http-port", str(free_port()), "--grpc-port", str(free_port())
    )
    assert ran.returncode == 1
    out = ran.stdout + ran.stderr
    assert "cannot find the model weights" in out  # the node's own reason, from its log
    last = ran.stderr.strip().splitlines()[-1]
    assert last.startswith("error: broken did not start (server exited with code ") and "[broken]" in last
    assert "Traceback (most recent call last):\n  File" not in ran.stderr.split("[broken")[-1]
