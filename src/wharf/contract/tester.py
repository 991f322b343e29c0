"""``wharf test`` / ``seldon-core-tester``: send random requests from a contract to one component.

Usage (the flags of ``seldon-core-tester`` 1.x, plus ``--seed`` and ``--timeout``)::

    wharf test contract.json HOST PORT [--endpoint predict|send-feedback|transform-input]
               [-b N] [-n N] [--grpc] [-t] [-p] [--log-level DEBUG|INFO|ERROR]

REST posts the form field ``json=<SeldonMessage>`` to ``http://HOST:PORT/<endpoint>``, as
upstream does; ``--grpc`` calls ``Model.Predict``, ``Generic.TransformInput`` or
``Model.SendFeedback``.

``wharf test --external`` / ``seldon-core-api-tester`` targets a deployment's external API (the
orchestrator) instead: ``[DEPLOYMENT] [--namespace NS] [--gateway ambassador|istio|seldon]``. REST
posts JSON to ``/seldon/<ns>/<deployment>/api/v1.0/predictions`` through a gateway (upstream's
default, ambassador) or to ``/api/v1.0/predictions`` with ``--gateway seldon`` (an OpenShift Route
or a port-forward straight to the orchestrator); gRPC calls ``Seldon.Predict`` with the
``seldon``/``namespace`` metadata gateways route on. ``send-feedback`` first predicts, then sends the request and its answer
back as feedback with reward 1.0. Each answer is checked against the contract
(:func:`wharf.contract.core.check_response`).

Exit status: 0 every answer passed, 1 some check failed (or the component could not be
reached), 2 bad usage or an unusable contract.

The contract logic lives in :mod:`wharf.contract.core`; this module only does the I/O.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import sys
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TextIO

import numpy as np

from wharf.contract import core as ct

log = logging.getLogger("wharf.contract.tester")

ENDPOINTS = ("predict", "send-feedback", "transform-input")
EXTERNAL_ENDPOINTS = ("predict", "send-feedback")
GATEWAYS = ("ambassador", "istio", "seldon")
DEFAULT_DEPLOYMENT = "mymodel"  # upstream api-tester's default
EXTERNAL_PATHS = {"predict": "api/v1.0/predictions", "send-feedback": "api/v1.0/feedback"}
LOG_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "ERROR": logging.ERROR}
MAX_PROBLEMS_SHOWN = 10
GRPC_MAX_MESSAGE = 512 * 1024 * 1024


class Unreachable(Exception):
    """The component did not answer at all (refused, reset, timed out): no point sending more."""


def build_parser(
    prog: str | None = None, external: bool = False, external_flag: bool = False
) -> argparse.ArgumentParser:
    target = "deployment's external API" if external else "component"
    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"Send random requests generated from a contract.json to a running {target} "
        "(REST or gRPC) and check each answer against the contract's targets.",
    )
    parser.add_argument("contract", help="the contract.json file describing features and targets")
    parser.add_argument("host", help=f"{target} host, e.g. 127.0.0.1")
    parser.add_argument("port", type=int, help=f"{target} HTTP port (gRPC port with --grpc)")
    if external:
        parser.add_argument(
            "deployment", nargs="?", default=None, help=f"SeldonDeployment name (default: {DEFAULT_DEPLOYMENT})"
        )
        parser.add_argument(
            "--deployment", dest="deployment_flag", metavar="NAME", default=None, help="same as DEPLOYMENT"
        )
        parser.add_argument("--namespace", default=None, help="namespace of the deployment (part of gateway paths)")
        parser.add_argument(
            "--gateway",
            choices=GATEWAYS,
            default="ambassador",
            help="ambassador/istio: /seldon/<ns>/<deployment>/... paths; seldon: the orchestrator itself",
        )
    if external_flag:  # `wharf test` is both testers; main() reads the flag before parsing
        parser.add_argument(
            "--external",
            action="store_true",
            help="test a deployment's external API (gateway paths, the Seldon service; the options of "
            "seldon-core-api-tester) instead of one component (default: a component)",
        )
    endpoints = EXTERNAL_ENDPOINTS if external else ENDPOINTS
    parser.add_argument("--endpoint", choices=endpoints, default="predict", help="method to call (default: predict)")
    parser.add_argument("-b", "--batch-size", type=int, default=1, help="rows per request (default: 1)")
    parser.add_argument("-n", "--n-requests", type=int, default=1, help="number of requests (default: 1)")
    parser.add_argument("--grpc", action="store_true", help="use gRPC instead of REST")
    parser.add_argument("-t", "--tensor", action="store_true", help="send data.tensor instead of data.ndarray")
    parser.add_argument("-p", "--prnt", action="store_true", help="print every request and response")
    parser.add_argument(
        "--log-level", choices=tuple(LOG_LEVELS), default="ERROR", help="logging level (default: ERROR)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for the random data (default: fresh each run)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each answer (default: 60)")
    return parser


# ---------------------------------------------------------------------------------------------
# Transports: each call returns (answer dict or None, problems about the exchange itself)


@dataclass
class Answer:
    body: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)


def gateway_prefix(gateway: str, deployment: str, namespace: str | None) -> str:
    """Path prefix of a deployment's external API behind ``gateway`` (upstream SeldonClient's URLs)."""
    if gateway == "seldon":
        return "/"
    return f"/seldon/{namespace}/{deployment}/" if namespace else f"/seldon/{deployment}/"


class RestTransport:
    """A unit: POST ``json=<message>`` as a form to ``/<endpoint>``. The external API (``prefix``
    given): POST JSON to ``<prefix>api/v1.0/...``. No proxies either way."""

    name = "REST"

    def __init__(self, host: str, port: int, timeout: float, prefix: str | None = None):
        self.host, self.port, self.timeout, self.prefix = host, port, timeout, prefix

    def path(self, endpoint: str) -> str:
        return f"/{endpoint}" if self.prefix is None else f"{self.prefix}{EXTERNAL_PATHS[endpoint]}"

    def describe(self, endpoint: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path(endpoint)}"

    def call(self, endpoint: str, message: dict[str, Any]) -> Answer:
        url = self.describe(endpoint)
        if self.prefix is None:
            body, content_type = (
                urllib.parse.urlencode({"json": json.dumps(message)}),
                "application/x-www-form-urlencoded",
            )
        else:
            body, content_type = json.dumps(message), "application/json"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(
                "POST",
                self.path(endpoint),
                body=body,
                headers={"Content-Type": content_type, "Accept": "application/json"},
            )
            resp = conn.getresponse()
            status, raw = resp.status, resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable(f"cannot reach {url}: {exc}") from None
        finally:
            conn.close()
        log.debug("HTTP %s from %s: %r", status, url, raw[:2000])
        problems = [] if status == 200 else [f"HTTP status {status} from {url} (expected 200)"]
        try:
            body = json.loads(raw)
        except ValueError:
            text = raw[:200].decode("utf-8", "replace")
            return Answer(None, problems + [f"response body: not JSON: {text!r}"])
        if not isinstance(body, dict):
            return Answer(None, problems + [f"response body: expected a JSON object, got {type(body).__name__}"])
        return Answer(body, problems)


class GrpcTransport:
    """Unary calls on the ``Model``/``Generic`` services (a unit) or ``Seldon`` (the external API,
    with the routing metadata gateways expect), converting dicts with ``json_format``."""

    name = "gRPC"
    _unit_methods: ClassVar[dict[str, tuple[str, str, str]]] = {
        "predict": ("ModelStub", "Predict", "SeldonMessage"),
        "transform-input": ("GenericStub", "TransformInput", "SeldonMessage"),
        "send-feedback": ("ModelStub", "SendFeedback", "Feedback"),
    }
    _external_methods: ClassVar[dict[str, tuple[str, str, str]]] = {
        "predict": ("SeldonStub", "Predict", "SeldonMessage"),
        "send-feedback": ("SeldonStub", "SendFeedback", "Feedback"),
    }

    def __init__(self, host: str, port: int, timeout: float, metadata: list[tuple[str, str]] | None = None):
        import grpc  # imported here so REST-only use works without loading grpc

        from wharf.protocol.pb import prediction_pb2, prediction_pb2_grpc

        self.grpc, self.pb2, self.pb2_grpc = grpc, prediction_pb2, prediction_pb2_grpc
        self.host, self.port, self.timeout = host, port, timeout
        self._methods = self._unit_methods if metadata is None else self._external_methods
        self.metadata = metadata or None
        self.target = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
        self.channel = grpc.insecure_channel(
            self.target,
            options=[
                ("grpc.enable_http_proxy", 0),
                ("grpc.max_send_message_length", GRPC_MAX_MESSAGE),
                ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE),
            ],
        )

    def describe(self, endpoint: str) -> str:
        stub, method, _ = self._methods[endpoint]
        return f"grpc://{self.target} {stub[:-4]}.{method}"

    def call(self, endpoint: str, message: dict[str, Any]) -> Answer:
        from google.protobuf import json_format

        stub_name, method, message_type = self._methods[endpoint]
        try:
            request = json_format.ParseDict(message, getattr(self.pb2, message_type)())
        except json_format.ParseError as exc:
            return Answer(None, [f"request: cannot be encoded as a {message_type} protobuf: {exc}"])
        stub = getattr(self.pb2_grpc, stub_name)(self.channel)
        try:
            reply = getattr(stub, method)(request, timeout=self.timeout, metadata=self.metadata)
        except self.grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            text = f"gRPC {stub_name[:-4]}.{method} failed: {getattr(code, 'name', code)}: {details}"
            if code in (self.grpc.StatusCode.UNAVAILABLE, self.grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unreachable(f"{text} (target {self.target})") from None
            return Answer(None, [text])
        return Answer(json_format.MessageToDict(reply), [])

    def close(self) -> None:
        self.channel.close()


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Outcome:
    index: int
    problems: list[str]


def run(
    args: argparse.Namespace, contract: ct.Contract, transport: Any, out: TextIO, err: TextIO, rng: np.random.Generator
) -> list[Outcome]:
    """Send ``args.n_requests`` requests; return each one's problems. Stops early if the target is unreachable."""
    outcomes: list[Outcome] = []
    show: Callable[[str, Any], None] = (
        (lambda title, obj: print(f"{title}\n{json.dumps(obj, indent=None)}", file=out))
        if args.prnt
        else (lambda title, obj: None)
    )
    for i in range(1, args.n_requests + 1):
        batch = ct.generate_batch(contract, args.batch_size, rng)
        request = ct.build_request(contract, batch, tensor=args.tensor)
        if args.prnt:
            print("-" * 40, file=out)
        show("SENDING NEW REQUEST:", request)
        try:
            problems = _exchange(args, contract, transport, request, show)
        except Unreachable as exc:
            outcomes.append(Outcome(i, [str(exc)]))
            _report(outcomes[-1], err)
            if i < args.n_requests:
                print(
                    f"request {i}: target unreachable; the remaining {args.n_requests - i} requests were not sent",
                    file=err,
                )
            break
        outcomes.append(Outcome(i, problems))
        _report(outcomes[-1], err)
    return outcomes


