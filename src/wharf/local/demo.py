"""``make demo``: run the example graph locally (transformer -> bandit router -> two iris models),
send it flowers over REST and gRPC, send feedback, and print answers and routes."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
GRAPH = EXAMPLES / "graphs" / "ab-router.yaml"
# Measurements in millimetres (the graph's transformer converts them), with the true species.
FLOWERS = [
    ([51, 35, 14, 2], "setosa"),
    ([67, 30, 52, 23], "virginica"),
    ([59, 30, 42, 15], "versicolor"),
    ([50, 34, 15, 2], "setosa"),
    ([63, 33, 60, 25], "virginica"),
    ([57, 28, 41, 13], "versicolor"),
]


def _post(url: str, message: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(message).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def run(graph: Path = GRAPH, out: Callable[[str], None] = print, node_logs: bool = False) -> dict:
    """Start the graph, ask and give feedback, stop it; return what was seen."""
    import grpc

    from wharf.local.process import free_port
    from wharf.local.run import LocalGraph
    from wharf.protocol.pb import prediction_pb2 as pb
    from wharf.protocol.pb import prediction_pb2_grpc as pb_grpc

    local = LocalGraph(graph, http_port=free_port(), grpc_port=free_port(), out=out if node_logs else (lambda _l: None))
    out(f"starting {graph.name}: " + ", ".join(f"{p.name} ({p.model_class})" for p in local.plans) + " + orchestrator")
    seen: dict = {"answers": [], "routes": [], "feedback": []}
    with local:
        out(f"graph ready on {local.url} (gRPC :{local.grpc_port})\n")
        for features, truth in FLOWERS:
            answer = _post(f"{local.url}/api/v1.0/predictions", {"data": {"ndarray": [features]}})
            names, row = answer["data"]["names"], answer["data"]["ndarray"][0]
            species = names[row.index(max(row))]
            route = answer["meta"]["routing"]["router"]
            out(
                f"{features} mm -> {species:<10} p={max(row):.3f}  via iris-{'ab'[route]}  "
                f"puid={answer['meta']['puid'][:8]}"
            )
            reward = 1.0 if species == truth else 0.0
            feedback = _post(
                f"{local.url}/api/v1.0/feedback",
                {"request": {"data": {"ndarray": [features]}}, "response": answer, "reward": reward},
            )
            seen["answers"].append(answer)
            seen["routes"].append(route)
            seen["feedback"].append(feedback)
        request = pb.SeldonMessage()
        request.data.ndarray.extend([[70, 32, 47, 14]])
        with grpc.insecure_channel(f"127.0.0.1:{local.grpc_port}") as channel:
            reply = pb_grpc.SeldonStub(channel).Predict(request, timeout=10)
        values = list(reply.data.ndarray.values[0].list_value.values)
        probs = [v.number_value for v in values]
        out(
            f"\ngRPC Seldon/Predict [70, 32, 47, 14] mm -> {list(reply.data.names)[probs.index(max(probs))]} "
            f"(routing {dict(reply.meta.routing)})"
        )
        seen["grpc"] = reply
    out("graph stopped")
    return seen


if __name__ == "__main__":  # pragma: no cover
    run()
