"""How many worker processes the server runs: one by default, so a unit that keeps state keeps one
state; more only when asked (--workers N|auto, GUNICORN_WORKERS), with a warning for units that
learn (route, send_feedback); bad values refused in one line with the usage exit code."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from support import (
    LIVE_SERVERS,
    MICROSERVICE,
    MODELS,
    Server,
    children_of,
    pid_alive,
    ports_args,
    run_to_exit,
    server_env,
    wait_until,
)

from wharf.local.process import free_port
from wharf.local.run import LocalGraph

CALLS = 20
ROUTER_ENV = {
    "PREDICTIVE_UNIT_ID": "router",
    "PREDICTIVE_UNIT_PARAMETERS": '[{"name":"needed","value":"5","type":"INT"}]',
}
SPLIT = "keeps its own copy of the object"


def counts(server: Server) -> list[int]:
    # httpx.post opens a new connection per call, so any worker may accept each one.
    return [server.predict({"data": {"ndarray": [[1]]}}).json()["jsonData"]["count"] for _ in range(CALLS)]


def feedback(server: Server, branch: int) -> None:
    r = server.post(
        "/send-feedback",
        json={
            "request": {"data": {"ndarray": [[1]]}},
            "response": {"meta": {"routing": {"router": branch}}},
            "reward": 1,
        },
    )
    assert r.status_code == 200, r.text


def route(server: Server) -> int:
    r = server.post("/route", json={"data": {"ndarray": [[1]]}})
    assert r.status_code == 200, r.text
    return r.json()["data"]["ndarray"][0][0]


# --- one state by default --------------------------------------------------------------------


def test_default_is_one_worker_and_a_counting_model_counts_every_request(serve):
    server = serve("CountingModel", workers=None)
    assert counts(server) == list(range(1, CALLS + 1))
    assert len(server.workers()) == 1
    assert SPLIT not in server.log()


def test_default_router_learns_from_every_feedback(serve):
    server = serve("LearningRouter", workers=None, env=ROUTER_ENV)
    assert route(server) == 0
    for _ in range(5):
        feedback(server, 1)
    assert [route(server) for _ in range(10)] == [1] * 10
    assert SPLIT not in server.log()


# --- more workers on request, with the warning -----------------------------------------------


def test_two_workers_for_a_router_warn_once_in_the_log(serve):
    server = serve("LearningRouter", workers=2, env=ROUTER_ENV)
    wait_until(lambda: len(server.workers()) == 2, 10, "2 workers")
    lines = [line for line in server.log().splitlines() if SPLIT in line]
    assert len(lines) == 1, server.log()
    assert "WARNING" in lines[0] and "route and send_feedback" in lines[0] and "2 worker processes" in lines[0]
    assert "--workers 1" in lines[0]


def test_warning_from_the_environment_says_how_to_undo_it(serve):
    server = serve("LearningRouter", workers=None, env={**ROUTER_ENV, "GUNICORN_WORKERS": "2"})
    wait_until(lambda: len(server.workers()) == 2, 10, "2 workers")
    assert "unset GUNICORN_WORKERS or set it to 1" in server.log()


def test_a_model_without_route_or_feedback_runs_two_workers_without_warning(serve):
    server = serve("CountingModel", workers=2)
    wait_until(lambda: len(server.workers()) == 2, 10, "2 workers")
    assert SPLIT not in server.log()


# --- where the count comes from --------------------------------------------------------------


def test_environment_sets_the_count(serve):
    server = serve("CountingModel", workers=None, env={"GUNICORN_WORKERS": "3"})
    wait_until(lambda: len(server.workers()) == 3, 10, "3 workers")


def test_flag_wins_over_the_environment(serve):
    server = serve("LearningRouter", workers=1, env={**ROUTER_ENV, "GUNICORN_WORKERS": "3"})
    time.sleep(1)  # time enough for extra workers to appear, were they started
    assert len(server.workers()) == 1
    assert SPLIT not in server.log()


def test_empty_environment_variable_means_the_default(serve):
    server = serve("CountingModel", workers=None, env={"GUNICORN_WORKERS": ""})
    assert counts(server)[-1] == CALLS


def start_pinned(tmp_path: Path, cpus: set[int], *args: str, prepare=None) -> Server:
    """A server whose process (and so its workers) may run only on ``cpus``; ``prepare`` runs in the
    child before the server starts (e.g. to join a cgroup)."""
    http, grpc_, metrics = free_port(), free_port(), free_port()
    argv = [
        MICROSERVICE,
        "CountingModel",
        "--host",
        "127.0.0.1",
        "--http-port",
        str(http),
        "--grpc-port",
        str(grpc_),
        "--metrics-port",
        str(metrics),
        *args,
    ]
    log_path = tmp_path / f"pinned-{http}.log"

    def pin() -> None:
        os.sched_setaffinity(0, cpus)
        if prepare:
            prepare()

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=str(MODELS),
            env=server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=pin,
        )
    server = Server("CountingModel", proc, http, grpc_, metrics, log_path, argv)
    LIVE_SERVERS.append(server)
    return server


def worker_count_logged(server: Server) -> int:
    wait_until(lambda: "worker(s)" in server.log() or server.proc.poll() is not None, 20, "the start-up line")
    line = next(line for line in server.log().splitlines() if "worker(s)" in line)
    return int(line.rsplit(" with ", 1)[1].split()[0])


def test_auto_is_one_per_cpu_of_the_affinity_mask(tmp_path):
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("needs a machine with at least 2 CPUs")
    for cpus in ({allowed[0]}, set(allowed[:2])):
        server = start_pinned(tmp_path, cpus, "--workers", "auto")
        try:
            assert worker_count_logged(server) == len(cpus), server.log()
            wait_until(lambda server=server, cpus=cpus: len(server.workers()) == len(cpus), 10, f"{len(cpus)} workers")
        finally:
            server.stop()


def _cpu_cgroup_v1() -> Path | None:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, tail = line.partition(" - ")
        tail_fields = tail.split()
        if len(tail_fields) >= 3 and tail_fields[0] == "cgroup" and "cpu" in tail_fields[2].split(","):
            return Path(fields.split()[4])
    return None


def test_auto_respects_the_cgroup_cpu_quota(tmp_path):
    """A real cgroup limited to one CPU (what a pod's CPU limit of 1 becomes): two CPUs in the
    affinity mask, one worker."""
    allowed = sorted(os.sched_getaffinity(0))
    mount = _cpu_cgroup_v1()
    if len(allowed) < 2 or mount is None or os.geteuid() != 0:
        pytest.skip("needs 2 CPUs, a cgroup v1 cpu hierarchy and root to make a cgroup")
    own = next(
        line.split(":", 2)[2]
        for line in Path("/proc/self/cgroup").read_text().splitlines()
        if "cpu" in line.split(":", 2)[1].split(",")
    )
    group = mount / own.lstrip("/") / f"wharf-test-{os.getpid()}"
    try:
        group.mkdir()
    except OSError as exc:
        pytest.skip(f"cannot make a cgroup here: {exc}")
    try:
        (group / "cpu.cfs_period_us").write_text("100000")
        (group / "cpu.cfs_quota_us").write_text("100000")
        join = lambda: (group / "cgroup.procs").write_text(str(os.getpid()))  # noqa: E731
        server = start_pinned(tmp_path, set(allowed[:2]), "--workers", "auto", prepare=join)
        try:
            assert worker_count_logged(server) == 1, server.log()
        finally:
            server.stop()
    finally:
        # Everything in this cgroup was started by this test: a worker still exiting after the
        # server's stop is ended by pid, so the group can be removed.
        for pid in (group / "cgroup.procs").read_text().split():
            if pid_alive(int(pid)):
                os.kill(int(pid), signal.SIGKILL)
        wait_until(lambda: not (group / "cgroup.procs").read_text().strip(), 30, "the cgroup to empty")
        group.rmdir()


# --- refused values --------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5"])
@pytest.mark.parametrize("where", ["flag", "env"])
def test_bad_worker_count_is_one_line_and_exit_2(value, where):
    args, env, name = (
        (["--workers", value], None, "--workers")
        if where == "flag"
        else ([], {"GUNICORN_WORKERS": value}, "GUNICORN_WORKERS")
    )
    done = run_to_exit(["CountingModel", *ports_args(), *args], env=env)
    assert done.returncode == 2, done.stdout
    out = done.stdout.strip()
    assert "\n" not in out and "Traceback" not in out, out
    assert name in out and repr(value) in out, out


# --- wharf run: a node gets the workers its SeldonDeployment asks for, as in a pod ----------


def one_node_sdep(env: list[dict]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "machinelearning.seldon.io/v1",
            "kind": "SeldonDeployment",
            "metadata": {"name": "w"},
            "spec": {
                "predictors": [
                    {
                        "name": "main",
                        "graph": {"name": "m", "type": "MODEL"},
                        "componentSpecs": [
                            {
                                "spec": {
                                    "containers": [
                                        {"name": "m", "env": [{"name": "MODEL_NAME", "value": "CountingModel"}, *env]}
                                    ]
                                }
                            }
                        ],
                    }
                ]
            },
        }
    )


@pytest.mark.parametrize("env, expected", [([], 1), ([{"name": "GUNICORN_WORKERS", "value": "2"}], 2)])
def test_wharf_run_node_workers_follow_the_container_env(tmp_path, monkeypatch, env, expected):
    monkeypatch.setenv("GUNICORN_WORKERS", "3")  # this shell's setting must not reach the node
    path = tmp_path / "sdep.yaml"
    path.write_text(one_node_sdep(env))
    graph = LocalGraph(
        path, sources={"m": str(MODELS)}, http_port=free_port(), grpc_port=free_port(), out=lambda _line: None
    )
    with graph:
        node = graph.process_ids()["m"]
        wait_until(lambda: len(children_of(node)) == expected, 10, f"{expected} workers")
        time.sleep(0.5)
        assert len(children_of(node)) == expected