def _exchange(
    args: argparse.Namespace,
    contract: ct.Contract,
    transport: Any,
    request: dict[str, Any],
    show: Callable[[str, Any], None],
) -> list[str]:
    if args.endpoint != "send-feedback":
        answer = transport.call(args.endpoint, request)
        show("RECEIVED RESPONSE:", answer.body)
        return answer.problems + _checked(contract, answer, args.batch_size, args.endpoint)

    predicted = transport.call("predict", request)
    show("RECEIVED PREDICTION:", predicted.body)
    problems = [f"predict: {p}" for p in predicted.problems + _checked(contract, predicted, args.batch_size, "predict")]
    if predicted.body is None or ct.failure_of(predicted.body):
        return problems + ["send-feedback: not sent, the prediction failed"]
    feedback = ct.build_feedback(request, predicted.body, reward=1.0)
    show("SENDING FEEDBACK:", feedback)
    answer = transport.call("send-feedback", feedback)
    show("RECEIVED RESPONSE:", answer.body)
    return problems + [
        f"send-feedback: {p}" for p in answer.problems + _checked(contract, answer, None, "send-feedback")
    ]


def _checked(contract: ct.Contract, answer: Answer, rows: int | None, endpoint: str) -> list[str]:
    if answer.body is None:
        return []
    return ct.check_response(contract, answer.body, rows=rows, endpoint=endpoint)


