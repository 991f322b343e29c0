#!/usr/bin/env python3
"""Component-server benchmark: Wharf vs the real seldon-core 1.19.0, side by side.

Starts each server, one at a time, on free loopback ports, with ``benchmarks/models`` as its
working directory and the ``IdentityModel`` model, then drives it with:

- REST: ``wrk --latency`` POSTing JSON to ``/api/v1.0/predictions``;
- gRPC: ``ghz`` calling ``seldon.protos.Model/Predict`` (or, when ghz is unavailable and cannot
  be built, a multi-process Python grpc.aio load generator, reported as such).

Servers / configurations:

- ``wharf``: Wharf's ``seldon-core-microservice`` from this interpreter's venv, default flags
  (one worker, so a stateful unit keeps one state);
- ``wharf-auto``: the same with ``--workers auto`` (one worker per CPU the process may use);
- ``seldon-default``: seldon-core 1.19.0 from its reference venv, default flags;
- ``seldon-best``: seldon-core with the best ``--workers/--threads`` (REST) and
  ``--grpc-workers/--grpc-threads`` (gRPC) found by a short sweep;
- ``echo``: a raw ASGI app (orjson loads/dumps, uvicorn + uvloop + httptools, one worker per
  CPU): the ceiling for a Python HTTP server on this machine (REST only).

Runs are interleaved (run 1 of every server, then run 2, ...) so that drift on a noisy
machine hits all servers alike; the MEDIAN of the runs is reported.

Only 127.0.0.1 is ever a load target, every load run is bounded in time, and every server is
started in its own process group and killed by that group id at the end (also on Ctrl-C).

Usage::

    python benchmarks/bench_component.py                 # full run (~10 min)
    python benchmarks/bench_component.py --quick         # smoke run (~2 min)
    python benchmarks/bench_component.py --only seldon --json out.json

This module is also the import target of the echo app (``bench_component:echo_app``), so it
does nothing at import time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wharf.local.process import free_port, group_alive  # the benchmark runs in the repo's venv

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODELS_DIR = HERE / "models"
PROTO_DIR = REPO / "src" / "wharf" / "protocol" / "proto"
PREDICT_PATH = "/api/v1.0/predictions"
GRPC_METHOD = "seldon.protos.Model/Predict"
GHZ_VERSION = "v0.120.0"
LOOPBACK = "127.0.0.1"


# --------------------------------------------------------------------------------------
# The echo ceiling: a raw ASGI callable (imported by uvicorn as bench_component:echo_app)
# --------------------------------------------------------------------------------------


async def echo_app(scope, receive, send):  # pragma: no cover - runs inside uvicorn
    import orjson

    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/health/ping":
        status, ctype, out = 200, b"text/plain", b"pong"
    elif path == PREDICT_PATH and scope["method"] == "POST":
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        try:
            req = orjson.loads(b"".join(chunks))
            nd = req["data"]["ndarray"]
            names = [f"t:{i}" for i in range(len(nd[0]))] if nd and isinstance(nd[0], list) else []
            status, ctype = 200, b"application/json"
            out = orjson.dumps({"data": {"names": names, "ndarray": nd}, "meta": {}})
        except Exception as exc:  # noqa: BLE001 - echo app: any bad input is a 400
            status, ctype = 400, b"application/json"
            out = orjson.dumps(
                {"status": {"status": 1, "info": str(exc), "code": -1, "reason": "MICROSERVICE_BAD_DATA"}}
            )
    else:
        status, ctype, out = 404, b"text/plain", b"not found"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", ctype), (b"content-length", str(len(out)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": out})


# --------------------------------------------------------------------------------------
# Payloads
# --------------------------------------------------------------------------------------


def make_payloads() -> dict[str, dict]:
    rng = random.Random(20240601)
    large = [[round(rng.uniform(-1000.0, 1000.0), 6) for _ in range(100)] for _ in range(100)]
    return {
        "small": {"data": {"ndarray": [[1.0, 2.0, 3.0]]}},
        "100x100": {"data": {"ndarray": large}},
    }


def grpc_request_bytes(payload: dict) -> bytes | None:
    """Serialize a SeldonMessage with Wharf's generated stubs (None if they cannot load)."""
    sys.path.insert(0, str(REPO / "src"))
    try:
        from google.protobuf import json_format

        from wharf.protocol.pb import prediction_pb2
    except Exception:  # noqa: BLE001
        return None
    finally:
        sys.path.pop(0)
    msg = prediction_pb2.SeldonMessage()
    json_format.ParseDict(payload, msg)
    return msg.SerializeToString()


