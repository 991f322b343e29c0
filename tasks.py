"""Developer tasks (``invoke --list``). Each task is a few lines calling code in ``src/wharf``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invoke import Collection, Context, Exit, task

ROOT = Path(__file__).resolve().parent
STUBS = ROOT / "src" / "wharf" / "protocol" / "pb"


@task(help={"reference": "also run the parity tests against the real seldon-core 1.19.0 (default: on)",
            "k": "only tests matching this pytest -k expression"})
def test(c: Context, reference: bool = True, k: str = "") -> None:
    """Run the unit, integration and reference test suites."""
    env = {}
    if reference:
        from wharf.testing.reference import ensure_reference_venv

        env["WHARF_REFERENCE_PYTHON"] = str(ensure_reference_venv() / "python")
        env["WHARF_REQUIRE_REFERENCE"] = "1"
    selection = f" -k {k!r}" if k else ""
    c.run(f"{sys.executable} -m pytest -q{selection}", env=env, pty=False)


@task(help={"logs": "also print every node's log lines"})
def demo(c: Context, logs: bool = False) -> None:
    """Run the example graph locally (transformer, bandit router, two models) and print its answers."""
    from wharf.local.demo import run

    run(ROOT / "examples" / "graphs" / "ab-router.yaml", node_logs=logs)


@task(help={"check": "fail if the committed stubs differ from freshly generated ones"})
def proto(c: Context, check: bool = False) -> None:
    """Generate the protobuf/gRPC stubs in src/wharf/protocol/pb (needs grpcio-tools==1.71.0)."""
    import tempfile

    from wharf.protocol.codegen import generate

    if not check:
        for path in generate(STUBS):
            print(f"wrote {path.relative_to(ROOT)}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        stale = [p.name for p in generate(Path(tmp)) if p.read_bytes() != (STUBS / p.name).read_bytes()]
    if stale:
        raise Exit(f"stubs out of date: {', '.join(stale)}; run `invoke proto`", code=1)
    print("stubs up to date")


@task(help={"duration": "seconds per measurement", "runs": "measurements per case (median reported)",
            "quick": "a short smoke run", "only": "wharf or seldon", "json": "also write the figures to this file"})
def bench(c: Context, duration: int = 10, runs: int = 3, quick: bool = False, only: str = "", json: str = "") -> None:
    """Benchmark the component server against seldon-core 1.19.0 side by side (needs wrk; go for ghz)."""
    args = ["--quick"] if quick else ["--duration", str(duration), "--runs", str(runs)]
    args += ["--only", only] if only else []
    args += ["--json", json] if json else []
    c.run(" ".join([sys.executable, "benchmarks/bench_component.py", *args]), pty=False)


# --- build: s2i builder images and model images (issues 5, 6) --------------------------

# --- cluster: the etcd + kube-apiserver harness (issue 7) -------------------------------

# --- operator: CRD/RBAC generation, render (issue 8) -----------------------------------

# --- charts: validate, lint, ct (issue 9) ----------------------------------------------

# --- deploy: helm / kustomize to the current context (issue 10) ------------------------

ns = Collection(test, demo, proto, bench)
ns.configure({"run": {"echo": True}})
os.environ.setdefault("PYTHONUNBUFFERED", "1")
