"""``make demo``: serve the example iris model locally, ask it over REST and gRPC, print the answers."""

from __future__ import annotations

import json
import tempfile
import urllib.request
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "models" / "iris"
SAMPLE = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def _post(url: str, message: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(message).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def run(example: Path = EXAMPLE, out=print) -> dict:
    """Start the example, send one REST and one gRPC request, stop it; return both answers."""
    import grpc

    from wharf.local.process import start_server
    from wharf.protocol.pb import prediction_pb2 as pb
    from wharf.protocol.pb import prediction_pb2_grpc as pb_grpc

    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(example, "IrisClassifier", log_path=Path(tmp, "server.log"))
        try:
            out(f"serving {example.name} (IrisClassifier) on {server.url} and gRPC :{server.grpc_port}")
            request = {"data": {"names": ["sepal_length", "sepal_width", "petal_length", "petal_width"], "ndarray": SAMPLE}}
            out(f"REST  POST /api/v1.0/predictions {json.dumps(request)}")
            rest = _post(f"{server.url}/api/v1.0/predictions", request)
            out(f"  ->  {json.dumps(rest)}")
            message = pb.SeldonMessage()
            message.data.tensor.shape.extend([len(SAMPLE), 4])
            message.data.tensor.values.extend(v for row in SAMPLE for v in row)
            with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
                reply = pb_grpc.ModelStub(channel).Predict(message, timeout=10)
            out(f"gRPC  seldon.protos.Model/Predict tensor shape={list(message.data.tensor.shape)}")
            out(f"  ->  names={list(reply.data.names)} values={[round(v, 4) for v in reply.data.tensor.values]}")
            winners = [rest["data"]["names"][row.index(max(row))] for row in rest["data"]["ndarray"]]
            out(f"predicted species: {', '.join(winners)}")
            return {"rest": rest, "grpc": reply, "species": winners}
        finally:
            code = server.stop()
            out(f"server stopped (exit code {code})")


if __name__ == "__main__":  # pragma: no cover
    run()
