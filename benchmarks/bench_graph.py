#!/usr/bin/env python3
"""Graph benchmark: what the orchestrator adds on top of calling a component directly.

Runs, on loopback, one identity component alone and chains of 1, 3 and 5 identity nodes behind
the orchestrator (`wharf run`'s LocalGraph), with nodes called over REST and over gRPC. For each
it measures p50 latency with one connection and throughput with 32, using wrk against the REST
external API, and prints:

- per-hop overhead at p50 = (p50 of the chain - n x p50 of the direct call) / n
- marginal cost of one more node (slope of p50 from 1 to 5 nodes)
- 3-node throughput as a share of the direct component's
- CPU per request of each process of the 3-node chains under load (from /proc), against what
  all CPUs allow per request at 40 % of the direct call's rate

Every server is a real process started and stopped here, with the same number of worker
processes per component for the direct call and for every node (``--workers``: one, the server's
default, and/or 2; several counts are measured side by side, each figure's runs back to back), so
the direct call and the graph get the same per-node capacity. Run from the repo's venv:
``python benchmarks/bench_graph.py [--duration 5] [--runs 3] [--workers 1,2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

from wharf.local.process import free_port, start_server
from wharf.local.run import LocalGraph

sys.path.insert(0, str(Path(__file__).parent))
from bench_component import WRK_LUA, run_wrk  # noqa: E402 - the same wrk driver as the component benchmark

MODELS = Path(__file__).parent / "models"
BODY = {"data": {"ndarray": [[1.0, 2.0, 3.0]]}}


def chain_sdep(n: int, transport: str, workers: int = 1) -> str:
    """A SeldonDeployment whose graph is m0 -> m1 -> ... -> m{n-1}, all identity MODELs with
    ``workers`` worker processes each (GUNICORN_WORKERS in the container, as a user would set it)."""
    node: dict | None = None
    for i in reversed(range(n)):
        node = {"name": f"m{i}", "type": "MODEL", **({"children": [node]} if node else {})}
    env = [{"name": "MODEL_NAME", "value": "IdentityModel"}, {"name": "GUNICORN_WORKERS", "value": str(workers)}]
    containers = [{"name": f"m{i}", "env": env} for i in range(n)]
    return yaml.safe_dump(
        {
            "apiVersion": "machinelearning.seldon.io/v1",
            "kind": "SeldonDeployment",
            "metadata": {"name": f"chain{n}"},
            "spec": {
                "transport": transport,
                "predictors": [
                    {"name": "main", "componentSpecs": [{"spec": {"containers": containers}}], "graph": node}
                ],
            },
        }
    )


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and every live descendant (component workers), from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(times.get(p, 0.0) for p in tree)


def cpu_per_request(graph: LocalGraph, port: int, lua: Path, duration: float) -> dict:
    """One loaded wrk run; CPU microseconds per request for the orchestrator and for each node."""
    pids = graph.process_ids()
    before = {name: tree_cpu_s(pid) for name, pid in pids.items()}
    run = run_wrk(port, lua, duration, 32, 1)
    requests = run["rps"] * duration
    return {name: (tree_cpu_s(pid) - before[name]) / requests * 1e6 for name, pid in pids.items()}


def measure(port: int, lua: Path, duration: float, runs: int) -> dict:
    latency = [run_wrk(port, lua, duration, 1, 1)["p50_ms"] for _ in range(runs)]
    load = [run_wrk(port, lua, duration, 32, 1) for _ in range(runs)]
    return {
        "p50_ms": statistics.median(latency),
        "rps": statistics.median(r["rps"] for r in load),
        "errors": sum(r["errors"] for r in load),
    }


def run_counts(args: argparse.Namespace, tmpdir: Path, lua: Path) -> dict[int, dict]:
    """Every figure for every worker count; the counts run one after the other for each figure."""
    results: dict[int, dict] = {w: {} for w in args.workers}
    for w in args.workers:
        server = start_server(MODELS, "IdentityModel", workers=w, log_path=tmpdir / f"direct-{w}.log")
        try:
            results[w]["direct"] = figures = measure(server.http_port, lua, args.duration, args.runs)
        finally:
            server.stop()
        print(f"[{w}w] direct component           p50 {figures['p50_ms']:.3f} ms  {figures['rps']:8.0f} req/s")
    for transport in ("rest", "grpc"):
        for n in (1, 3, 5):
            for w in args.workers:
                path = tmpdir / f"chain{n}-{transport}-{w}.yaml"
                path.write_text(chain_sdep(n, transport, w))
                graph = LocalGraph(
                    path,
                    sources={f"m{i}": str(MODELS) for i in range(n)},
                    http_port=free_port(),
                    grpc_port=free_port(),
                    out=lambda _line: None,
                )
                with graph:
                    figures = measure(graph.http_port, lua, args.duration, args.runs)
                    if n == 3:
                        figures["cpu_us_per_request"] = cpu_per_request(graph, graph.http_port, lua, args.duration)
                results[w][f"{transport}-{n}"] = figures
                print(
                    f"[{w}w] chain of {n} over {transport:<4}       p50 {figures['p50_ms']:.3f} ms  "
                    f"{figures['rps']:8.0f} req/s  errors {figures['errors']}"
                )
    return results


def summarize(w: int, results: dict) -> None:
    direct = results["direct"]
    print(f"\n== {w} worker(s) per component ==")
    print("nodes over  per-hop overhead p50  marginal node p50  3-node req/s vs direct")
    for transport in ("rest", "grpc"):
        per_hop = [(results[f"{transport}-{n}"]["p50_ms"] - n * direct["p50_ms"]) / n for n in (1, 3, 5)]
        slope = (results[f"{transport}-5"]["p50_ms"] - results[f"{transport}-1"]["p50_ms"]) / 4
        share = results[f"{transport}-3"]["rps"] / direct["rps"]
        print(f"{transport:<10}  {' / '.join(f'{h:.3f}' for h in per_hop)} ms    {slope:.3f} ms         {share:.0%}")
        results[f"{transport}-summary"] = {"per_hop_ms": per_hop, "marginal_node_ms": slope, "three_node_share": share}
    print("CPU per request in a 3-node chain under load (us; nodes m0..m2, then the orchestrator):")
    for transport in ("rest", "grpc"):
        cpu = results[f"{transport}-3"]["cpu_us_per_request"]
        nodes = sum(v for k, v in cpu.items() if k != "orchestrator")
        budget = (os.cpu_count() or 1) * 1e6 / (0.4 * direct["rps"])
        print(
            f"{transport:<10}  "
            + "  ".join(f"{k} {v:.0f}" for k, v in cpu.items())
            + f"   nodes alone {nodes:.0f} us; all CPUs at 40 % of direct allow {budget:.0f} us per request"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (default 5)")
    p.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    p.add_argument("--workers", default="1", help="comma list of worker counts per component to compare (default 1)")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    try:
        args.workers = [int(w) for w in args.workers.split(",")]
        if any(w < 1 for w in args.workers):
            raise ValueError
    except ValueError:
        p.error(f"--workers: expected a comma list of whole numbers of at least 1, got {args.workers!r}")
    with tempfile.TemporaryDirectory(prefix="wharf-bench-graph-") as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "body.json").write_text(json.dumps(BODY))
        lua = tmpdir / "post.lua"
        lua.write_text(WRK_LUA % {"body": tmpdir / "body.json"})
        results = run_counts(args, tmpdir, lua)
    for w in args.workers:
        summarize(w, results[w])
    if args.json:
        Path(args.json).write_text(json.dumps(results if len(args.workers) > 1 else results[args.workers[0]], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
