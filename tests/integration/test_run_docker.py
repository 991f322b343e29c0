"""``wharf run --docker``: the example graph with every node in a container built from its folder."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from wharf.deployment.graph import GraphError
from wharf.local.process import free_port
from wharf.local.run import LocalGraph

pytestmark = pytest.mark.docker

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
AB_GRAPH = EXAMPLES / "graphs" / "ab-router.yaml"


def wharf_run_containers(engine) -> list:
    from wharf.local.containers import RUN_LABEL

    return engine.containers.list(all=True, filters={"label": RUN_LABEL})


def test_ab_graph_runs_from_images(engine, example_images) -> None:
    lines: list[str] = []
    graph = LocalGraph(AB_GRAPH, docker=True, http_port=free_port(), grpc_port=free_port(), out=lines.append)
    graph.start(timeout=120)
    try:
        running = wharf_run_containers(engine)
        # named wharf-run-<pid>-<node>
        assert {c.name.split("-", 3)[3] for c in running} == {"scaler", "router", "iris-a", "iris-b"}
        assert all(c.attrs["Config"]["User"] == "1001" for c in running)  # the builder's non-root user
        req = urllib.request.Request(
            f"{graph.url}/api/v1.0/predictions",
            data=json.dumps({"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            answer = json.loads(resp.read())
        assert len(answer["data"]["ndarray"][0]) == 3  # iris class probabilities
        assert set(answer["meta"]["routing"]) == {"scaler", "router"}
        assert answer["meta"]["routing"]["router"] in (0, 1)
        # each node logged through the runtime with its name as prefix
        assert any(line.startswith("[router") for line in lines)
    finally:
        codes = graph.stop()
    assert all(code == 0 for code in codes.values()), codes  # every node drained on SIGTERM
    assert wharf_run_containers(engine) == []  # stopped containers are removed


def test_missing_image_is_named_and_nothing_is_left_running(engine, tmp_path) -> None:
    from wharf.local.containers import ContainerError

    path = tmp_path / "sdep.yaml"
    path.write_text(AB_GRAPH.read_text().replace("wharf-examples/epsilon-router:0.1", "wharf-examples/no-such:9.9"))
    graph = LocalGraph(path, docker=True, http_port=free_port(), grpc_port=free_port(), out=lambda line: None)
    with pytest.raises(ContainerError, match=r"router: image 'wharf-examples/no-such:9\.9' is not in the local engine"):
        graph.start(timeout=120)
    assert wharf_run_containers(engine) == []


def test_a_node_without_an_image_is_refused_before_anything_starts(tmp_path) -> None:
    path = tmp_path / "sdep.yaml"
    path.write_text(AB_GRAPH.read_text().replace("image: wharf-examples/scaler:0.1", "env: []"))
    with pytest.raises(GraphError, match="scaler.*--docker needs an image"):
        LocalGraph(path, docker=True)