# --------------------------------------------------------------------------------------
# Process management
# --------------------------------------------------------------------------------------

_STARTED: list[Server] = []


@dataclass
class Server:
    name: str
    config: str
    cmd: list[str]
    cwd: Path
    env: dict[str, str]
    http_port: int
    grpc_port: int | None
    logdir: Path
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    def start(self) -> None:
        self.log_path = self.logdir / f"{self.name}-{self.http_port}.log"
        print(f"  start {self.name}: {' '.join(self.cmd)}", flush=True)
        # start_new_session: the server and every child it forks share one process group whose
        # id is the server's pid; stop() kills exactly that group and nothing else.
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.cmd, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        _STARTED.append(self)

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 90.0) -> None:
        url = f"http://{LOOPBACK}:{self.http_port}/health/ping"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        else:
            raise RuntimeError(f"{self.name} not ready on {url} after {timeout:.0f}s:\n{self.log_tail()}")
        if self.grpc_port:
            while time.monotonic() < deadline:
                try:
                    with socket.create_connection((LOOPBACK, self.grpc_port), timeout=1):
                        return
                except OSError:
                    time.sleep(0.25)
            raise RuntimeError(f"{self.name}: gRPC port {self.grpc_port} not open:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid
        if group_alive(pgid):
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and group_alive(pgid):
                self.proc.poll()
                time.sleep(0.1)
            if group_alive(pgid):
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        if self in _STARTED:
            _STARTED.remove(self)


def stop_all() -> None:
    for srv in list(_STARTED):  # noqa: PERF101 - stop() removes from _STARTED
        try:
            srv.stop()
        except Exception as exc:  # noqa: BLE001 - best effort cleanup
            print(f"warning: could not stop {srv.name}: {exc}", file=sys.stderr)


# --------------------------------------------------------------------------------------
# Server definitions
# --------------------------------------------------------------------------------------


def wharf_bin_dir(args) -> Path:
    if args.wharf_bin:
        return Path(args.wharf_bin)
    return Path(sys.executable).parent  # the repo's .venv (do not resolve the venv symlink)


def seldon_bin_dir(args) -> Path:
    if args.seldon_bin:
        return Path(args.seldon_bin)
    sys.path.insert(0, str(REPO / "src"))
    try:
        from wharf.testing.reference import ensure_reference_venv
    finally:
        sys.path.pop(0)
    return ensure_reference_venv()


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    for k in list(env):  # keep the servers' defaults: drop tuning variables inherited from the shell
        if k.startswith(("GUNICORN_", "GRPC_", "PREDICTIVE_UNIT_", "SELDON_", "FLASK_")):
            env.pop(k)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def microservice(name: str, config: str, bindir: Path, logdir: Path, extra: list[str] | None = None) -> Server:
    http, grpc_, metrics = free_port(), free_port(), free_port()
    cmd = [
        str(bindir / "seldon-core-microservice"),
        "IdentityModel",
        "--http-port",
        str(http),
        "--grpc-port",
        str(grpc_),
        "--metrics-port",
        str(metrics),
    ]
    cmd += extra or []
    return Server(name, config, cmd, MODELS_DIR, base_env(), http, grpc_, logdir)


def echo_server(logdir: Path, workers: int) -> Server:
    http = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench_component:echo_app",
        "--app-dir",
        str(HERE),
        "--host",
        LOOPBACK,
        "--port",
        str(http),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
        "--lifespan",
        "off",
    ]
    return Server("echo", f"uvicorn raw ASGI, {workers} workers", cmd, HERE, base_env(), http, None, logdir)


