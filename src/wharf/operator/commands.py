"""``wharf render`` and ``wharf operator``: argument parsing only; the work is in render.py/handlers.py."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import yaml

from wharf.deployment.validate import SdepError, problem_lines
from wharf.operator.config import OperatorConfig


def render_main(argv: Sequence[str]) -> int:
    from wharf.operator.render import render

    p = argparse.ArgumentParser(
        prog="wharf render",
        description="Print, as YAML, the objects the operator would create for each "
        "SeldonDeployment in FILE (no cluster needed). Operator settings come "
        "from the same environment variables (ISTIO_ENABLED, ...).",
    )
    p.add_argument("file", help="YAML file with one or more SeldonDeployments ('-' reads stdin)")
    p.add_argument("--namespace", "-n", help="namespace for SeldonDeployments that name none (default: default)")
    args = p.parse_args(argv)
    try:
        text = sys.stdin.read() if args.file == "-" else open(args.file, encoding="utf-8").read()
        docs = [d for d in yaml.safe_load_all(text) if d]
    except (OSError, yaml.YAMLError) as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 1
    try:
        config = OperatorConfig.from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    objects = []
    sdeps = [d for d in docs if isinstance(d, dict) and d.get("kind") == "SeldonDeployment"]
    if not sdeps:
        print(f"error: {args.file}: no SeldonDeployment found", file=sys.stderr)
        return 1
    for sdep in sdeps:
        if args.namespace:
            sdep.setdefault("metadata", {}).setdefault("namespace", args.namespace)
        try:
            objects += render(sdep, config)
        except SdepError as exc:
            for line in problem_lines(args.file, sdep, exc.problems):
                print(f"error: {line}", file=sys.stderr)
            return 1
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True))
    return 0


def operator_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="wharf operator", description="Reconcile SeldonDeployments (kopf).")
    p.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        help="watch only this namespace (repeatable; default: env WATCH_NAMESPACE, else all)",
    )
    p.add_argument("--standalone", action="store_true", help="no peering/leader election (one replica only)")
    p.add_argument(
        "--peering",
        default=None,
        help="kopf peering name: replicas elect one active operator (needs kopf's peering CRDs; "
        "given explicitly, the operator waits until they exist)",
    )
    p.add_argument("--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    p.add_argument(
        "--leader-elect",
        "--enable-leader-election",
        action="store_true",
        help="replicas elect one active operator through a Lease in POD_NAMESPACE (upstream's flag "
        "name is accepted too)",
    )
    args = p.parse_args(argv)
    from wharf.operator.handlers import run

    return run(
        namespaces=args.namespace,
        standalone=args.standalone,
        peering=args.peering,
        liveness=args.liveness,
        leader_elect=args.leader_elect,
    )
