"""The ``wharf`` command and the ``seldon-core-microservice`` compatible entry point.

Nothing is parsed at import time; every flag falls back to the environment variable upstream
reads, so existing Dockerfiles, s2i images and SeldonDeployments keep working unchanged.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("wharf")

SERVICE_TYPES = ("MODEL", "ROUTER", "TRANSFORMER", "OUTPUT_TRANSFORMER", "COMBINER", "OUTLIER_DETECTOR")
LEGACY_API_TYPES = ("REST", "GRPC", "FBS")
ANNOTATIONS_FILE = "/etc/podinfo/annotations"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"error: environment variable {name}={raw!r} is not an integer") from None


def _env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    return default if raw is None else raw.strip().lower() in ("1", "true", "t", "yes", "y", "on")


def serve_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Serve a Python model class with the Seldon v1 component API: REST, gRPC and Prometheus metrics.",
        epilog="Every option falls back to the environment variable named in its help, as seldon-core-microservice does.",
    )
    p.add_argument(
        "interface_name",
        nargs="?",
        default=os.environ.get("MODEL_NAME"),
        help="class to serve: MyModel (file MyModel.py) or package.module.Class [env MODEL_NAME]",
    )
    p.add_argument(
        "--service-type",
        choices=SERVICE_TYPES,
        default=os.environ.get("SERVICE_TYPE", "MODEL"),
        help="kind of graph node; informational, every endpoint is served [env SERVICE_TYPE]",
    )
    p.add_argument(
        "--persistence",
        nargs="?",
        type=int,
        const=1,
        default=_env_int("PERSISTENCE", 0),
        help="deprecated and ignored [env PERSISTENCE]",
    )
    p.add_argument(
        "--parameters",
        default=os.environ.get("PREDICTIVE_UNIT_PARAMETERS", "[]"),
        help='constructor arguments as JSON [{"name","value","type"}] [env PREDICTIVE_UNIT_PARAMETERS]',
    )
    p.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default="INFO",
        help="log level; env SELDON_LOG_LEVEL wins over this flag",
    )
    p.add_argument(
        "--debug",
        nargs="?",
        const=True,
        default=_env_bool("SELDON_DEBUG"),
        help="accepted for compatibility; Wharf has no separate debug server [env SELDON_DEBUG]",
    )
    p.add_argument(
        "--tracing",
        nargs="?",
        type=int,
        const=1,
        default=_env_int("TRACING", 0),
        help="OpenTelemetry spans per request, exported over OTLP (needs wharf-ml[tracing]) [env TRACING]",
    )
    p.add_argument(
        "--workers",
        metavar="N|auto",
        default=None,
        help="worker processes, each serving REST and gRPC and each with its own copy of the model's "
        "state; 'auto' is one per CPU the process may use (default: 1) [env GUNICORN_WORKERS]",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=_env_int("GUNICORN_THREADS", 1),
        help="threads per worker running user code; 1 runs it on the event loop [env GUNICORN_THREADS]",
    )
    p.add_argument(
        "--max-requests",
        type=int,
        default=_env_int("GUNICORN_MAX_REQUESTS", 0),
        help="replace a worker after this many requests, 0 never (bounds memory growth) [env GUNICORN_MAX_REQUESTS]",
    )
    p.add_argument(
        "--max-requests-jitter",
        type=int,
        default=_env_int("GUNICORN_MAX_REQUESTS_JITTER", 0),
        help="add up to this many requests to each worker's limit, so they retire at different times [env GUNICORN_MAX_REQUESTS_JITTER]",
    )
    p.add_argument(
        "--keepalive",
        type=int,
        default=_env_int("GUNICORN_KEEPALIVE", 2),
        help="seconds an idle HTTP keep-alive connection stays open [env GUNICORN_KEEPALIVE]",
    )
    p.add_argument(
        "--single-threaded",
        type=int,
        default=_env_int("FLASK_SINGLE_THREADED", 0),
        help="non-zero forces --threads 1 [env FLASK_SINGLE_THREADED]",
    )
    p.add_argument(
        "--http-port",
        type=int,
        default=_env_int("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", 9000),
        help="REST port [env PREDICTIVE_UNIT_HTTP_SERVICE_PORT]",
    )
    p.add_argument(
        "--grpc-port",
        type=int,
        default=_env_int("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", 5000),
        help="gRPC port [env PREDICTIVE_UNIT_GRPC_SERVICE_PORT]",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=_env_int("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", 6000),
        help="Prometheus port [env PREDICTIVE_UNIT_METRICS_SERVICE_PORT]",
    )
    p.add_argument("--pidfile", default=None, help="write the supervisor's pid to this file")
    p.add_argument(
        "--access-log",
        nargs="?",
        const=True,
        default=_env_bool("GUNICORN_ACCESS_LOG"),
        help="log every HTTP request [env GUNICORN_ACCESS_LOG]",
    )
    p.add_argument(
        "--grpc-threads",
        type=int,
        default=_env_int("GRPC_THREADS", 1),
        help="accepted for compatibility; gRPC runs on each worker's event loop [env GRPC_THREADS]",
    )
    p.add_argument(
        "--grpc-workers",
        type=int,
        default=_env_int("GRPC_WORKERS", 1),
        help="0 turns gRPC off; otherwise every worker serves gRPC [env GRPC_WORKERS]",
    )
    p.add_argument("--host", default=os.environ.get("WHARF_HOST", "0.0.0.0"), help="address to bind [env WHARF_HOST]")
    p.add_argument(
        "--graceful-timeout",
        type=float,
        default=float(os.environ.get("WHARF_GRACEFUL_TIMEOUT", "30")),
        help="seconds in-flight requests get to finish after SIGTERM [env WHARF_GRACEFUL_TIMEOUT]",
    )
    p.add_argument(
        "--protocols",
        default=os.environ.get("WHARF_PROTOCOLS", "seldon,v2"),
        help="the APIs the component serves on its HTTP and gRPC ports, comma-separated: seldon "
        "(Seldon Core v1), v2 (Open Inference Protocol); default both [env WHARF_PROTOCOLS]",
    )
    p.add_argument(
        "--model-name",
        default=None,
        help="the model's name in V2 paths and calls (default: env WHARF_MODEL_NAME, else "
        "MLSERVER_MODEL_NAME, which the operator sets to the graph node's name, else the class name)",
    )
    return p


PROTOCOLS = ("seldon", "v2")


def parse_protocols(text: str) -> tuple[str, ...]:
    """``seldon,v2`` -> ``("seldon", "v2")``; an unknown or empty list is a ValueError naming it."""
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in PROTOCOLS]
    if unknown or not names:
        raise ValueError(
            f"--protocols/WHARF_PROTOCOLS {text!r}: give one or more of {', '.join(PROTOCOLS)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return names


def read_annotations(path: str = ANNOTATIONS_FILE) -> dict[str, str]:
    """Pod annotations from the Downward API file (lines ``key="value"``)."""
    annotations: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                key, sep, value = line.strip().partition("=")
                if sep:
                    annotations[key] = value.strip().strip('"')
    except OSError:
        pass
    return annotations


def _identity_from_env() -> Any:
    from wharf.protocol.image_ref import split_image
    from wharf.server.prom import Identity

    image, version = split_image(os.environ.get("PREDICTIVE_UNIT_IMAGE", "NOT_IMPLEMENTED:NOT_IMPLEMENTED"))
    try:
        predictor_version = json.loads(os.environ.get("PREDICTOR_LABELS", "{}")).get("version", "NOT_IMPLEMENTED")
    except (ValueError, AttributeError):
        predictor_version = "NOT_IMPLEMENTED"
    return Identity(
        deployment_name=os.environ.get("SELDON_DEPLOYMENT_ID", "NOT_IMPLEMENTED"),
        model_name=os.environ.get("PREDICTIVE_UNIT_ID", "NOT_IMPLEMENTED"),
        model_image=image,
        model_version=version or "NOT_IMPLEMENTED",
        predictor_name=os.environ.get("PREDICTOR_ID", "NOT_IMPLEMENTED"),
        predictor_version=str(predictor_version),
    )


def _setup_logging(flag_level: str) -> str:
    level = os.environ.get("SELDON_LOG_LEVEL", flag_level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        level = "INFO"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
    return level


def run_server(argv: Sequence[str] | None, prog: str) -> int:
    parser = serve_parser(prog)
    args, extra = parser.parse_known_args(argv)
    level = _setup_logging(args.log_level)
    if extra and extra[0] in LEGACY_API_TYPES and len(extra) == 1:
        log.warning(
            "positional API type %r is deprecated since Seldon 1.5 and ignored: REST and gRPC are both served", extra[0]
        )
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not args.interface_name:
        parser.error("the model class is required: give it as the first argument or set MODEL_NAME")
    if args.interface_name in LEGACY_API_TYPES:
        # `seldon-core-microservice $MODEL_NAME $API_TYPE ...` with MODEL_NAME unset shifts REST left.
        parser.error(
            f"got the API type {args.interface_name} where the model class should be: MODEL_NAME is "
            "empty or unset (set it, e.g. ENV MODEL_NAME=MyModel in the Dockerfile)"
        )
    if args.persistence:
        log.error("Persistence: ignored, persistence is deprecated")
    from wharf.server.workers import WorkersError, resolve_workers

    try:
        args.workers, args.workers_source = resolve_workers(args.workers, os.environ.get("GUNICORN_WORKERS"))
    except WorkersError as exc:  # one line and the usage exit code, as argparse's own errors
        parser.exit(2, f"{parser.prog}: error: {exc}\n")

    # prometheus_client picks multiprocess mode at import: set its folder before anything imports it.
    owned_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        owned_dir = tempfile.mkdtemp(prefix="wharf-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = owned_dir
    try:
        return _serve(args, level)
    finally:
        if owned_dir:
            shutil.rmtree(owned_dir, ignore_errors=True)


def _serve(args: argparse.Namespace, level: str) -> int:
    from wharf.compat import install_seldon_core_alias
    from wharf.component.loader import UserClassError, load_user_class
    from wharf.component.model import Component, UnitInfo
    from wharf.component.parameters import ParameterError, parse_parameters
    from wharf.protocol.errors import MicroserviceError
    from wharf.server.config import ServerConfig
    from wharf.server.supervisor import Supervisor
    from wharf.termination import write_termination_message

    if _env_bool("WHARF_SELDON_COMPAT", True):
        install_seldon_core_alias()
    try:
        params = parse_parameters(args.parameters, "--parameters/PREDICTIVE_UNIT_PARAMETERS")
        user_class = load_user_class(args.interface_name)
    except (ParameterError, UserClassError) as exc:
        log.error("%s", exc)
        return 2
    try:
        user = user_class(**params)
    except TypeError as exc:
        log.error(
            "%s(**parameters) failed: %s (parameters given: %s)", args.interface_name, exc, ", ".join(params) or "none"
        )
        return 2
    except MicroserviceError as exc:  # a model that cannot load, said by the class (the prepackaged servers)
        log.error("%s cannot start: %s", args.interface_name, exc.message)
        write_termination_message(f"{args.interface_name} cannot start: {exc.message}")
        return 1
    annotations = read_annotations()
    max_msg = annotations.get("seldon.io/grpc-max-message-size")
    unit = UnitInfo(
        unit_id=os.environ.get("PREDICTIVE_UNIT_ID") or None,
        image=os.environ.get("PREDICTIVE_UNIT_IMAGE", "NOT_IMPLEMENTED:NOT_IMPLEMENTED"),
        include_metrics_in_response=os.environ.get("INCLUDE_METRICS_IN_CLIENT_RESPONSE", "true").lower() == "true",
        executor_enabled=os.environ.get("SELDON_EXECUTOR_ENABLED", "true").lower() != "false",
        metadata_env=os.environ.get("MODEL_METADATA"),
    )
    component = Component(user, unit)
    from wharf.http_server.limits import HttpLimits

    try:
        http_limits = HttpLimits.from_env(os.environ)
        protocols = parse_protocols(args.protocols)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    config = ServerConfig(
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        metrics_path=os.environ.get("PREDICTIVE_UNIT_METRICS_ENDPOINT", "/metrics"),
        host=args.host,
        workers=args.workers,
        threads=1 if args.single_threaded else max(1, args.threads),
        grpc_enabled=args.grpc_workers != 0,
        keepalive=args.keepalive,
        access_log=bool(args.access_log),
        log_level=level,
        graceful_timeout=args.graceful_timeout,
        max_requests=max(0, args.max_requests),
        max_requests_jitter=max(0, args.max_requests_jitter),
        max_message_bytes=int(max_msg) if max_msg and max_msg.isdigit() else None,
        http_limits=http_limits,
        payload_passthrough=_env_bool("PAYLOAD_PASSTHROUGH"),
        unit=unit,
        identity=_identity_from_env(),
        tracing=bool(args.tracing),
        service_name=unit.unit_id or args.interface_name,
        protocols=protocols,
        model_name=args.model_name,
    )
    from wharf.server.workers import STATEFUL_METHODS, split_state_warning

    warning = split_state_warning(
        args.interface_name, [m for m in STATEFUL_METHODS if component.provides(m)], config.workers, args.workers_source
    )
    if warning:
        log.warning("%s", warning)
    if config.tracing and (missing := _tracing_missing()):
        log.error("%s", missing)
        return 2
    if args.pidfile:
        with open(args.pidfile, "w", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")
    try:
        return Supervisor(config, component).run()
    except OSError as exc:
        log.error("%s", exc)
        return 1


def _tracing_missing() -> str | None:
    """Why --tracing cannot work here (checked once, before any worker starts), or None."""
    from wharf.tracing import TracingUnavailable, check_available

    try:
        check_available()
    except TracingUnavailable as exc:
        return str(exc)
    return None


def orchestrator_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wharf orchestrator", description="Serve a predictor's graph: REST on --http-port, gRPC on --grpc-port."
    )
    p.add_argument("--file", help="SeldonDeployment or PredictorSpec file (default: env ENGINE_PREDICTOR, base64 JSON)")
    p.add_argument("--predictor", help="predictor name in --file (default: the first)")
    p.add_argument("--http-port", "--http_port", type=int, default=8000)
    p.add_argument("--grpc-port", "--grpc_port", type=int, default=5001)
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--prometheus-path", "--prometheus_path", default="/prometheus")
    from wharf.deployment.graph import PROTOCOLS

    p.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=None,
        help="the API served and spoken to the nodes (default: --file's spec.protocol, else seldon)",
    )
    p.add_argument(
        "--full-health-checks",
        "--full_health_checks",
        nargs="?",
        const="true",
        default="false",
        type=_go_bool,
        metavar="BOOL",
        help="readiness asks each node's health path (seldon, v2) instead of a TCP connect",
    )
    p.add_argument(
        "--transport",
        choices=("rest", "grpc"),
        default=None,
        help="how the nodes are called (default: the graph's endpoint type, else rest)",
    )
    p.add_argument("--sdep", default=None, help="SeldonDeployment name (for metrics labels)")
    p.add_argument("--namespace", default=None)
    p.add_argument("--log-level", "--log_level", default=os.environ.get("SELDON_LOG_LEVEL", "INFO"))
    p.add_argument(
        "--tracing",
        nargs="?",
        type=int,
        const=1,
        default=_env_int("TRACING", 0),
        help="OpenTelemetry spans per request and per node call (needs wharf-ml[tracing]) [env TRACING]",
    )
    p.add_argument("--graceful-timeout", "--graceful_timeout", type=float, default=15.0)
    from wharf.orchestrator.kafka import add_arguments as add_kafka_arguments

    add_kafka_arguments(p)  # --server_type and the --kafka_* flags
    return p


def _go_bool(value: str) -> bool:
    """A boolean flag's value as Go's flag package reads it (``--full_health_checks=true``)."""
    lowered = value.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def run_orchestrator(argv: Sequence[str]) -> int:
    import asyncio
    import dataclasses

    from wharf.deployment.graph import GraphError, load_predictor
    from wharf.orchestrator.serve import serve

    parser = orchestrator_parser()
    args, _unknown = parser.parse_known_args(argv)  # the operator passes executor flags we do not need
    _setup_logging(args.log_level.upper())
    try:
        predictor = load_predictor(args.file, args.predictor, os.environ)
    except GraphError as exc:
        log.error("%s", exc)
        return 2
    if args.sdep or args.namespace:
        predictor = dataclasses.replace(
            predictor, deployment=args.sdep or predictor.deployment, namespace=args.namespace or predictor.namespace
        )
    if args.tracing and (missing := _tracing_missing()):
        log.error("%s", missing)
        return 2
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    from wharf.http_server.limits import HttpLimits

    try:  # WHARF_MAX_BODY_BYTES, WHARF_READ_TIMEOUT, WHARF_WORKER_CONNECTIONS, as the component server
        http_limits = HttpLimits.from_env(os.environ)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    from wharf.orchestrator.transport import EXECUTOR_MAX_MESSAGE, MAX_MESSAGE_ANNOTATION

    max_message = read_annotations().get(MAX_MESSAGE_ANNOTATION)
    if max_message is not None and not (max_message.isdigit() and 0 < int(max_message) <= EXECUTOR_MAX_MESSAGE):
        log.error(
            "annotation %s=%r: expected a number of bytes from 1 to %d",
            MAX_MESSAGE_ANNOTATION,
            max_message,
            EXECUTOR_MAX_MESSAGE,
        )
        return 2
    kafka = None
    args.protocol = args.protocol or predictor.protocol  # the file's spec.protocol; seldon by default
    if args.server_type == "kafka" and args.protocol != "seldon":
        log.error(
            "--server_type kafka: Wharf's orchestrator reads and writes Kafka messages in protocol seldon only, not %s",
            args.protocol,
        )
        return 2
    if args.server_type == "kafka":
        from wharf.orchestrator.kafka import KafkaConfigError, settings_from

        try:
            kafka = settings_from(vars(args), os.environ)
        except KafkaConfigError as exc:
            log.error("%s", exc)
            return 2
    try:
        runner(
            serve(
                predictor,
                args.host,
                args.http_port,
                args.grpc_port,
                args.prometheus_path,
                args.graceful_timeout,
                args.transport,
                tracing=bool(args.tracing),
                kafka=kafka,
                http_limits=http_limits,
                max_message_bytes=int(max_message) if max_message else EXECUTOR_MAX_MESSAGE,
                protocol=args.protocol,
                full_health_checks=args.full_health_checks,
            )
        )
    except OSError as exc:
        log.error("%s", exc)
        return 1
    return 0


def run_local(argv: Sequence[str]) -> int:
    from wharf.deployment.graph import GraphError
    from wharf.local.run import LocalGraph

    p = argparse.ArgumentParser(prog="wharf run", description="Run a SeldonDeployment on this machine, no cluster.")
    p.add_argument("file", help="SeldonDeployment YAML")
    p.add_argument("--predictor", help="predictor to run (default: the first)")
    p.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NODE=DIR",
        help="model folder of a graph node; repeatable (default: a folder named after the node or its "
        "image, beside FILE or in ../models)",
    )
    p.add_argument(
        "--http-port", type=int, default=8000, help="the graph's REST port, as the orchestrator's (default: 8000)"
    )
    p.add_argument("--grpc-port", type=int, default=5001, help="the graph's gRPC port (default: 5001)")
    p.add_argument(
        "--docker",
        action="store_true",
        help="run every node as a container from its image (local Docker engine) instead of a process "
        "(default: processes)",
    )
    p.add_argument(
        "--max-restarts",
        type=int,
        default=None,
        metavar="N",
        help="stop the graph (exit 1, naming the node) when a node or the orchestrator dies after "
        "being restarted N times; 0 stops at the first death (default: restart forever, "
        "1 s doubling to 60 s between crashes, as a kubelet's CrashLoopBackOff)",
    )
    args = p.parse_args(argv)
    if args.max_restarts is not None and args.max_restarts < 0:
        p.error(f"--max-restarts must be 0 or more, not {args.max_restarts}")
    sources = dict(item.split("=", 1) for item in args.source if "=" in item)
    try:
        graph = LocalGraph(
            args.file,
            predictor=args.predictor,
            sources=sources,
            http_port=args.http_port,
            grpc_port=args.grpc_port,
            docker=args.docker,
            max_restarts=args.max_restarts,
        )
    except GraphError as exc:  # the file is wrong: 1, as `wharf render` (2 is for bad flags)
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 1
    import signal

    def stop_on_term(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the graph as Ctrl-C does: every child by its pid

    signal.signal(signal.SIGTERM, stop_on_term)
    from wharf.local.containers import ContainerError

    try:
        graph.start()
        print(f"graph {graph.predictor.name!r} ready: POST {graph.url}/api/v1.0/predictions (Ctrl-C stops)", flush=True)
        graph.wait()
    except KeyboardInterrupt:
        pass
    except ContainerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        graph.stop()
        return 2
    except GraphError as exc:  # a busy port, a node that exited before it was ready or past
        print(f"error: {exc}", file=sys.stderr)  # --max-restarts: one line, not a traceback
        return 1
    finally:
        codes = graph.stop()
    return 0 if all(c == 0 or c < 0 for c in codes.values()) else 1


def seldon_core_microservice(argv: Sequence[str] | None = None) -> int:
    """``seldon-core-microservice``: upstream's command line, served by Wharf."""
    return run_server(argv, "seldon-core-microservice")