def prepare_java(tmp: Path) -> str | None:
    """Classpath of the Java wrapper (``mvn package``) plus ``models/IdentityModel.java`` compiled; None if no JDK/Maven."""
    if not (shutil.which("mvn") and shutil.which("javac")):
        print("warning: Maven or a JDK is missing: the Java server is skipped", flush=True)
        return None
    wrapper = REPO / "wrappers" / "java"
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "package",
            "-DskipTests",
            "dependency:build-classpath",
            "-Dmdep.outputFile=target/classpath.txt",
        ],
        cwd=wrapper,
        check=True,
        timeout=900,
    )
    jar = next((wrapper / "target").glob("wharf-java-wrapper-*.jar"))
    cp = f"{jar}:{(wrapper / 'target' / 'classpath.txt').read_text().strip()}"
    classes = tmp / "java-classes"
    subprocess.run(
        ["javac", "-d", str(classes), "-cp", cp, str(MODELS_DIR / "IdentityModel.java")], check=True, timeout=300
    )
    return f"{classes}:{cp}"


def java_server(classpath: str, logdir: Path) -> Server:
    """The Java wrapper (wrappers/java) serving the Java twin of IdentityModel, default settings."""
    http, grpc_, metrics = free_port(), free_port(), free_port()
    cmd = [
        "java",
        "-cp",
        classpath,
        "io.wharf.wrapper.Main",
        "IdentityModel",
        "--host",
        LOOPBACK,
        "--http-port",
        str(http),
        "--grpc-port",
        str(grpc_),
        "--metrics-port",
        str(metrics),
    ]
    return Server(
        "java", "Java wrapper, JDK HTTP server, default threads", cmd, MODELS_DIR, base_env(), http, grpc_, logdir
    )


def seldon_flags(rest: tuple[int, int], grpc_: tuple[int, int]) -> list[str]:
    return [
        "--workers",
        str(rest[0]),
        "--threads",
        str(rest[1]),
        "--grpc-workers",
        str(grpc_[0]),
        "--grpc-threads",
        str(grpc_[1]),
    ]


# --------------------------------------------------------------------------------------
# Sanity checks (a server that answers wrongly must not be benchmarked)
# --------------------------------------------------------------------------------------


def check_rest(srv: Server, payload: dict) -> None:
    body = json.dumps(payload).encode()
    req = urllib.request.Request(
        f"http://{LOOPBACK}:{srv.http_port}{PREDICT_PATH}",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        out = json.loads(r.read())
    got = out.get("data", {}).get("ndarray")
    if got is None or len(got) != len(payload["data"]["ndarray"]) or got[0][:3] != payload["data"]["ndarray"][0][:3]:
        raise RuntimeError(f"{srv.name}: unexpected REST response {str(out)[:300]}")


def check_grpc(srv: Server, req_bytes: bytes | None, n_rows: int) -> None:
    if req_bytes is None:
        return
    try:
        import grpc

        sys.path.insert(0, str(REPO / "src"))
        from wharf.protocol.pb import prediction_pb2
    except Exception:  # noqa: BLE001 - no client libs: ghz will tell
        return
    finally:
        if sys.path and sys.path[0] == str(REPO / "src"):
            sys.path.pop(0)
    deadline = time.monotonic() + 30
    while True:
        try:
            with grpc.insecure_channel(f"{LOOPBACK}:{srv.grpc_port}") as ch:
                call = ch.unary_unary("/" + GRPC_METHOD, request_serializer=None, response_deserializer=None)
                raw = call(req_bytes, timeout=10)
            break
        except grpc.RpcError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{srv.name}: gRPC Predict failed: {exc}") from exc
            time.sleep(0.5)
    msg = prediction_pb2.SeldonMessage.FromString(raw)
    if len(msg.data.ndarray.values) != n_rows:
        raise RuntimeError(f"{srv.name}: unexpected gRPC response {str(msg)[:300]}")


# --------------------------------------------------------------------------------------
# Load generators
# --------------------------------------------------------------------------------------

WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("%(body)s", "rb"))
wrk.body = f:read("*a")
f:close()

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WHARF_RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d, \\"errors\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def run_wrk(
    port: int,
    lua: Path,
    duration: float,
    connections: int,
    threads: int,
    path: str = PREDICT_PATH,
    prefix: Sequence[str] = (),
) -> dict:
    """One wrk run against 127.0.0.1:port/path; ``prefix`` wraps the command (taskset for pinning)."""
    cmd = [
        *prefix,
        "wrk",
        "--latency",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{round(duration)}s",
        "--timeout",
        "10s",
        "-s",
        str(lua),
        f"http://{LOOPBACK}:{port}{path}",
    ]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=duration + 60)
    for line in out.stdout.splitlines():
        if line.startswith("WHARF_RESULT "):
            r = json.loads(line[len("WHARF_RESULT ") :])
            return {
                "rps": r["requests"] / (r["duration_us"] / 1e6),
                "p50_ms": r["p50_us"] / 1000.0,
                "p99_ms": r["p99_us"] / 1000.0,
                "errors": r["errors"],
                "requests": r["requests"],
            }
    raise RuntimeError(f"wrk gave no result (rc={out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")


