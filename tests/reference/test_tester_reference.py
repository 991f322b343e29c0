"""The contract tester against the real seldon-core 1.19.0 microservice (REST and gRPC).

Needs ``WHARF_REFERENCE_PYTHON``: the python of a venv with ``seldon-core==1.19.0``
(see ``wharf.testing.reference``). The servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from wharf.contract import tester
from wharf.local.process import free_port as _free_port

from .conftest import _reference_bin

pytestmark = pytest.mark.reference

DATA = Path(__file__).resolve().parents[1] / "data"
IRIS = DATA / "contract-iris.json"
MIXED = DATA / "contract-mixed.json"

MODELS = {
    # Softmax over the first three columns: 3 probabilities per row, as contract-iris.json expects.
    "IrisModel": """
import numpy as np

class IrisModel:
    def predict(self, X, names=None, meta=None):
        X = np.asarray(X, dtype=float)[:, :3]
        e = np.exp(X - X.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def transform_input(self, X, names=None, meta=None):
        return X

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        return []
""",
    # A category and a probability per row, as contract-mixed.json expects.
    "MixedModel": """
class MixedModel:
    def predict(self, X, names=None, meta=None):
        return [["yes" if i % 2 == 0 else "no", 0.25] for i in range(len(X))]
""",
    # Four columns, one out of [0, 1]: breaks contract-iris.json.
    "BadModel": """
import numpy as np

class BadModel:
    def predict(self, X, names=None, meta=None):
        return np.array([[1.5, 0.2, 0.1, 0.0] for _ in range(len(X))])
""",
}


def _wait_ready(proc: subprocess.Popen, http_port: int, grpc_port: int, log: Path, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"seldon-core-microservice exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health/ping", timeout=2) as resp:
                pong = resp.read() == b"pong"
            with socket.create_connection(("127.0.0.1", grpc_port), timeout=2):
                if pong:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"seldon-core-microservice not ready after {deadline}s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop a server we started, with its workers: they share the session we created for it."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        time.sleep(0.5)  # let the workers of the group see the signal too


@pytest.fixture(scope="module")
def reference_servers(tmp_path_factory):
    """Start one seldon-core-microservice per model class; yield {class: (http_port, grpc_port)}."""
    exe = _reference_bin()  # skips, or fails under WHARF_REQUIRE_REFERENCE=1, when not configured
    folder = tmp_path_factory.mktemp("reference-models")
    procs, ports = [], {}
    try:
        for name, source in MODELS.items():
            (folder / f"{name}.py").write_text(source)
            http_port, grpc_port, metrics_port = _free_port(), _free_port(), _free_port()
            log = folder / f"{name}.log"
            with open(log, "wb") as fh:
                proc = subprocess.Popen(
                    [
                        str(exe),
                        name,
                        "--http-port",
                        str(http_port),
                        "--grpc-port",
                        str(grpc_port),
                        "--metrics-port",
                        str(metrics_port),
                        "--workers",
                        "1",
                    ],
                    cwd=folder,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env={**os.environ, "PYTHONPATH": str(folder)},
                )
            procs.append(proc)
            _wait_ready(proc, http_port, grpc_port, log)
            ports[name] = (http_port, grpc_port)
        yield ports
    finally:
        for proc in procs:
            _stop(proc)


def run_cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = tester.main([str(a) for a in argv], prog="seldon-core-tester", out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("grpc", [False, True], ids=["rest", "grpc"])
@pytest.mark.parametrize("tensor", [False, True], ids=["ndarray", "tensor"])
@pytest.mark.parametrize("endpoint", ["predict", "send-feedback", "transform-input"])
def test_iris_model_passes(reference_servers, grpc, tensor, endpoint):
    http_port, grpc_port = reference_servers["IrisModel"]
    argv = [IRIS, "127.0.0.1", grpc_port if grpc else http_port, "--endpoint", endpoint, "-b", "3", "-n", "2"]
    argv += ["--grpc"] * grpc + ["-t"] * tensor
    code, out, err = run_cli(*argv)
    assert code == 0, out + err
    assert out.startswith("PASSED: 2 of 2 requests passed")


@pytest.mark.parametrize("grpc", [False, True], ids=["rest", "grpc"])
def test_mixed_model_passes(reference_servers, grpc):
    http_port, grpc_port = reference_servers["MixedModel"]
    code, out, err = run_cli(MIXED, "127.0.0.1", grpc_port if grpc else http_port, "-b", "4", *(["--grpc"] * grpc))
    assert code == 0, out + err


@pytest.mark.parametrize("grpc", [False, True], ids=["rest", "grpc"])
def test_bad_model_fails_with_named_problem(reference_servers, grpc):
    http_port, grpc_port = reference_servers["BadModel"]
    code, out, err = run_cli(IRIS, "127.0.0.1", grpc_port if grpc else http_port, *(["--grpc"] * grpc))
    assert code == 1
    assert out.startswith("FAILED")
    assert "data.ndarray row 0: expected 3 columns for targets [proba:0, proba:1, proba:2], got 4" in err


def test_server_error_is_reported(reference_servers):
    # The iris model cannot turn the categorical column of the mixed contract into floats: HTTP 500.
    http_port, _ = reference_servers["IrisModel"]
    code, _, err = run_cli(MIXED, "127.0.0.1", http_port)
    assert code == 1
    assert "HTTP status 500" in err and "status: FAILURE answer" in err and "MICROSERVICE_INTERNAL_ERROR" in err
