"""``seldon-core-api-tester`` / ``wharf test --external`` against a real orchestrator (``wharf run``)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharf.contract import tester
from wharf.local.process import free_port
from wharf.local.run import LocalGraph
from wharf.testing.gateway import Gateway
from wharf.testing.graphs import single_node_sdep

GRAPH_MODELS = Path(__file__).parent / "graph_models"
CONTRACT = {
    "features": [{"name": "x", "ftype": "continuous", "dtype": "FLOAT", "range": [0, 1]}],
    "targets": [{"name": "y", "ftype": "continuous", "dtype": "FLOAT", "range": [0, 1]}],
}


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGraph]:
    tmp = tmp_path_factory.mktemp("api-tester")
    path = tmp / "sdep.yaml"
    single_node_sdep(path, "iris", "echo", "Echo", namespace="models")
    g = LocalGraph(
        path, sources={"echo": str(GRAPH_MODELS)}, http_port=free_port(), grpc_port=free_port(), out=lambda line: None
    ).start()
    yield g
    g.stop()


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("contract") / "contract.json"
    path.write_text(json.dumps(CONTRACT))
    return path


def api_tester(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = tester.main([str(a) for a in argv], prog="seldon-core-api-tester", out=out, err=err, external=True)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("transport", [[], ["--grpc"]], ids=["rest", "grpc"])
@pytest.mark.parametrize("endpoint", ["predict", "send-feedback"])
def test_direct_to_the_orchestrator(graph, contract, transport, endpoint) -> None:
    port = graph.grpc_port if transport else graph.http_port
    code, out, err = api_tester(
        contract, "127.0.0.1", port, "iris", "--gateway", "seldon", "--endpoint", endpoint, "-n", 3, "-b", 2, *transport
    )
    assert code == 0, err
    assert out.startswith("PASSED: 3 of 3 requests passed")
    assert ("Seldon.Predict" if transport else "/api/v1.0/predictions") in out


def test_wharf_test_external_is_the_same_tool(graph, contract) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = tester.main(
        ["--external", str(contract), "127.0.0.1", str(graph.http_port), "--gateway", "seldon"],
        prog="wharf test",
        out=out,
        err=err,
    )
    assert code == 0, err.getvalue()


def test_through_a_gateway_uses_upstream_paths(graph, contract) -> None:
    with Gateway("models", "iris", graph.url) as gw:
        code, out, err = api_tester(
            contract,
            "127.0.0.1",
            gw.port,
            "--deployment",
            "iris",
            "--namespace",
            "models",
            "--endpoint",
            "send-feedback",
        )
        assert code == 0, err
        assert gw.paths == ["/seldon/models/iris/api/v1.0/predictions", "/seldon/models/iris/api/v1.0/feedback"]

        code, out, err = api_tester(contract, "127.0.0.1", gw.port, "other", "--namespace", "models")
        assert code == 1
        assert f"HTTP status 404 from http://127.0.0.1:{gw.port}/seldon/models/other/api/v1.0/predictions" in err


def test_gateway_paths_match_upstream_client() -> None:
    assert tester.gateway_prefix("ambassador", "mymodel", None) == "/seldon/mymodel/"
    assert tester.gateway_prefix("istio", "iris", "prod") == "/seldon/prod/iris/"
    assert tester.gateway_prefix("seldon", "iris", "prod") == "/"


def test_unit_only_endpoints_are_refused_for_the_external_api(contract, capsys) -> None:
    code, _, _ = api_tester(contract, "127.0.0.1", 1, "--endpoint", "transform-input")
    assert code == 2 and "invalid choice: 'transform-input'" in capsys.readouterr().err  # argparse's own stream