def find_ghz(build: bool) -> str | None:
    for cand in (shutil.which("ghz"), str(Path.home() / ".cache" / "wharf" / "bin" / "ghz")):
        if cand and os.access(cand, os.X_OK):
            return cand
    if not build or not shutil.which("go"):
        return None
    gobin = Path.home() / ".cache" / "wharf" / "bin"
    gobin.mkdir(parents=True, exist_ok=True)
    print(f"building ghz {GHZ_VERSION} with go install into {gobin} (one time, ~1 min)", flush=True)
    env = dict(os.environ, GOBIN=str(gobin))
    try:
        subprocess.run(
            [
                "go",
                "install",
                "-ldflags",
                f"-X main.version={GHZ_VERSION}",
                f"github.com/bojand/ghz/cmd/ghz@{GHZ_VERSION}",
            ],
            env=env,
            cwd=tempfile.gettempdir(),
            check=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"warning: building ghz failed ({exc}); using the Python gRPC load generator", flush=True)
        return None
    ghz = gobin / "ghz"
    return str(ghz) if ghz.exists() else None


def run_ghz(
    ghz: str, port: int, bin_file: Path | None, json_file: Path, duration: float, concurrency: int, conns: int
) -> dict:
    cmd = [
        ghz,
        "--insecure",
        "--proto",
        str(PROTO_DIR / "prediction.proto"),
        "-i",
        str(PROTO_DIR),
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
    ]
    cmd += ["--binary", "-B", str(bin_file)] if bin_file else ["-D", str(json_file)]
    cmd.append(f"{LOOPBACK}:{port}")
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=duration + 60)
    try:
        r = json.loads(out.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"ghz gave no JSON (rc={out.returncode}): {out.stdout[-300:]} {out.stderr[-500:]}") from exc
    # Percentiles from the successful calls only. Calls still in flight when ghz stops at the
    # end of -z are cut with "use of closed network connection": not server errors, not counted.
    ok_lat: list[int] = []
    errors = cut = 0
    for d in r.get("details") or []:
        if d.get("status") == "OK":
            ok_lat.append(d["latency"])
        elif "closed network connection" in d.get("error", "") or "connection is closing" in d.get("error", ""):
            cut += 1
        else:
            errors += 1
    if not ok_lat:
        raise RuntimeError(f"ghz: no successful call: {json.dumps(r.get('errorDistribution'))[:500]}")
    ok_lat.sort()
    total_s = r.get("total", 0) / 1e9 or duration
    return {
        "rps": len(ok_lat) / total_s,
        "p50_ms": _pct(ok_lat, 0.50) / 1e6,
        "p99_ms": _pct(ok_lat, 0.99) / 1e6,
        "errors": errors,
        "requests": len(ok_lat),
        "cut_at_end": cut,
    }


def _pct(sorted_values: list, q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    import math

    return sorted_values[max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))]


def _py_grpc_worker(target: str, req_file: str, concurrency: int, duration: float) -> None:  # pragma: no cover
    """One process of the Python gRPC load generator: prints {"lat": [...], "errors": n} as JSON."""
    import asyncio

    import grpc

    req = Path(req_file).read_bytes()

    async def main():
        lat: list[float] = []
        errors = 0
        async with grpc.aio.insecure_channel(target) as ch:
            call = ch.unary_unary("/" + GRPC_METHOD, request_serializer=None, response_deserializer=None)
            end = time.monotonic() + duration

            async def loop():
                nonlocal errors
                while time.monotonic() < end:
                    t0 = time.perf_counter()
                    try:
                        await call(req, timeout=10)
                        lat.append(time.perf_counter() - t0)
                    except grpc.aio.AioRpcError:
                        errors += 1

            await asyncio.gather(*(loop() for _ in range(concurrency)))
        return lat, errors

    lat, errors = asyncio.run(main())
    print(json.dumps({"lat": lat, "errors": errors}))


