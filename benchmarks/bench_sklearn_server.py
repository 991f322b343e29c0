#!/usr/bin/env python3
"""SKLEARN_SERVER benchmark: Wharf's server against seldon-core 1.19.0's wrapper, side by side, one run.

Both serve a logistic regression on the iris data (trained here, in each server's own venv, so
each pickle matches its scikit-learn and NumPy) with upstream's default ``predict_proba``:

- ``wharf``: ``seldon-core-microservice wharf.servers.sklearn.SKLearnServer`` (what the
  ``wharf/sklearnserver`` image runs), default flags (one worker, as upstream);
- ``wharf-2w``: the same with ``--workers 2`` (one per CPU here);
- ``seldon-default``: seldon-core 1.19.0's ``seldon-core-microservice`` from the reference venv
  with ``models/UpstreamSKLearnServer.py`` (upstream's class step for step, its per-request INFO
  line included; upstream's file ships in its image, not on PyPI),
  default flags, as upstream's sklearnserver image runs it;
- ``seldon-2w``: the same with ``--workers 2`` (one per CPU here; upstream's images take
  ``GUNICORN_WORKERS``).

Load: ``wrk`` POSTs one iris row to ``/api/v1.0/predictions`` on 127.0.0.1 only, for a bounded
time; runs are interleaved and the median of ``--runs`` is reported with the ratio to Wharf.
scikit-learn for the reference venv goes into its own folder beside it (``PYTHONPATH``), pinned
to the reference venv's NumPy, so seldon-core's own dependencies are left as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_component as bc  # noqa: E402 - the component benchmark's servers, wrk runner and ports

PAYLOAD = {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}
TRAIN = (
    "import sys, joblib; from sklearn.datasets import load_iris; from sklearn.linear_model import "
    "LogisticRegression; joblib.dump(LogisticRegression(max_iter=1000).fit(*load_iris(return_X_y=True)), "
    "sys.argv[1])"
)


def reference_sklearn(seldon_bin: Path) -> Path:
    """scikit-learn (this venv's version) for the reference venv's Python, in a folder of its own."""
    import sklearn

    python = seldon_bin / "python"
    numpy_version = subprocess.run(
        [str(python), "-c", "import numpy; print(numpy.__version__)"], check=True, capture_output=True, text=True
    ).stdout.strip()
    target = seldon_bin.parent.parent / f"sklearn-{sklearn.__version__}-numpy-{numpy_version}"
    marker = target / ".wharf-ok"
    if not marker.exists():
        print(f"  installing scikit-learn {sklearn.__version__} for the reference venv into {target}", flush=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--target",
                str(target),
                f"scikit-learn=={sklearn.__version__}",
                f"numpy=={numpy_version}",
            ],
            check=True,
        )
        marker.write_text("ok\n")
    return target


def model_folder(python: str, env: dict[str, str], tmp: Path, name: str) -> Path:
    folder = tmp / name
    folder.mkdir()
    subprocess.run([python, "-c", TRAIN, str(folder / "model.joblib")], check=True, env=env, timeout=300)
    return folder


def server(
    name: str, config: str, bindir: Path, model: str, folder: Path, logdir: Path, env: dict[str, str], extra: list[str]
) -> bc.Server:
    http, grpc_, metrics = bc.free_port(), bc.free_port(), bc.free_port()
    env = {
        **env,
        "PREDICTIVE_UNIT_PARAMETERS": json.dumps([{"name": "model_uri", "value": str(folder), "type": "STRING"}]),
    }
    cmd = [
        str(bindir / "seldon-core-microservice"),
        model,
        "--http-port",
        str(http),
        "--grpc-port",
        str(grpc_),
        "--metrics-port",
        str(metrics),
        *extra,
    ]
    return bc.Server(name, config, cmd, bc.MODELS_DIR, env, http, grpc_, logdir)


def check(srv: bc.Server) -> list[float]:
    """The server's answer for the payload (three class probabilities summing to 1), or an error."""
    import urllib.request

    request = urllib.request.Request(
        f"http://{bc.LOOPBACK}:{srv.http_port}{bc.PREDICT_PATH}",
        data=json.dumps(PAYLOAD).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        row = json.loads(answer.read())["data"]["ndarray"][0]
    if len(row) != 3 or abs(sum(row) - 1) > 1e-6:
        raise RuntimeError(f"{srv.name}: not iris probabilities: {row}")
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    p.add_argument("--runs", type=int, default=3, help="runs per server; the median is reported (default 3)")
    p.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds before each run")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--seldon-bin", help="bin/ folder of a seldon-core 1.19.0 venv (default: built on demand)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    args = p.parse_args(argv)
    import shutil

    if not shutil.which("wrk"):
        print("wrk is required: apt-get install -y wrk", file=sys.stderr)
        return 2
    seldon_bin = Path(args.seldon_bin) if args.seldon_bin else bc.seldon_bin_dir(argparse.Namespace(seldon_bin=None))
    wharf_bin = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="wharf-bench-sklearn-") as tmp_name:
        tmp = Path(tmp_name)
        ref_env = {**bc.base_env(), "PYTHONPATH": str(reference_sklearn(seldon_bin))}
        folders = {
            "wharf": model_folder(sys.executable, bc.base_env(), tmp, "wharf-model"),
            "seldon": model_folder(str(seldon_bin / "python"), ref_env, tmp, "seldon-model"),
        }
        servers = [
            server(
                "wharf",
                "wharf.servers.sklearn.SKLearnServer, default flags (1 worker)",
                wharf_bin,
                "wharf.servers.sklearn.SKLearnServer",
                folders["wharf"],
                tmp,
                bc.base_env(),
                [],
            ),
            server(
                "wharf-2w",
                "wharf.servers.sklearn.SKLearnServer, --workers 2",
                wharf_bin,
                "wharf.servers.sklearn.SKLearnServer",
                folders["wharf"],
                tmp,
                bc.base_env(),
                ["--workers", "2"],
            ),
            server(
                "seldon-default",
                "seldon-core 1.19.0, default flags (1 gunicorn worker)",
                seldon_bin,
                "UpstreamSKLearnServer",
                folders["seldon"],
                tmp,
                ref_env,
                [],
            ),
            server(
                "seldon-2w",
                "seldon-core 1.19.0, --workers 2",
                seldon_bin,
                "UpstreamSKLearnServer",
                folders["seldon"],
                tmp,
                ref_env,
                ["--workers", "2"],
            ),
        ]
        lua = tmp / "post.lua"
        (tmp / "body.json").write_text(json.dumps(PAYLOAD))
        lua.write_text(bc.WRK_LUA % {"body": tmp / "body.json"})
        runs: dict[str, list[dict]] = {s.name: [] for s in servers}
        answers = {}
        try:
            for run in range(args.runs):  # interleaved: run 1 of every server, then run 2, ...
                print(f"\n== run {run + 1} of {args.runs} ==", flush=True)
                for srv in servers:
                    srv.start()
                    try:
                        srv.wait_ready()
                        answers[srv.name] = check(srv)
                        if args.warmup > 0:
                            bc.run_wrk(srv.http_port, lua, args.warmup, args.connections, 1)
                        r = bc.run_wrk(srv.http_port, lua, args.duration, args.connections, 1)
                        print(
                            f"    {srv.name:15s} {r['rps']:9.1f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                            f"p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}",
                            flush=True,
                        )
                        runs[srv.name].append(r)
                    finally:
                        srv.stop()
        finally:
            bc.stop_all()
    spread = max(abs(a - b) for a, b in zip(answers["wharf"], answers["seldon-default"]))
    print(f"\nanswers agree to {spread:.1e} (each server's own training of the same model)")
    rows = []
    wharf_rps = statistics.median(r["rps"] for r in runs["wharf"])
    print(
        f"\n{'server':15s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>6s}  wharf ÷ this   (median of {args.runs})"
    )
    for srv in servers:
        m = bc.median_result(runs[srv.name])
        rows.append({"server": srv.name, "config": srv.config, **m, "wharf_ratio": wharf_rps / m["rps"]})
        print(
            f"{srv.name:15s} {m['rps']:9.1f} {m['p50_ms']:8.2f} {m['p99_ms']:8.2f} {m['errors']:6d}  "
            f"{wharf_rps / m['rps']:10.2f}x   {srv.config}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
