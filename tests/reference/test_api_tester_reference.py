"""Upstream's own ``seldon-core-api-tester`` (seldon-core 1.19.0) against Wharf's orchestrator:
an existing client works unchanged, and Wharf's tester calls exactly the URLs upstream's does."""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharf.contract import tester
from wharf.local.process import free_port
from wharf.local.run import LocalGraph
from wharf.testing.gateway import Gateway
from wharf.testing.graphs import single_node_sdep

pytestmark = pytest.mark.reference

GRAPH_MODELS = Path(__file__).parents[1] / "integration" / "graph_models"
CONTRACT = {
    "features": [{"name": "x", "ftype": "continuous", "dtype": "FLOAT", "range": [0, 1]}],
    "targets": [{"name": "y", "ftype": "continuous", "dtype": "FLOAT", "range": [0, 1]}],
}


def reference_api_tester() -> Path:
    python = os.environ.get("WHARF_REFERENCE_PYTHON")
    if not python:
        why = "WHARF_REFERENCE_PYTHON is not set: build the reference venv with `python -m wharf.testing.reference`"
        if os.environ.get("WHARF_REQUIRE_REFERENCE") == "1":
            pytest.fail(f"WHARF_REQUIRE_REFERENCE=1 but {why}", pytrace=False)
        pytest.skip(why)
    exe = Path(python).with_name("seldon-core-api-tester")
    assert exe.exists(), f"{exe} missing: the reference venv is incomplete"
    return exe


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGraph]:
    path = tmp_path_factory.mktemp("api-ref") / "sdep.yaml"
    single_node_sdep(path, "iris", "echo", "Echo", namespace="models")
    g = LocalGraph(
        path, sources={"echo": str(GRAPH_MODELS)}, http_port=free_port(), grpc_port=free_port(), out=lambda line: None
    ).start()
    yield g
    g.stop()


def test_upstream_api_tester_and_ours_call_the_same_urls(graph, tmp_path) -> None:
    exe = reference_api_tester()
    contract = tmp_path / "contract.json"
    contract.write_text(json.dumps(CONTRACT))
    with Gateway("models", "iris", graph.url) as gw:
        # predict only: upstream's client cannot build a Feedback proto from an answer whose tags hold
        # booleans (its own bug, the same against its executor), which the Echo model's do
        done = subprocess.run(
            [str(exe), str(contract), "127.0.0.1", str(gw.port), "iris", "--namespace", "models", "-n", "2", "-p"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        upstream_paths, gw.paths[:] = list(gw.paths), []
        out, err = io.StringIO(), io.StringIO()
        code = tester.main(
            [str(contract), "127.0.0.1", str(gw.port), "iris", "--namespace", "models", "-n", "2"],
            out=out,
            err=err,
            external=True,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    # upstream printed two answers carrying the model's output
    assert done.stdout.count("RECEIVED RESPONSE:") == 2 and done.stdout.count("'ndarray'") == 2, done.stdout
    assert code == 0, err.getvalue()
    assert gw.paths == upstream_paths == ["/seldon/models/iris/api/v1.0/predictions"] * 2