def run_py_grpc(port: int, req_file: Path, duration: float, concurrency: int, procs: int) -> dict:
    """Fallback gRPC load: `procs` processes, each with concurrency/procs closed-loop grpc.aio callers."""
    per = max(1, concurrency // procs)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--py-grpc-worker",
        f"{LOOPBACK}:{port}",
        str(req_file),
        str(per),
        str(duration),
    ]
    ps = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(procs)]
    results = []
    try:
        for p in ps:
            out, err = p.communicate(timeout=duration + 60)
            if p.returncode != 0:
                raise RuntimeError(f"python gRPC load generator failed: {err[-500:]}")
            results.append(json.loads(out))
    finally:
        for p in ps:
            if p.poll() is None:
                p.kill()
                p.wait()
    lat = sorted(x for r in results for x in r["lat"])
    errors = sum(r["errors"] for r in results)
    if not lat:
        raise RuntimeError("python gRPC load generator: no successful call")
    return {
        "rps": len(lat) / duration,
        "p50_ms": _pct(lat, 0.50) * 1000.0,
        "p99_ms": _pct(lat, 0.99) * 1000.0,
        "errors": errors,
        "requests": len(lat),
    }


# --------------------------------------------------------------------------------------
# Benchmark driver
# --------------------------------------------------------------------------------------


@dataclass
class Ctx:
    args: argparse.Namespace
    tmp: Path
    payloads: dict[str, dict]
    lua: dict[str, Path] = field(default_factory=dict)
    grpc_bin: dict[str, Path | None] = field(default_factory=dict)
    grpc_json: dict[str, Path] = field(default_factory=dict)
    grpc_raw: dict[str, bytes | None] = field(default_factory=dict)
    ghz: str | None = None


def measure(ctx: Ctx, srv: Server, payload: str, transport: str, duration: float) -> dict:
    a = ctx.args
    if transport == "rest":
        return run_wrk(srv.http_port, ctx.lua[payload], duration, a.connections, a.wrk_threads)
    if ctx.ghz:
        return run_ghz(
            ctx.ghz,
            srv.grpc_port,
            ctx.grpc_bin[payload],
            ctx.grpc_json[payload],
            duration,
            a.connections,
            a.grpc_connections,
        )
    if ctx.grpc_bin[payload] is None:
        raise RuntimeError("no ghz and no Wharf protobuf stubs to build gRPC requests")
    return run_py_grpc(srv.grpc_port, ctx.grpc_bin[payload], duration, a.connections, a.py_grpc_procs)


def bring_up(ctx: Ctx, srv: Server, transports: list[str]) -> None:
    srv.start()
    srv.wait_ready()
    for name, p in ctx.payloads.items():
        check_rest(srv, p)
        if "grpc" in transports and srv.grpc_port:
            check_grpc(srv, ctx.grpc_raw[name], len(p["data"]["ndarray"]))


def bench_server(
    ctx: Ctx, srv: Server, transports: list[str], duration: float, warmup: float, payload_names: list[str]
) -> dict[tuple[str, str], dict]:
    """Start srv, measure every (payload, transport), stop it. Returns {(payload, transport): result}."""
    out: dict[tuple[str, str], dict] = {}
    try:
        bring_up(ctx, srv, transports)
        for transport in transports:
            if transport == "grpc" and not srv.grpc_port:
                continue
            for payload in payload_names:
                if warmup > 0:
                    measure(ctx, srv, payload, transport, warmup)
                r = measure(ctx, srv, payload, transport, duration)
                print(
                    f"    {srv.name:15s} {payload:8s} {transport:5s} {r['rps']:9.1f} req/s  "
                    f"p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}",
                    flush=True,
                )
                out[(payload, transport)] = r
    finally:
        srv.stop()
    return out


