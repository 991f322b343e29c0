#!/usr/bin/env python3
"""The orchestrator's per-hop overhead in protocol v2 against protocol seldon, on the same nodes.

Three of Wharf's component servers run the identity model (benchmarks/models/IdentityModel.py);
each serves the Seldon API and V2 on the same port (its default), as node ``m<i>``. For each protocol
the orchestrator runs chains m0 and m0 -> m1 -> m2 over REST, and wrk (one connection, loopback)
measures p50 latency of the chain and of one component called directly in that protocol:

    per-hop overhead = (p50 of the chain of n - n x p50 of the direct call) / n

and, less sensitive to whatever else the machine runs, the orchestrator's own CPU time per request
under load (8 connections; from /proc), divided by the number of nodes: its CPU per hop.

The V2 chain is called at ``/v2/models/infer`` (each node by its own name; answers chained outputs ->
inputs), the Seldon chain at ``/api/v1.0/predictions``. Medians of ``--runs``; the ratio v2/seldon is
printed. Run from the repo's venv: ``python benchmarks/bench_orchestrator_protocols.py [--duration 3] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from wharf.local.process import free_port, serving, start_server

sys.path.insert(0, str(Path(__file__).parent))
from bench_component import WRK_LUA  # noqa: E402 - the same wrk script as the other benchmarks
from bench_graph import tree_cpu_s  # noqa: E402

MODELS = Path(__file__).parent / "models"
BODIES = {
    "seldon": {"data": {"ndarray": [[1.0, 2.0, 3.0]]}},
    "v2": {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 2.0, 3.0]}]},
}
CHAIN_PATHS = {"seldon": "/api/v1.0/predictions", "v2": "/v2/models/infer"}
DIRECT_PATHS = {"seldon": "/api/v1.0/predictions", "v2": "/v2/models/m0/infer"}


def wrk_p50(port: int, path: str, lua: Path, duration: float, connections: int = 1) -> float:
    """p50 in ms of one wrk run against 127.0.0.1:port/path (one connection unless told)."""
    return wrk(port, path, lua, duration, connections)["p50_us"] / 1000.0


def wrk(port: int, path: str, lua: Path, duration: float, connections: int) -> dict:
    cmd = [
        "wrk",
        "--latency",
        "-t",
        "1",
        "-c",
        str(connections),
        "-d",
        f"{round(duration)}s",
        "--timeout",
        "10s",
        "-s",
        str(lua),
        f"http://127.0.0.1:{port}{path}",
    ]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=duration + 60)
    for line in out.stdout.splitlines():
        if line.startswith("WHARF_RESULT "):
            result = json.loads(line[len("WHARF_RESULT ") :])
            if result["errors"]:
                raise RuntimeError(f"{path}: {result['errors']} errors")
            return result
    raise RuntimeError(f"wrk gave no result (rc={out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")


def chain_sdep(n: int, protocol: str, ports: list[tuple[int, int]]) -> str:
    node: dict | None = None
    for i in reversed(range(n)):
        http, grpc = ports[i]
        node = {
            "name": f"m{i}",
            "type": "MODEL",
            **({"children": [node]} if node else {}),
            "endpoint": {"service_host": "127.0.0.1", "httpPort": http, "grpcPort": grpc},
        }
    return yaml.safe_dump(
        {
            "apiVersion": "machinelearning.seldon.io/v1",
            "kind": "SeldonDeployment",
            "metadata": {"name": f"chain{n}"},
            "spec": {"protocol": protocol, "predictors": [{"name": "main", "graph": node}]},
        }
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=3.0, help="seconds per wrk run (default 3)")
    p.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="wharf-bench-protocols-") as tmp:
        tmpdir = Path(tmp)
        lua = {}
        for protocol, body in BODIES.items():
            (tmpdir / f"{protocol}.json").write_text(json.dumps(body))
            lua[protocol] = tmpdir / f"{protocol}.lua"
            lua[protocol].write_text(WRK_LUA % {"body": tmpdir / f"{protocol}.json"})
        servers = [
            start_server(MODELS, "IdentityModel", env={"MLSERVER_MODEL_NAME": f"m{i}"}, log_path=tmpdir / f"m{i}.log")
            for i in range(3)
        ]
        try:
            ports = [(s.http_port, s.grpc_port) for s in servers]
            for protocol in BODIES:
                figures = results[protocol] = {}
                figures["direct"] = statistics.median(
                    wrk_p50(ports[0][0], DIRECT_PATHS[protocol], lua[protocol], args.duration) for _ in range(args.runs)
                )
                for n in (1, 3):
                    sdep = tmpdir / f"{protocol}-{n}.yaml"
                    sdep.write_text(chain_sdep(n, protocol, ports))
                    http = free_port()
                    cmd = [
                        sys.executable,
                        "-m",
                        "wharf.cli",
                        "orchestrator",
                        "--file",
                        str(sdep),
                        "--protocol",
                        protocol,
                        "--host",
                        "127.0.0.1",
                        "--http-port",
                        str(http),
                        "--grpc-port",
                        str(free_port()),
                    ]
                    with serving(
                        cmd, tmpdir / f"orch-{protocol}-{n}.log", f"http://127.0.0.1:{http}/ready", "orchestrator"
                    ) as orch:
                        figures[f"chain{n}"] = statistics.median(
                            wrk_p50(http, CHAIN_PATHS[protocol], lua[protocol], args.duration) for _ in range(args.runs)
                        )
                        cpu = []
                        for _ in range(args.runs):
                            before = tree_cpu_s(orch.pid)
                            done = wrk(http, CHAIN_PATHS[protocol], lua[protocol], args.duration, 8)["requests"]
                            cpu.append((tree_cpu_s(orch.pid) - before) / done * 1e6 / n)
                        figures[f"cpu_us_per_hop{n}"] = statistics.median(cpu)
                    figures[f"per_hop{n}"] = (figures[f"chain{n}"] - n * figures["direct"]) / n
                print(
                    f"{protocol:<7} direct p50 {figures['direct']:.3f} ms   chain of 1 {figures['chain1']:.3f} ms   "
                    f"chain of 3 {figures['chain3']:.3f} ms   per-hop overhead {figures['per_hop1']:.3f} / "
                    f"{figures['per_hop3']:.3f} ms (1 / 3 nodes)   orchestrator CPU per hop "
                    f"{figures['cpu_us_per_hop1']:.0f} / {figures['cpu_us_per_hop3']:.0f} us",
                    flush=True,
                )
        finally:
            for server in servers:
                server.stop()
    for n in (1, 3):
        ratio = results["v2"][f"per_hop{n}"] / results["seldon"][f"per_hop{n}"]
        cpu_ratio = results["v2"][f"cpu_us_per_hop{n}"] / results["seldon"][f"cpu_us_per_hop{n}"]
        results[f"ratio_per_hop{n}"], results[f"ratio_cpu_per_hop{n}"] = ratio, cpu_ratio
        print(f"v2 / seldon, chain of {n}: per-hop overhead p50 {ratio:.2f}, orchestrator CPU per hop {cpu_ratio:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