def seldon_core_tester(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    from wharf.contract.tester import main as tester_main

    return tester_main(list(argv) if argv is not None else None, prog=prog)


def seldon_core_api_tester(argv: Sequence[str] | None = None) -> int:
    """``seldon-core-api-tester``: the contract tester aimed at a deployment's external API."""
    from wharf.contract.tester import main as tester_main

    return tester_main(list(sys.argv[1:] if argv is None else argv), prog="seldon-core-api-tester", external=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {
        "serve": "serve a model class (same flags as seldon-core-microservice)",
        "test": "check a running component (or, with --external, a deployment) against a contract.json",
        "orchestrator": "walk a predictor's graph (the container the operator injects)",
        "run": "run a SeldonDeployment file on this machine: every node plus the orchestrator",
        "render": "print the Kubernetes objects the operator creates for a SeldonDeployment file",
        "operator": "run the SeldonDeployment operator (kopf) against the current cluster",
        "storage": "copy model files to or from an S3-compatible or GCS bucket (storage cp SRC DST)",
        "version": "print the version",
    }
    if argv and argv[0] in ("-V", "--version"):
        argv[0] = "version"
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        asked = not argv or argv[0] in ("-h", "--help")
        out = sys.stdout if asked else sys.stderr
        if not asked:
            print(f"wharf: unknown command {argv[0]!r}; choose one of: {', '.join(commands)}", file=out)
        width = max(map(len, commands))
        print("usage: wharf <command> [options]   (wharf <command> --help for its options)\n\ncommands:", file=out)
        for name, text in commands.items():
            print(f"  {name:<{width}}  {text}", file=out)
        print(f"  {'--version':<{width}}  print the version", file=out)
        return 0 if asked else 2
    command, rest = argv[0], argv[1:]
    if command == "serve":
        return run_server(rest, "wharf serve")
    if command == "test":
        from wharf.contract.tester import main as tester_main

        return tester_main(rest, prog="wharf test", external_flag=True)
    if command == "orchestrator":
        return run_orchestrator(rest)
    if command == "run":
        return run_local(rest)
    if command in ("render", "operator"):
        from wharf.operator import commands as operator_commands

        return operator_commands.render_main(rest) if command == "render" else operator_commands.operator_main(rest)
    if command == "storage":
        return run_storage(rest)
    from wharf import __version__

    print(__version__)
    return 0


def run_storage(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="wharf storage",
        description="Copy a model file to or from an S3-compatible bucket or Google Cloud "
        "Storage. S3 endpoint and credentials come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
        "(or a storage initializer's RCLONE_CONFIG_<REMOTE>_* variables); gs:// is anonymous unless "
        "RCLONE_CONFIG_GS_SERVICE_ACCOUNT_CREDENTIALS, RCLONE_CONFIG_GS_SERVICE_ACCOUNT_FILE or "
        "GOOGLE_APPLICATION_CREDENTIALS gives a credential (STORAGE_EMULATOR_HOST names an emulator).",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    cp = sub.add_parser(
        "cp",
        help="copy SRC to DST: a bucket (s3://<bucket>/<key>, gs://<bucket>/<path> or "
        "<remote>:<bucket>/<key>) "
        "to a folder, a file to a bucket, or a folder to a folder",
    )
    cp.add_argument("source")
    cp.add_argument("target")
    args = parser.parse_args(argv)
    from wharf.storage import StorageError, copy
    from wharf.termination import write_termination_message

    try:
        print(copy(args.source, args.target))
    except StorageError as exc:
        print(f"wharf storage: {exc}", file=sys.stderr)
        write_termination_message(f"wharf storage: {exc}")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