def sweep_seldon(ctx: Ctx, bindir: Path, transports: list[str]) -> tuple[tuple[int, int], tuple[int, int], list[dict]]:
    """Try a few (workers, threads) / (grpc-workers, grpc-threads) pairs; keep the fastest of each."""
    a = ctx.args
    if a.seldon_best:
        w, t, gw, gt = (int(x) for x in a.seldon_best.split(","))
        return (w, t), (gw, gt), []
    combos = [((2, 1), (2, 1)), ((2, 8), (2, 8)), ((4, 1), (4, 1)), ((4, 4), (4, 4)), ((1, 8), (1, 16))]
    if a.quick:
        combos = [((2, 1), (2, 1)), ((4, 4), (4, 4))]
    dur = a.sweep_duration or max(3.0, a.duration / 2)
    print(f"\n== seldon-core best-config sweep ({len(combos)} configs, {dur:.0f}s each, small payload) ==", flush=True)
    rows = []
    for rest, grpc_ in combos:
        flags = seldon_flags(rest, grpc_)
        srv = microservice("seldon-sweep", " ".join(flags), bindir, ctx.tmp, flags)
        try:
            res = bench_server(ctx, srv, transports, dur, min(2.0, dur), ["small"])
        except Exception as exc:  # noqa: BLE001 - a failing config is just not the best
            print(f"    config {flags} failed: {exc}", flush=True)
            continue
        rows.append(
            {
                "rest": list(rest),
                "grpc": list(grpc_),
                **{f"{t}_rps": res[("small", t)]["rps"] for t in transports if ("small", t) in res},
            }
        )
    if not rows:
        raise RuntimeError("every seldon-core configuration of the sweep failed")
    best_rest = tuple(max(rows, key=lambda r: r.get("rest_rps", 0))["rest"]) if "rest" in transports else (1, 1)
    best_grpc = tuple(max(rows, key=lambda r: r.get("grpc_rps", 0))["grpc"]) if "grpc" in transports else (1, 1)
    print(
        f"  best REST: --workers {best_rest[0]} --threads {best_rest[1]}; "
        f"best gRPC: --grpc-workers {best_grpc[0]} --grpc-threads {best_grpc[1]}",
        flush=True,
    )
    return best_rest, best_grpc, rows


def median_result(runs: list[dict]) -> dict:
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "runs": runs,
    }


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except Exception:  # noqa: BLE001
        return "unknown"


