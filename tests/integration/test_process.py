"""The server as a process: loading, parameters, CLI, start-up, shutdown,
worker supervision."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import grpc
import httpx
import pytest
from google.protobuf import json_format
from support import MODELS, children_of, pid_alive, ports_args, run_to_exit, wait_until

from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as rpc

PARAMS = [
    {"name": "int_p", "value": "7", "type": "INT"},
    {"name": "float_p", "value": "1.5", "type": "FLOAT"},
    {"name": "double_p", "value": "-2.25", "type": "DOUBLE"},
    {"name": "string_p", "value": "hello world", "type": "STRING"},
    {"name": "bool_t", "value": "true", "type": "BOOL"},
    {"name": "bool_f", "value": "0", "type": "BOOL"},
]
EXPECTED_PARAMS = {
    "int_p": ["int", 7],
    "float_p": ["float", 1.5],
    "double_p": ["float", -2.25],
    "string_p": ["str", "hello world"],
    "bool_t": ["bool", True],
    "bool_f": ["bool", False],
}


# --- parameters (2.5) ------------------------------------------------------------------------


def test_parameters_of_every_type_reach_init(serve):
    server = serve("ParamModel", "--parameters", json.dumps(PARAMS))
    assert server.predict({"strData": "x"}).json()["jsonData"] == EXPECTED_PARAMS


def test_parameters_from_environment(serve):
    server = serve("ParamModel", env={"PREDICTIVE_UNIT_PARAMETERS": json.dumps(PARAMS)})
    assert server.predict({"strData": "x"}).json()["jsonData"] == EXPECTED_PARAMS


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"name": "int_p", "value": "seven", "type": "INT"}, ["int_p", "seven", "INT"]),
        ({"name": "float_p", "value": "1,5", "type": "FLOAT"}, ["float_p", "1,5", "FLOAT"]),
        ({"name": "bool_t", "value": "maybe", "type": "BOOL"}, ["bool_t", "maybe", "BOOL"]),
        ({"name": "config", "value": "{}", "type": "JSON"}, ["config", "JSON", "Bad model parameter type"]),
    ],
)
def test_bad_parameter_aborts_startup(bad, words):
    params = [p for p in PARAMS if p["name"] != bad["name"]] + [bad]
    done = run_to_exit(["ParamModel", *ports_args(), "--parameters", json.dumps(params)])
    assert done.returncode != 0, done.stdout
    for word in words:
        assert word in done.stdout, done.stdout
    assert "Traceback" not in done.stdout


def test_malformed_parameters_json_aborts_startup():
    done = run_to_exit(["ParamModel", *ports_args()], env={"PREDICTIVE_UNIT_PARAMETERS": "[{not json"})
    assert done.returncode != 0
    assert "PREDICTIVE_UNIT_PARAMETERS" in done.stdout


def test_missing_constructor_argument_aborts_startup():
    done = run_to_exit(["ParamModel", *ports_args(), "--parameters", json.dumps(PARAMS[:2])])
    assert done.returncode != 0
    assert "ParamModel" in done.stdout and "double_p" in done.stdout


# --- loading the class (2.2) -----------------------------------------------------------------


def test_missing_module_names_the_file():
    done = run_to_exit(["NoSuchModel", *ports_args()])
    assert done.returncode != 0
    assert "NoSuchModel.py" in done.stdout and str(MODELS) in done.stdout, done.stdout


def test_missing_class_names_the_file():
    done = run_to_exit(["EmptyModel.NotThere", *ports_args()])
    assert done.returncode != 0
    assert str(MODELS / "EmptyModel.py") in done.stdout and "NotThere" in done.stdout, done.stdout


def test_dotted_name_and_model_folder_from_cwd(serve, tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "impl.py").write_text(
        "class Deep:\n    def predict(self, X, names, meta=None):\n        return 'deep:' + X\n"
    )
    server = serve("pkg.impl.Deep", cwd=tmp_path)
    assert server.predict({"strData": "x"}).json()["strData"] == "deep:x"


def test_syntax_error_names_file_and_line(tmp_path):
    (tmp_path / "Broken.py").write_text("class Broken:\n    def predict(self X):\n        pass\n")
    done = run_to_exit(["Broken", *ports_args()], cwd=tmp_path)
    assert done.returncode != 0
    assert "Broken.py:2" in done.stdout, done.stdout


# --- command line (2.6) ----------------------------------------------------------------------


def test_legacy_positional_api_type_is_accepted_with_a_warning(serve):
    # pre-1.5 usage: seldon-core-microservice MODEL REST --service-type MODEL --persistence 0
    server = serve("EmptyModel", "--service-type", "MODEL", "--persistence", "0", positionals=["REST"])
    assert server.post("/transform-input", json={"strData": "legacy"}).json()["strData"] == "legacy"
    log = server.log()
    assert "deprecated" in log and "'REST'" in log, log


def test_persistence_is_ignored_with_an_error_logged(serve):
    server = serve("EmptyModel", "--persistence", "1")
    assert "Persistence: ignored" in server.log()


def test_unknown_arguments_fail():
    done = run_to_exit(["EmptyModel", *ports_args(), "--no-such-flag"])
    assert done.returncode != 0
    assert "--no-such-flag" in done.stdout
    done = run_to_exit(["EmptyModel", "REST", "extra", *ports_args()])
    assert done.returncode != 0


def test_workers_flag_forks_that_many(serve):
    server = serve("PidModel", workers=3)
    wait_until(lambda: len(server.workers()) == 3, 10, "3 workers")


def test_grpc_workers_zero_disables_grpc(serve):
    server = serve("EmptyModel", "--grpc-workers", "0")
    assert server.post("/transform-input", json={"strData": "s"}).status_code == 200
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.1", server.grpc_port)) != 0


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp{,6} spell them) of sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in list(fh)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def test_host_flag_binds_every_port_to_loopback(serve):
    server = serve("EmptyModel")
    with socket.create_connection(("127.0.0.1", server.grpc_port), timeout=5):
        pass
    for port in (server.http_port, server.grpc_port, server.metrics_port):
        addresses = listening_addresses(port)
        assert addresses and addresses <= LOOPBACK, (port, addresses)


# --- start-up and shutdown (2.8) ----------------------------------------------------------------


def test_slow_load_health_answers_ready_waits_predictions_wait(serve):
    server = serve("SlowLoadModel", env={"SLOW_LOAD_SECONDS": "3"}, wait="ping")
    started = time.monotonic()
    assert server.get("/health/ping").text == "pong"
    ready = server.get("/ready")
    assert ready.status_code == 503, ready.text
    grpc_result: dict = {}

    def grpc_call() -> None:
        with grpc.insecure_channel(server.grpc_target) as ch:
            out = rpc.ModelStub(ch).Predict(pb.SeldonMessage(strData="x"), timeout=30, wait_for_ready=True)
            grpc_result["loaded"] = json_format.MessageToDict(out)["jsonData"]["loaded"]

    thread = threading.Thread(target=grpc_call)
    thread.start()
    r = server.predict({"strData": "x"}, path="/predict")
    waited = time.monotonic() - started
    assert r.status_code == 200, r.text
    assert r.json()["jsonData"] == {"loaded": True}
    assert waited > 1.0
    assert server.get("/ready").status_code == 200
    thread.join(30)
    assert grpc_result == {"loaded": True}


def test_failing_load_stops_the_server():
    done = run_to_exit(["FailingLoadModel", *ports_args()], timeout=40)
    assert done.returncode != 0
    assert "cannot find the model weights" in done.stdout


def test_sigterm_lets_in_flight_request_finish(serve, tmp_path):
    server = serve("SlowPredictModel")
    result: dict = {}
    marker = tmp_path / "in-predict"

    def call() -> None:
        try:
            r = httpx.post(server.url + "/predict", json={"jsonData": {"sleep": 2, "marker": str(marker)}}, timeout=30)
            result["status"], result["body"] = r.status_code, r.json()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            result["error"] = repr(exc)

    thread = threading.Thread(target=call)
    thread.start()
    wait_until(marker.exists, 20, "the request to reach predict()")
    workers = server.workers()
    os.kill(server.pid, signal.SIGTERM)
    thread.join(30)
    assert result.get("status") == 200, (result, server.log())
    assert result["body"]["jsonData"]["slept"] == 2
    assert server.wait_exit(30) == 0, server.log()
    assert not any(pid_alive(pid) for pid in workers)


def test_sigterm_when_idle_exits_zero(serve):
    server = serve("EmptyModel", workers=2)
    workers = server.workers()
    assert len(workers) == 2
    os.kill(server.pid, signal.SIGTERM)
    assert server.wait_exit(20) == 0, server.log()
    assert not any(pid_alive(pid) for pid in workers)


def test_killed_worker_is_replaced(serve):
    server = serve("PidModel", workers=2)
    wait_until(lambda: len(server.workers()) == 2, 10, "2 workers")
    before = server.workers()
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in server.workers() and len(server.workers()) == 2, 15, "a replacement worker")
    after = server.workers()
    assert before[1] in after
    replacement = (set(after) - set(before)).pop()
    seen = set()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and replacement not in seen:
        # a fresh connection each time, so that both workers get a chance to accept
        r = httpx.post(server.url + "/predict", json={"strData": "x"}, timeout=10)
        assert r.status_code == 200, r.text
        seen.add(r.json()["jsonData"]["pid"])
    assert victim not in seen
    assert server.proc.poll() is None
    assert httpx.get(server.url + "/ready", timeout=5).status_code == 200
    assert httpx.get(server.metrics_url + "/metrics", timeout=5).status_code == 200
    assert children_of(server.pid) == sorted(after)


@pytest.mark.parametrize("which", ["--http-port", "--grpc-port", "--metrics-port"])
def test_port_in_use_fails_fast_naming_the_port(which):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ports_args()
        args[args.index(which) + 1] = str(port)
        started = time.monotonic()
        done = run_to_exit(["EmptyModel", *args], timeout=40)
    assert done.returncode != 0
    assert str(port) in done.stdout, done.stdout
    assert time.monotonic() - started < 10
    assert done.stdout.count("Traceback") == 0, done.stdout


def test_max_requests_replaces_the_worker_and_keeps_serving(serve) -> None:
    server = serve("PidModel", "--max-requests", "5", workers=1)
    pids = []
    for _ in range(60):
        response = server.predict({"data": {"ndarray": [1]}})
        assert response.status_code == 200, response.text
        pids.append(response.json()["jsonData"]["pid"])
        time.sleep(0.02)
    # Each worker retires soon after 5 requests (its check runs every 0.2 s) and a new one (new
    # pid) takes over; no request is refused meanwhile.
    assert len(set(pids)) >= 3, pids
    assert "retired; starting a new one" in server.log()
    assert server.proc.poll() is None
