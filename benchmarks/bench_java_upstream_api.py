#!/usr/bin/env python3
"""Java: a handler written for Seldon's wrapper (upstream API) against Wharf's own Java API, same run.

Both serve an identity model with Wharf's Java servers:

- ``wharf-api``: ``benchmarks/models/IdentityModel.java`` (``io.wharf.wrapper.SeldonComponent``,
  returns ``request.value()``; Wharf builds ``data`` and ``meta``), started by ``io.wharf.wrapper.Main``;
- ``upstream-api``: upstream's own wrapper test handler (``tests/fixtures/upstream-java/echo-handler``,
  ``SeldonPredictionService.predict`` returning its request), through the compatibility layer: a
  Spring Boot context started by ``io.seldon.wrapper.Launcher``, each message converted to and from
  the ``SeldonMessage`` proto.

Runs alternate (run 1 of each, then run 2, ...) and the median is reported, with the ratio
upstream-api / wharf-api per payload and transport. Loads go to 127.0.0.1 only and are bounded in
time; servers are stopped by their process group. Reuses bench_component's load generators::

    python benchmarks/bench_java_upstream_api.py            # ~4 min
    python benchmarks/bench_java_upstream_api.py --quick    # ~1 min
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import bench_component as bc

from wharf.local.process import free_port

REPO = bc.REPO
COMPAT = REPO / "wrappers" / "java" / "seldon-compat"
ECHO = REPO / "tests" / "fixtures" / "upstream-java" / "echo-handler"


def prepare(tmp: Path) -> tuple[str, str]:
    """Class paths: (Wharf API identity model, upstream-API echo handler on the compatibility layer)."""
    wharf_cp = bc.prepare_java(tmp)
    if wharf_cp is None:
        raise SystemExit("Maven and a JDK are needed")
    subprocess.run(
        ["mvn", "-q", "-B", "install", "-DskipTests"], cwd=REPO / "wrappers" / "java", check=True, timeout=900
    )
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
        cwd=COMPAT,
        check=True,
        timeout=900,
    )
    jar = next((COMPAT / "target").glob("wharf-seldon-compat-*.jar"))
    cp = f"{jar}:{(COMPAT / 'target' / 'classpath.txt').read_text().strip()}"
    classes = tmp / "upstream-classes"
    subprocess.run(
        ["javac", "-d", str(classes), "-cp", cp, *map(str, sorted(ECHO.rglob("*.java")))], check=True, timeout=300
    )
    return wharf_cp, f"{classes}:{cp}"


def upstream_server(classpath: str, logdir: Path) -> bc.Server:
    http, grpc_, metrics = free_port(), free_port(), free_port()
    cmd = [
        "java",
        "-cp",
        classpath,
        "io.seldon.wrapper.Launcher",
        f"--server.address={bc.LOOPBACK}",
        f"--server.port={http}",
        f"--grpc.port={grpc_}",
        f"--PREDICTIVE_UNIT_METRICS_SERVICE_PORT={metrics}",
    ]
    return bc.Server(
        "upstream-api",
        "SeldonPredictionService echo, Spring Boot context, compatibility layer",
        cmd,
        bc.MODELS_DIR,
        bc.base_env(),
        http,
        grpc_,
        logdir,
    )


def wharf_server(classpath: str, logdir: Path) -> bc.Server:
    srv = bc.java_server(classpath, logdir)
    srv.name, srv.config = "wharf-api", "SeldonComponent IdentityModel, io.wharf.wrapper.Main"
    return srv


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=6.0, help="seconds per measured run (default 6)")
    p.add_argument("--warmup", type=float, default=4.0, help="seconds of warm-up per payload and transport")
    p.add_argument("--runs", type=int, default=3, help="alternating runs per server (median reported)")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--grpc-connections", type=int, default=4)
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--payloads", default="small,100x100")
    p.add_argument("--transports", default="rest,grpc")
    p.add_argument("--quick", action="store_true", help="1 run of 3 s after 2 s warm-up")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    if a.quick:
        a.duration, a.warmup, a.runs = 3.0, 2.0, 1
    a.py_grpc, a.py_grpc_procs, a.no_build_ghz = False, 2, True
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    tmp = Path(tempfile.mkdtemp(prefix="wharf-bench-java-compat-"))
    names = [n for n in a.payloads.split(",") if n]
    transports = [t for t in a.transports.split(",") if t]
    ctx = bc.Ctx(a, tmp, {k: v for k, v in bc.make_payloads().items() if k in names})
    for name, payload in ctx.payloads.items():
        body = tmp / f"{name}.json"
        body.write_text(json.dumps(payload))
        ctx.lua[name] = tmp / f"{name}.lua"
        ctx.lua[name].write_text(bc.WRK_LUA % {"body": str(body)})
        ctx.grpc_json[name] = body
        ctx.grpc_raw[name] = bc.grpc_request_bytes(payload)
        ctx.grpc_bin[name] = None
        if ctx.grpc_raw[name] is not None:
            ctx.grpc_bin[name] = tmp / f"{name}.bin"
            ctx.grpc_bin[name].write_bytes(ctx.grpc_raw[name])
    ctx.ghz = bc.find_ghz(build=False)
    wharf_cp, upstream_cp = prepare(tmp)
    factories = {
        "wharf-api": lambda: wharf_server(wharf_cp, tmp),
        "upstream-api": lambda: upstream_server(upstream_cp, tmp),
    }
    runs: dict[str, list[dict]] = {k: [] for k in factories}
    try:
        for i in range(a.runs):
            for name, make in factories.items():
                print(f"== run {i + 1}/{a.runs}: {name}", flush=True)
                runs[name].append(bc.bench_server(ctx, make(), transports, a.duration, a.warmup, names))
    except KeyboardInterrupt:
        return 130
    finally:
        bc.stop_all()
    rows = []
    print(
        f"\n{'payload':8s} {'transport':9s} {'wharf-api req/s (p99 ms)':>26s} {'upstream-api req/s (p99 ms)':>29s} {'ratio':>6s}"
    )
    for payload in names:
        for transport in transports:
            med = {}
            for name in factories:
                got = [r[(payload, transport)] for r in runs[name] if (payload, transport) in r]
                med[name] = {
                    "rps": statistics.median(x["rps"] for x in got),
                    "p99_ms": statistics.median(x["p99_ms"] for x in got),
                    "range": [min(x["rps"] for x in got), max(x["rps"] for x in got)],
                }
            ratio = med["upstream-api"]["rps"] / med["wharf-api"]["rps"]
            rows.append({"payload": payload, "transport": transport, **med, "ratio": ratio})
            print(
                f"{payload:8s} {transport:9s} {med['wharf-api']['rps']:17.0f} ({med['wharf-api']['p99_ms']:5.1f}) "
                f"{med['upstream-api']['rps']:20.0f} ({med['upstream-api']['p99_ms']:5.1f}) {ratio:6.2f}"
            )
    if a.json:
        Path(a.json).write_text(json.dumps({"args": {k: v for k, v in vars(a).items()}, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