def print_report(results: list[dict], transports: list[str], payload_names: list[str]) -> list[dict]:
    print("\n== results (median of runs) ==")
    hdr = f"{'server':16s} {'config':44s} {'payload':8s} {'transport':9s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>6s}"
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        print(
            f"{r['server']:16s} {r['config'][:44]:44s} {r['payload']:8s} {r['transport']:9s} "
            f"{r['rps']:9.1f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['errors']:6d}"
        )
    idx = {(r["server"], r["payload"], r["transport"]): r for r in results}
    ratios = []
    for transport in transports:
        for payload in payload_names:
            for name in ("wharf", "wharf-auto"):
                w = idx.get((name, payload, transport))
                if not w:
                    continue
                row = {"server": name, "payload": payload, "transport": transport}
                for key, other in (
                    ("wharf_over_seldon_default", "seldon-default"),
                    ("wharf_over_seldon_best", "seldon-best"),
                    ("wharf_over_echo", "echo"),
                ):
                    o = idx.get((other, payload, transport))
                    row[key] = w["rps"] / o["rps"] if o and o["rps"] else None
                sd = idx.get(("seldon-default", payload, transport))
                row["wharf_p99_over_seldon_default_p50"] = w["p99_ms"] / sd["p50_ms"] if sd and sd["p50_ms"] else None
                ratios.append(row)
    if ratios:

        def fmt(v: float | None) -> str:
            return f"{v:8.2f}x" if v is not None else f"{'-':>9s}"

        print("\n== ratios (req/s: Wharf / other; latency: Wharf p99 / seldon default p50) ==")
        print(
            f"{'server':10s} {'payload':8s} {'transport':9s} {'/seldon-def':>11s} {'/seldon-best':>12s} {'/echo':>9s} {'p99W/p50S':>10s}"
        )
        for r in ratios:
            print(
                f"{r['server']:10s} {r['payload']:8s} {r['transport']:9s} {fmt(r['wharf_over_seldon_default']):>11s} "
                f"{fmt(r['wharf_over_seldon_best']):>12s} {fmt(r['wharf_over_echo'])} "
                f"{fmt(r['wharf_p99_over_seldon_default_p50']):>10s}"
            )
    return ratios


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    p.add_argument(
        "--connections", type=int, default=32, help="concurrent connections / in-flight requests (default 32)"
    )
    p.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is reported (default 3)")
    p.add_argument("--warmup", type=float, default=2.0, help="unrecorded warm-up seconds before each measurement")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s, 1 run, 1 s warm-up, 2 sweep configs")
    p.add_argument(
        "--only",
        action="append",
        choices=["wharf", "wharf-auto", "seldon", "echo", "java"],
        help="benchmark only these servers (repeatable; default all)",
    )
    p.add_argument("--transports", default="rest,grpc", help="comma list of rest,grpc (default both)")
    p.add_argument("--payloads", default="small,100x100", help="comma list of small,100x100")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    p.add_argument("--wharf-bin", help="bin/ folder holding Wharf's seldon-core-microservice (default: this venv)")
    p.add_argument("--seldon-bin", help="bin/ folder of a seldon-core 1.19.0 venv (default: built on demand)")
    p.add_argument(
        "--seldon-best",
        metavar="W,T,GW,GT",
        help="skip the sweep: seldon best config = --workers W --threads T --grpc-workers GW --grpc-threads GT",
    )
    p.add_argument("--sweep-duration", type=float, help="seconds per sweep measurement (default duration/2, min 3)")
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1: leave the CPUs to the server)")
    p.add_argument(
        "--grpc-connections", type=int, default=8, help="HTTP/2 connections ghz spreads calls over (default 8)"
    )
    p.add_argument("--py-grpc-procs", type=int, default=2, help="processes of the Python gRPC fallback load generator")
    p.add_argument("--no-build-ghz", action="store_true", help="do not try `go install` ghz when it is missing")
    p.add_argument(
        "--py-grpc", action="store_true", help="drive gRPC with the Python load generator even if ghz exists"
    )
    a = p.parse_args(argv)
    if a.quick:
        a.duration, a.runs, a.warmup = 3.0, 1, 1.0
    if a.runs < 1 or a.duration < 1:
        p.error("--runs must be >= 1 and --duration >= 1")
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    if not shutil.which("wrk"):
        print(
            "error: `wrk` is not installed (Debian/Ubuntu: apt-get install -y wrk). It drives the REST measurements.",
            file=sys.stderr,
        )
        return 2
    only = set(a.only or ["wharf", "wharf-auto", "seldon", "echo", "java"])
    transports = [t for t in a.transports.split(",") if t]
    payload_names = [x for x in a.payloads.split(",") if x]
    payloads = {k: v for k, v in make_payloads().items() if k in payload_names}
    if set(payload_names) - set(payloads) or set(transports) - {"rest", "grpc"}:
        print("error: unknown payload or transport name", file=sys.stderr)
        return 2

    def _term(signum, frame):  # SIGTERM behaves like Ctrl-C: unwind and clean up
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    # Ctrl-C must always unwind (a shell starting us in the background may have ignored SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    tmp = Path(tempfile.mkdtemp(prefix="wharf-bench-"))
    ctx = Ctx(a, tmp, payloads)
    for name, p in payloads.items():
        body = tmp / f"{name}.json"
        body.write_text(json.dumps(p))
        lua = tmp / f"{name}.lua"
        lua.write_text(WRK_LUA % {"body": str(body)})
        ctx.lua[name] = lua
        ctx.grpc_json[name] = body
        raw = grpc_request_bytes(p)
        ctx.grpc_raw[name] = raw
        if raw is not None:
            (tmp / f"{name}.bin").write_bytes(raw)
        ctx.grpc_bin[name] = (tmp / f"{name}.bin") if raw is not None else None
    grpc_tool = "none"
    if "grpc" in transports:
        ctx.ghz = None if a.py_grpc else find_ghz(build=not a.no_build_ghz)
        if ctx.ghz:
            grpc_tool = f"ghz {tool_version([ctx.ghz, '--version'])}"
        else:
            grpc_tool = f"python grpc.aio load generator ({a.py_grpc_procs} processes)" + (
                "" if a.py_grpc else " - ghz unavailable"
            )
            print(f"note: gRPC is driven by the {grpc_tool}", flush=True)

    cpus = os.cpu_count() or 1
    meta = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host_cpus": cpus,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "wrk": tool_version(["wrk", "-v"]),
        "grpc_load_tool": grpc_tool,
        "duration_s": a.duration,
        "runs": a.runs,
        "connections": a.connections,
        "warmup_s": a.warmup,
        "wrk_threads": a.wrk_threads,
        "grpc_connections": a.grpc_connections,
        "payload_bytes": {k: len(json.dumps(v)) for k, v in payloads.items()},
    }
    results: list[dict] = []
    sweep_rows: list[dict] = []
    rc = 0
    try:
        servers: list[callable] = []  # factories: a fresh Server (fresh ports) per run
        if only & {"wharf", "wharf-auto"}:
            wbin = wharf_bin_dir(a)
            if not (wbin / "seldon-core-microservice").exists():
                print(f"warning: no seldon-core-microservice in {wbin}: Wharf skipped", flush=True)
            else:
                if "wharf" in only:
                    servers.append(lambda: microservice("wharf", "default flags (1 worker)", wbin, tmp))
                if "wharf-auto" in only:
                    servers.append(
                        lambda: microservice(
                            "wharf-auto", "--workers auto (one per CPU)", wbin, tmp, ["--workers", "auto"]
                        )
                    )
        if "seldon" in only:
            sbin = seldon_bin_dir(a)
            meta["seldon_core"] = "1.19.0 (" + str(sbin) + ")"
            servers.append(lambda: microservice("seldon-default", "default flags (1 worker, 1 thread)", sbin, tmp))
            best_rest, best_grpc, sweep_rows = sweep_seldon(ctx, sbin, transports)
            flags = seldon_flags(best_rest, best_grpc)
            servers.append(lambda: microservice("seldon-best", " ".join(flags), sbin, tmp, flags))
            meta["seldon_best_flags"] = flags
        if "echo" in only and "rest" in transports:
            servers.append(lambda: echo_server(tmp, cpus))
        if "java" in only:
            java_cp = prepare_java(tmp)
            if java_cp:
                servers.append(lambda: java_server(java_cp, tmp))

        collected: dict[tuple[str, str, str], list[dict]] = {}
        configs: dict[str, str] = {}
        skipped: set[str] = set()
        for run in range(a.runs):
            print(
                f"\n== run {run + 1}/{a.runs} ({a.duration:.0f}s per measurement, {a.connections} connections) ==",
                flush=True,
            )
            for factory in servers:
                srv = factory()
                if srv.name in skipped:
                    continue
                configs[srv.name] = srv.config
                try:
                    res = bench_server(ctx, srv, transports, a.duration, a.warmup, payload_names)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:
                    if srv.name.startswith("wharf") and only - {"wharf", "wharf-auto"}:
                        print(f"warning: {srv.name} did not serve ({exc}); continuing without it", flush=True)
                        skipped.add(srv.name)
                        continue
                    raise
                for (payload, transport), r in res.items():
                    collected.setdefault((srv.name, payload, transport), []).append(r)

        for (name, payload, transport), runs in collected.items():
            results.append(
                {
                    "server": name,
                    "config": configs[name],
                    "payload": payload,
                    "transport": transport,
                    **median_result(runs),
                }
            )
        order = {"wharf": 0, "wharf-auto": 1, "java": 2, "seldon-default": 3, "seldon-best": 4, "echo": 5}
        results.sort(
            key=lambda r: (
                transports.index(r["transport"]),
                payload_names.index(r["payload"]),
                order.get(r["server"], 9),
            )
        )
        ratios = print_report(results, transports, payload_names)
        print(
            f"\nload: wrk ({meta['wrk']}) for REST, {grpc_tool} for gRPC; loopback only; "
            f"{cpus} CPUs shared by server and load generator."
        )
        if a.json:
            Path(a.json).write_text(
                json.dumps({"meta": meta, "seldon_sweep": sweep_rows, "results": results, "ratios": ratios}, indent=2)
                + "\n"
            )
            print(f"results written to {a.json}")
    except KeyboardInterrupt:
        print("\ninterrupted: stopping servers", file=sys.stderr)
        rc = 130
    except Exception as exc:  # noqa: BLE001
        print(f"error: {exc}", file=sys.stderr)
        rc = 1
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--py-grpc-worker":
        _py_grpc_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
        raise SystemExit(0)
    raise SystemExit(main())