def _report(outcome: Outcome, err: TextIO) -> None:
    for problem in outcome.problems[:MAX_PROBLEMS_SHOWN]:
        print(f"request {outcome.index}: {problem}", file=err)
    hidden = len(outcome.problems) - MAX_PROBLEMS_SHOWN
    if hidden > 0:
        print(f"request {outcome.index}: ... and {hidden} more problem{'s' * (hidden != 1)}", file=err)


def main(
    argv: list[str] | None = None,
    prog: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    external: bool = False,
    external_flag: bool = False,
) -> int:
    """Entry point of ``wharf test`` (``--external``), ``seldon-core-tester`` and
    ``seldon-core-api-tester`` (``external=True``); returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    if argv is None:
        argv = sys.argv[1:]
    if "--external" in argv:
        argv, external = [a for a in argv if a != "--external"], True
    parser = build_parser(prog, external=external, external_flag=external_flag)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage or help already
        return int(exc.code or 0)
    logging.basicConfig(
        level=LOG_LEVELS[args.log_level],
        format="%(asctime)s - %(name)s:%(funcName)s:%(lineno)s - %(levelname)s:  %(message)s",
    )

    usage_errors = []
    if args.batch_size < 1:
        usage_errors.append(f"-b/--batch-size: expected a whole number >= 1, got {args.batch_size}")
    if args.n_requests < 1:
        usage_errors.append(f"-n/--n-requests: expected a whole number >= 1, got {args.n_requests}")
    if not 0 < args.port < 65536:
        usage_errors.append(f"port: expected 1-65535, got {args.port}")
    if args.timeout <= 0:
        usage_errors.append(f"--timeout: expected a positive number of seconds, got {args.timeout}")
    if usage_errors:
        for message in usage_errors:
            print(f"{parser.prog}: error: {message}", file=err)
        return 2

    try:
        with open(args.contract, "rb") as fh:
            text = fh.read()
    except OSError as exc:
        print(f"{parser.prog}: error: cannot read contract {args.contract}: {exc.strerror or exc}", file=err)
        return 2
    try:
        contract = ct.parse_contract(text, source=args.contract)
        if args.tensor and ct.tensor_problems(contract):
            raise ct.ContractError(ct.tensor_problems(contract))
    except ct.ContractError as exc:
        for problem in exc.problems:
            where = "" if problem.startswith(f"{args.contract}:") else f"{args.contract}: "
            print(f"{parser.prog}: error: {where}{problem}", file=err)
        return 2

    host = args.host.removeprefix("http://").rstrip("/")
    transport: Any
    if not external:
        transport = (
            GrpcTransport(host, args.port, args.timeout) if args.grpc else RestTransport(host, args.port, args.timeout)
        )
    else:
        deployment = args.deployment_flag or args.deployment or DEFAULT_DEPLOYMENT
        if args.grpc:
            metadata = (
                []
                if args.gateway == "seldon"
                else [("seldon", deployment)] + ([("namespace", args.namespace)] if args.namespace else [])
            )
            transport = GrpcTransport(host, args.port, args.timeout, metadata=metadata)
        else:
            transport = RestTransport(
                host, args.port, args.timeout, prefix=gateway_prefix(args.gateway, deployment, args.namespace)
            )
    rng = np.random.default_rng(args.seed)
    try:
        outcomes = run(args, contract, transport, out, err, rng)
    finally:
        if isinstance(transport, GrpcTransport):
            transport.close()

    failed = sum(1 for o in outcomes if o.problems)
    not_sent = args.n_requests - len(outcomes)
    payload = "tensor" if args.tensor else "ndarray"
    where = transport.describe(args.endpoint if args.endpoint != "send-feedback" else "predict")
    if args.endpoint == "send-feedback":
        where += " + send-feedback"
    verdict = "PASSED" if failed == 0 and not_sent == 0 else "FAILED"
    detail = f"{len(outcomes) - failed} of {args.n_requests} requests passed"
    if failed:
        detail += f", {failed} failed"
    if not_sent:
        detail += f", {not_sent} not sent"
    print(
        f"{verdict}: {detail} ({args.endpoint}, {transport.name}, {payload}, batch size {args.batch_size}, {where})",
        file=out,
    )
    return 0 if verdict == "PASSED" else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
