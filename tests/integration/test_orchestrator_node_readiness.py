"""The orchestrator's /ready follows its nodes' own readiness: a model that can no longer answer
takes the graph (and so the pod, whose readiness probe is the orchestrator's) out of service, and
comes back when it answers again. Real processes: `wharf run` of a one-node graph."""

from __future__ import annotations

import json
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from wharf.local.process import free_port
from wharf.local.run import LocalGraph

MODELS = Path(__file__).parent / "models"  # FlakyModel fails as each request asks


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _predict(url: str, data: dict) -> int:
    request = urllib.request.Request(
        f"{url}/api/v1.0/predictions", json.dumps({"jsonData": data}).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def graph(tmp_path: Path):
    path = tmp_path / "flaky.yaml"
    path.write_text(
        textwrap.dedent("""\
        apiVersion: machinelearning.seldon.io/v1
        kind: SeldonDeployment
        metadata: {name: flaky}
        spec:
          predictors:
          - name: main
            componentSpecs:
            - spec:
                containers:
                - name: flaky
                  env: [{name: MODEL_NAME, value: FlakyModel}]
            graph: {name: flaky, type: MODEL}
        """)
    )
    running = LocalGraph(
        path, sources={"flaky": str(MODELS)}, http_port=free_port(), grpc_port=free_port(), out=lambda line: None
    ).start()
    try:
        yield running
    finally:
        running.stop()


def test_a_node_that_can_no_longer_answer_makes_the_graph_not_ready_until_it_answers_again(graph) -> None:
    assert _get(f"{graph.url}/ready")[0] == 200
    for _ in range(2):  # user errors (4xx) never count
        assert _predict(graph.url, {"refuse": True}) == 400
    assert _get(f"{graph.url}/ready")[0] == 200
    for _ in range(5):  # five unexpected failures in a row: the node says it cannot answer
        assert _predict(graph.url, {"fail": True}) == 500
    status, body = _get(f"{graph.url}/ready")
    assert status == 503, body
    assert "flaky" in body and "the feature store is gone" in body
    assert _get(f"{graph.url}/live")[0] == 200  # alive: not restarted, only out of the Service
    assert _predict(graph.url, {}) == 200  # traffic that still arrives is served
    deadline = time.monotonic() + 10
    while _get(f"{graph.url}/ready")[0] != 200:
        assert time.monotonic() < deadline, "the graph stayed not ready after the node answered again"
        time.sleep(0.2)
