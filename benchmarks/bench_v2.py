#!/usr/bin/env python3
"""V2 (Open Inference Protocol) benchmark: Wharf's component server against MLServer 1.7.1, side by side.

Both serve the same identity model (every input decoded to numpy and answered back):

- ``wharf``: ``seldon-core-microservice IdentityModel --model-name identity`` from this venv, default
  flags (one worker, Seldon and V2 both on), answering V2 from the Seldon-style class
  ``benchmarks/models/IdentityModel.py``;
- ``mlserver``: ``mlserver start benchmarks/models/mlserver-identity`` from MLServer's own venv
  (``wharf.testing.mlserver``, made on demand), with its best settings for this: ``parallel_workers``
  0 (inference in the server process, no worker round trip), uvloop (MLServer installs it) and
  httptools (in that venv, so its uvicorn parses HTTP with it), access log off (``debug: false``).

Load: ``wrk`` POSTing the V2 JSON request to ``/v2/models/identity/infer`` (REST), ``ghz`` calling
``inference.GRPCInferenceService/ModelInfer`` with typed contents (gRPC; built with ``go install`` on
first use, as ``bench_component.py`` does). Payloads: ``small`` (FP64 [1, 3], the component
benchmark's ``[[1.0, 2.0, 3.0]]``) and ``100x100`` (FP64 [100, 100]). Runs are interleaved and the
median is reported. Only 127.0.0.1 is a target; every run is bounded in time; every server runs in
its own process group, killed by its id at the end.

Usage::

    python benchmarks/bench_v2.py                # 3 runs of 10 s per case (~6 min)
    python benchmarks/bench_v2.py --quick        # 1 run of 3 s
    python benchmarks/bench_v2.py --json out.json
    python benchmarks/bench_v2.py --pin          # servers on CPU 0, wrk/ghz on CPU 1
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import bench_component as bc  # Server, process groups, ghz
from bench_graph import tree_cpu_s

from wharf.local.process import free_port

HERE = Path(__file__).resolve().parent
MLSERVER_FOLDER = HERE / "models" / "mlserver-identity"
V2_PROTO_DIR = bc.PROTO_DIR
V2_PROTO = V2_PROTO_DIR / "inference" / "grpc_service.proto"
MODEL = "identity"
INFER_PATH = f"/v2/models/{MODEL}/infer"
GRPC_METHOD = "inference.GRPCInferenceService/ModelInfer"
GOAL = 5.0  # issue 20: Wharf's V2 at least 5x MLServer's best on the small payload


def make_payloads() -> dict[str, dict]:
    rng = random.Random(20240601)
    large = [round(rng.uniform(-1000.0, 1000.0), 6) for _ in range(100 * 100)]
    return {
        "small": {"inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 2.0, 3.0]}]},
        "100x100": {"inputs": [{"name": "input-0", "shape": [100, 100], "datatype": "FP64", "data": large}]},
    }


def grpc_request(payload: dict) -> bytes:
    from wharf.protocol.pb import inference_pb2 as pb

    msg = pb.ModelInferRequest(model_name=MODEL)
    for inp in payload["inputs"]:
        t = msg.inputs.add(name=inp["name"], datatype=inp["datatype"], shape=inp["shape"])
        t.contents.fp64_contents.extend(inp["data"])
    return msg.SerializeToString()


def wharf_server(logdir: Path) -> bc.Server:
    http, grpc_, metrics = free_port(), free_port(), free_port()
    cmd = [
        str(Path(sys.executable).parent / "seldon-core-microservice"),
        "IdentityModel",
        "--model-name",
        MODEL,
        "--host",
        bc.LOOPBACK,
        "--http-port",
        str(http),
        "--grpc-port",
        str(grpc_),
        "--metrics-port",
        str(metrics),
    ]
    return bc.Server(
        "wharf",
        "Wharf component server, default flags (1 worker)",
        cmd,
        bc.MODELS_DIR,
        bc.base_env(),
        http,
        grpc_,
        logdir,
    )


def mlserver_server(logdir: Path) -> bc.Server:
    sys.path.insert(0, str(bc.REPO / "src"))
    from wharf.testing.mlserver import mlserver_venv

    bindir = mlserver_venv()
    http, grpc_, metrics = free_port(), free_port(), free_port()
    env = dict(
        bc.base_env(), MLSERVER_HTTP_PORT=str(http), MLSERVER_GRPC_PORT=str(grpc_), MLSERVER_METRICS_PORT=str(metrics)
    )
    return bc.Server(
        "mlserver",
        "MLServer 1.7.1, parallel_workers=0, uvloop + httptools",
        [str(bindir / "mlserver"), "start", str(MLSERVER_FOLDER)],
        logdir,
        env,
        http,
        grpc_,
        logdir,
    )  # its files go to logdir


def wait_model_ready(srv: bc.Server, timeout: float = 120.0) -> None:
    url = f"http://{bc.LOOPBACK}:{srv.http_port}/v2/models/{MODEL}/ready"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            raise RuntimeError(f"{srv.name} exited with code {srv.proc.returncode}:\n{srv.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{srv.name}: {url} not 200 after {timeout:.0f}s:\n{srv.log_tail()}")


def check(srv: bc.Server, payload: dict, request: bytes) -> None:
    """A server that answers wrongly must not be benchmarked: the data must come back, both ways."""
    import grpc

    from wharf.protocol.pb import inference_pb2 as pb

    req = urllib.request.Request(
        f"http://{bc.LOOPBACK}:{srv.http_port}{INFER_PATH}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        out = json.loads(r.read())
    want = payload["inputs"][0]
    got = out["outputs"][0]
    if got["shape"] != want["shape"] or got["data"] != want["data"] or got["datatype"] != want["datatype"]:
        raise RuntimeError(f"{srv.name}: unexpected REST answer {str(out)[:300]}")
    with grpc.insecure_channel(f"{bc.LOOPBACK}:{srv.grpc_port}") as ch:
        raw = ch.unary_unary("/" + GRPC_METHOD)(request, timeout=30)
    answer = pb.ModelInferResponse.FromString(raw)
    values = list(answer.outputs[0].contents.fp64_contents)
    if not values and answer.raw_output_contents:
        import numpy as np

        values = np.frombuffer(answer.raw_output_contents[0], "<f8").tolist()
    if values != want["data"]:
        raise RuntimeError(f"{srv.name}: unexpected gRPC answer {str(answer)[:300]}")


def run_wrk(port: int, lua: Path, duration: float, connections: int, threads: int, prefix: list[str]) -> dict:
    return bc.run_wrk(port, lua, duration, connections, threads, path=INFER_PATH, prefix=prefix)


def run_ghz(
    ghz: str, port: int, bin_file: Path, duration: float, concurrency: int, conns: int, prefix: list[str]
) -> dict:
    cmd = [
        *prefix,
        ghz,
        "--insecure",
        "--proto",
        str(V2_PROTO),
        "-i",
        str(V2_PROTO_DIR),
        "--call",
        GRPC_METHOD,
        "-c",
        str(concurrency),
        "--connections",
        str(min(conns, concurrency)),
        "-z",
        f"{round(duration)}s",
        "--timeout",
        "10s",
        "-O",
        "json",
        "--binary",
        "-B",
        str(bin_file),
        f"{bc.LOOPBACK}:{port}",
    ]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=duration + 60)
    try:
        r = json.loads(out.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"ghz gave no JSON (rc={out.returncode}): {out.stdout[-300:]} {out.stderr[-500:]}") from exc
    ok, errors = [], 0
    for d in r.get("details") or []:
        if d.get("status") == "OK":
            ok.append(d["latency"])
        elif "closed network connection" not in d.get("error", "") and "connection is closing" not in d.get(
            "error", ""
        ):
            errors += 1  # calls cut when ghz stops at the end of -z are not the server's errors
    if not ok:
        raise RuntimeError(f"ghz: no successful call: {json.dumps(r.get('errorDistribution'))[:500]}")
    ok.sort()
    total_s = r.get("total", 0) / 1e9 or duration
    return {
        "rps": len(ok) / total_s,
        "p50_ms": bc._pct(ok, 0.50) / 1e6,
        "p99_ms": bc._pct(ok, 0.99) / 1e6,
        "errors": errors,
        "requests": len(ok),
    }


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    p.add_argument("--runs", type=int, default=3, help="runs per case; the median is reported (default 3)")
    p.add_argument("--warmup", type=float, default=2.0, help="unrecorded warm-up seconds before each measurement")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections / calls in flight (default 32)")
    p.add_argument("--grpc-connections", type=int, default=8, help="HTTP/2 connections ghz spreads calls over")
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1: the CPUs are the servers')")
    p.add_argument("--transports", default="rest,grpc", help="comma list of rest,grpc")
    p.add_argument("--payloads", default="small,100x100", help="comma list of small,100x100")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s, 1 run, 1 s warm-up")
    p.add_argument(
        "--pin",
        action="store_true",
        help="servers on CPU 0, load generators on CPU 1 (taskset): each side has one CPU of its own",
    )
    p.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    a = p.parse_args(argv)
    if a.quick:
        a.duration, a.runs, a.warmup = 3.0, 1, 1.0
    return a


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    a = parse_args(argv)
    transports = [t for t in a.transports.split(",") if t]
    payloads = {k: v for k, v in make_payloads().items() if k in a.payloads.split(",")}
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM unwinds like Ctrl-C: the servers are stopped
    ghz = bc.find_ghz(build=True) if "grpc" in transports else None
    if "grpc" in transports and ghz is None:
        print(
            "error: ghz is needed for the gRPC figures (go install failed); run with --transports rest", file=sys.stderr
        )
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="wharf-bench-v2-"))
    lua, grpc_bin = {}, {}
    for name, payload in payloads.items():
        body = tmp / f"{name}.json"
        body.write_text(json.dumps(payload))
        lua[name] = tmp / f"{name}.lua"
        lua[name].write_text(bc.WRK_LUA % {"body": body})
        grpc_bin[name] = tmp / f"{name}.bin"
        grpc_bin[name].write_bytes(grpc_request(payload))
    servers = [wharf_server(tmp), mlserver_server(tmp)]
    load_prefix = ["taskset", "-c", "1"] if a.pin else []
    if a.pin:
        for srv in servers:
            srv.cmd = ["taskset", "-c", "0", *srv.cmd]
    runs: dict[tuple[str, str, str], list[dict]] = {}
    try:
        for run in range(a.runs):
            print(
                f"\n== run {run + 1}/{a.runs} ({a.duration:.0f} s per case, {a.connections} in flight) ==", flush=True
            )
            for srv in servers:  # one server at a time: the two CPUs are its alone
                srv.start()
                wait_model_ready(srv)
                for name, payload in payloads.items():
                    check(srv, payload, grpc_bin[name].read_bytes())
                for transport in transports:
                    for name in payloads:
                        # called only within this iteration, so the loop variables it reads are current
                        def measure(duration: float, transport=transport, name=name, srv=srv) -> dict:
                            if transport == "rest":
                                return run_wrk(
                                    srv.http_port, lua[name], duration, a.connections, a.wrk_threads, load_prefix
                                )
                            return run_ghz(
                                ghz,
                                srv.grpc_port,
                                grpc_bin[name],
                                duration,
                                a.connections,
                                a.grpc_connections,
                                load_prefix,
                            )

                        measure(a.warmup)
                        cpu = tree_cpu_s(srv.proc.pid)
                        r = measure(a.duration)
                        # the server's own CPU per answer: what a busy machine's noise hides least
                        r["cpu_us"] = (tree_cpu_s(srv.proc.pid) - cpu) / max(1, r["requests"]) * 1e6
                        runs.setdefault((srv.name, transport, name), []).append(r)
                        print(
                            f"  {srv.name:9} {transport:5} {name:8} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:7.2f} ms"
                            f"  p99 {r['p99_ms']:7.2f} ms  CPU {r['cpu_us']:6.0f} us/req  errors {r['errors']}",
                            flush=True,
                        )
                srv.stop()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        bc.stop_all()
    medians = {
        key: {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms", "cpu_us")}
        | {"errors": sum(r["errors"] for r in rs), "runs": len(rs)}
        for key, rs in runs.items()
    }
    print("\n== medians ==")
    print(f"{'server':9} {'api':5} {'payload':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>10} errors")
    for (server, transport, name), m in sorted(medians.items()):
        print(
            f"{server:9} {transport:5} {name:8} {m['rps']:9.0f} {m['p50_ms']:8.2f} {m['p99_ms']:8.2f} "
            f"{m['cpu_us']:10.0f} {m['errors']}"
        )
    print("\n== Wharf / MLServer (req/s; and MLServer's CPU per request / Wharf's) ==")
    ratios = []
    for transport in transports:
        for name in payloads:
            w, m = medians.get(("wharf", transport, name)), medians.get(("mlserver", transport, name))
            if w and m:
                ratio, cpu_ratio = w["rps"] / m["rps"], m["cpu_us"] / w["cpu_us"]
                ratios.append({"transport": transport, "payload": name, "ratio": ratio, "cpu_ratio": cpu_ratio})
                goal = f"   (goal >= {GOAL:.0f}x: {'met' if ratio >= GOAL else 'NOT met'})" if name == "small" else ""
                print(f"{transport:5} {name:8} {ratio:5.1f}x   CPU {cpu_ratio:5.1f}x{goal}")
    if a.json:
        Path(a.json).write_text(
            json.dumps(
                {
                    "servers": {s.name: s.config for s in servers},
                    "duration_s": a.duration,
                    "runs": a.runs,
                    "pinned": a.pin,
                    "connections": a.connections,
                    "medians": [
                        {"server": k[0], "transport": k[1], "payload": k[2], **v} for k, v in sorted(medians.items())
                    ],
                    "ratios": ratios,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
