"""Every example is run: the demo, and the iris model against its own contract.json."""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path

import pytest

from wharf.contract import tester
from wharf.local.demo import FLOWERS
from wharf.local.demo import run as run_demo
from wharf.local.process import free_port, start_server
from wharf.local.run import LocalGraph

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
IRIS = EXAMPLES / "models" / "iris"


def test_demo_runs_the_example_graph() -> None:
    lines: list[str] = []
    seen = run_demo(out=lines.append)
    truth = [species for _, species in FLOWERS]
    predicted = []
    for answer in seen["answers"]:
        names, row = answer["data"]["names"], answer["data"]["ndarray"][0]
        predicted.append(names[row.index(max(row))])
        assert set(answer["meta"]["routing"]) == {"scaler", "router"}  # the walk is reported
        assert answer["meta"]["tags"]["units"] == "cm"  # the transformer ran first
    assert predicted == truth  # the models are right once the transformer has converted units
    assert set(seen["routes"]) <= {0, 1}
    assert all(f == {"data": {"names": [], "ndarray": []}, "meta": {}} or "meta" in f for f in seen["feedback"])
    assert list(seen["grpc"].data.names) == ["setosa", "versicolor", "virginica"]
    assert lines[-1] == "graph stopped"


@pytest.mark.parametrize("graph", ["ab-router.yaml", "ensemble.yaml"])
def test_example_graphs_answer(graph: str) -> None:
    local = LocalGraph(
        EXAMPLES / "graphs" / graph, http_port=free_port(), grpc_port=free_port(), out=lambda _line: None
    )
    with local:
        req = urllib.request.Request(
            f"{local.url}/api/v1.0/predictions",
            data=b'{"data":{"ndarray":[[6.3,3.3,6.0,2.5]]}}',
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer = json.loads(resp.read())
    row = answer["data"]["ndarray"][0]
    assert abs(sum(row) - 1) < 1e-9 and answer["data"]["names"] == ["setosa", "versicolor", "virginica"]
    if graph == "ensemble.yaml":  # a large virginica flower: both models and their mean agree
        assert row.index(max(row)) == 2 and answer["meta"]["routing"] == {"combiner": -1}


@pytest.fixture(scope="module")
def iris_server(tmp_path_factory: pytest.TempPathFactory):
    server = start_server(IRIS, "IrisClassifier", log_path=tmp_path_factory.mktemp("iris") / "server.log")
    yield server
    assert server.stop() == 0, server.log()


@pytest.mark.parametrize(
    "flags",
    [[], ["--tensor"], ["--grpc"], ["--grpc", "--tensor"]],
    ids=["rest-ndarray", "rest-tensor", "grpc-ndarray", "grpc-tensor"],
)
def test_iris_passes_its_contract(iris_server, flags: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    port = iris_server.grpc_port if "--grpc" in flags else iris_server.http_port
    code = tester.main(
        [str(IRIS / "contract.json"), "127.0.0.1", str(port), "-n", "5", "-b", "4", *flags], out=out, err=err
    )
    assert code == 0, err.getvalue()
    assert "PASSED: 5 of 5" in out.getvalue()


def test_contract_tester_fails_on_a_wrong_contract(iris_server, tmp_path: Path) -> None:
    contract = (IRIS / "contract.json").read_text().replace('"repeat": 3', '"repeat": 2')
    (tmp_path / "contract.json").write_text(contract)
    out, err = io.StringIO(), io.StringIO()
    code = tester.main([str(tmp_path / "contract.json"), "127.0.0.1", str(iris_server.http_port)], out=out, err=err)
    assert code == 1
    assert "expected 2 columns" in err.getvalue()
