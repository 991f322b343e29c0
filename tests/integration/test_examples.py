"""Every example is run: the demo, and the iris model against its own contract.json."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from wharf.local.demo import run as run_demo
from wharf.local.process import start_server
from wharf.testing import tester

IRIS = Path(__file__).resolve().parents[2] / "examples" / "models" / "iris"


def test_demo_answers_over_rest_and_grpc() -> None:
    lines: list[str] = []
    result = run_demo(IRIS, out=lines.append)
    # A setosa-like and a virginica-like flower: a real model gives these two species.
    assert result["species"] == ["setosa", "virginica"]
    assert result["rest"]["data"]["names"] == ["setosa", "versicolor", "virginica"]
    assert result["rest"]["meta"]["tags"] == {"model": "iris-nearest-centroid"}
    probabilities = list(result["grpc"].data.tensor.values)
    assert len(probabilities) == 6 and abs(sum(probabilities[:3]) - 1) < 1e-9
    assert lines[-1] == "server stopped (exit code 0)"


@pytest.fixture(scope="module")
def iris_server(tmp_path_factory: pytest.TempPathFactory):
    server = start_server(IRIS, "IrisClassifier", log_path=tmp_path_factory.mktemp("iris") / "server.log")
    yield server
    assert server.stop() == 0, server.log()


@pytest.mark.parametrize("flags", [[], ["--tensor"], ["--grpc"], ["--grpc", "--tensor"]],
                         ids=["rest-ndarray", "rest-tensor", "grpc-ndarray", "grpc-tensor"])
def test_iris_passes_its_contract(iris_server, flags: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    port = iris_server.grpc_port if "--grpc" in flags else iris_server.http_port
    code = tester.main([str(IRIS / "contract.json"), "127.0.0.1", str(port), "-n", "5", "-b", "4", *flags],
                       out=out, err=err)
    assert code == 0, err.getvalue()
    assert "PASSED: 5 of 5" in out.getvalue()


def test_contract_tester_fails_on_a_wrong_contract(iris_server, tmp_path: Path) -> None:
    contract = (IRIS / "contract.json").read_text().replace('"repeat": 3', '"repeat": 2')
    (tmp_path / "contract.json").write_text(contract)
    out, err = io.StringIO(), io.StringIO()
    code = tester.main([str(tmp_path / "contract.json"), "127.0.0.1", str(iris_server.http_port)], out=out, err=err)
    assert code == 1
    assert "expected 2 columns" in err.getvalue()
