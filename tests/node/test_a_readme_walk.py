"""The README's deploy path, walked command by command on the real node, ending in a served prediction.

Every command of the README's "Build an image, deploy it, call it" section runs as written, in order,
in one shell session (environment and folder carry over from command to command, as in a terminal),
starting from a clean state: no node on the machine, no model image, the tools not on PATH. A command
the walk does not know (added or changed in the README) fails the test with its line number, so the
README cannot drift from what works. The few substitutions are listed in SUBSTITUTIONS, each with its
reason; one that no longer matches a command fails too.

docs/getting-started.md repeats those commands with what each prints; the last test checks that it
repeats them exactly, in the same order.

This file's name sorts before every test that uses the session's ``kube_node`` (test_b_..., test_e2e_...):
the walk starts and stops its own node with `invoke cluster.up --kubelet` / `cluster.down`, as the
README says, and a machine holds one node at a time.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from markdown_commands import Command, sh_commands
from node_support import ROOT, iris_answer

README = ROOT / "README.md"
GETTING_STARTED = ROOT / "docs" / "getting-started.md"
DEPLOY_SECTION = "Build an image, deploy it, call it"
# The README's other sections and why this walk leaves them to other tests. A new section fails the
# test until it is walked here or said here.
OTHER_SECTIONS = {
    "": "`make demo` and `make test`: CI runs `make test` itself; tests/unit/test_demo*.py run the demo",
    "Serve a model class": "the component server on fixed ports; tests/integration run its commands",
    "Run a whole graph without a cluster": "`wharf run` on fixed ports; tests/integration/test_local_run*.py",
}

IMAGE = "iris:0.1"
TEST_IMAGE = "wharf-test/iris:readme-walk"
LOCAL_PORT = "8000"


@dataclass(frozen=True)
class Substitution:
    old: str
    new: str
    why: str


def substitutions(port: int) -> tuple[Substitution, ...]:
    return (
        Substitution(IMAGE, TEST_IMAGE, "images a test builds are tagged under wharf-test/ and removed afterwards"),
        Substitution(
            f"{LOCAL_PORT}:8000",
            f"{port}:8000",
            "the local end of the port-forward: 8000 may be taken on a machine that runs other tests",
        ),
        Substitution(f"localhost:{LOCAL_PORT}/", f"localhost:{port}/", "the same local port, where curl calls it"),
    )


# How each command of the section runs: "run" (to the end, exit code 0), "background" (a command
# ending in `&`: started, left running, stopped by pid at the end, as the shell's job would be).
# After-steps do what the README's comment tells the reader to do with the output.
KNOWN = {
    "make venv": "run",
    'eval "$(.venv/bin/invoke tools --export)"': "run",
    f"invoke build --source examples/models/iris --image {IMAGE}": "run",
    f"s2i build examples/models/iris wharf/python-builder:0.1.0 {IMAGE}": "run",
    "wharf render examples/graphs/ab-router.yaml": "run",
    "invoke tools --cluster": "run",
    "invoke cluster.up --kubelet": "run, then the export line it prints",
    f"invoke cluster.load --wharf -i {IMAGE}": "run",
    "helm install wharf charts/wharf-core -n wharf-system --create-namespace": "run",
    f"helm install iris charts/wharf-model --set model.image={IMAGE}": "run, then check its notes",
    "kubectl wait sdep/iris --for=jsonpath='{.status.state}'=Available --timeout=5m": "run",
    f"kubectl port-forward svc/iris-default {LOCAL_PORT}:8000 &": "background",
    f"curl -s localhost:{LOCAL_PORT}/api/v1.0/predictions -H 'Content-Type: application/json' "
    """-d '{"data":{"ndarray":[[5.1,3.5,1.4,0.2]]}}'""": "run, then check the answer",
    "invoke cluster.down": "run",
}
ROW = [[5.1, 3.5, 1.4, 0.2]]


@dataclass
class Shell:
    """One bash session, run a command at a time: exports, `eval` and `cd` carry over to the next."""

    cwd: Path
    env: dict[str, str]
    state: Path
    background: list[subprocess.Popen] = field(default_factory=list)

    def run(self, command: str, timeout: float) -> subprocess.CompletedProcess:
        script = (
            f"{command}\n__rc=$?\nenv -0 > {shlex.quote(str(self.state / 'env'))}\n"
            f"pwd > {shlex.quote(str(self.state / 'pwd'))}\nexit $__rc\n"
        )
        proc = subprocess.run(
            ["bash", "-c", script], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        env = (self.state / "env").read_bytes().decode()
        self.env = dict(item.split("=", 1) for item in env.split("\0") if "=" in item)
        self.cwd = Path((self.state / "pwd").read_text().strip())
        return proc

    def start(self, command: str, log: Path) -> subprocess.Popen:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.background.append(proc)
        return proc

    def stop_background(self) -> None:
        for proc in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)


def deploy_commands() -> list[Command]:
    commands = sh_commands(README)
    sections = {c.section for c in commands}
    unknown = sections - set(OTHER_SECTIONS) - {DEPLOY_SECTION}
    assert not unknown, f"README sections with commands the walk neither runs nor names: {sorted(unknown)}"
    assert DEPLOY_SECTION in sections, f"the README has no section {DEPLOY_SECTION!r} with sh blocks"
    return [c for c in commands if c.section == DEPLOY_SECTION]


def substitute(text: str, subs: tuple[Substitution, ...], used: set[str]) -> str:
    for sub in subs:
        if sub.old in text:
            text = text.replace(sub.old, sub.new)
            used.add(sub.old)
    return text


def clean_path(path: str) -> str:
    """PATH without the folders `invoke tools` would add: the walk must put them there itself."""
    cache = str(Path.home() / ".cache" / "wharf")
    venv = str(Path(sys.executable).parent)
    return ":".join(p for p in path.split(":") if p and p != venv and not p.startswith(cache))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the background command ended (exit {proc.returncode}):\n{log.read_text()}"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listened on 127.0.0.1:{port} after {timeout:.0f} s:\n{log.read_text()}")


def docker_rmi(image: str) -> None:
    subprocess.run(["docker", "rmi", "--force", image], capture_output=True)


@pytest.mark.kubelet
@pytest.mark.docker
@pytest.mark.timeout(3600)  # cold, `invoke cluster.load --wharf` builds Wharf's images here
def test_readme_deploy_path_serves_a_prediction(tmp_path):
    from wharf.testing import infra, node

    problems = node.missing_prerequisites()
    if problems:
        infra.unavailable("a real Kubernetes node", "it needs " + "; ".join(problems))
    assert node.live_node_processes() == {}, "a Wharf node already runs on this machine: the walk needs a clean one"
    commands = deploy_commands()
    unknown = [f"README.md:{c.line}: {c.text}" for c in commands if c.text not in KNOWN]
    assert not unknown, "README commands the walk does not know how to run (say how in KNOWN):\n" + "\n".join(unknown)

    port = free_port()
    subs, used = substitutions(port), set()
    docker_rmi(TEST_IMAGE)
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "VIRTUAL_ENV")}
    env["PATH"] = clean_path(env.get("PATH", "/usr/bin:/bin"))
    shell = Shell(ROOT, env, tmp_path)
    timings: list[str] = []
    cluster_up = served = False
    try:
        for command in commands:
            how = KNOWN[command.text]
            text = substitute(command.text, subs, used)
            started = time.monotonic()
            if how == "background":
                log = tmp_path / f"background-{command.line}.log"
                proc = shell.start(text.removesuffix("&").rstrip(), log)
                wait_for_port(port, proc, log)
                timings.append(f"{time.monotonic() - started:7.1f} s  {text}")
                continue
            done = shell.run(text, timeout=2400)
            timings.append(f"{time.monotonic() - started:7.1f} s  {text}")
            assert done.returncode == 0, (
                f"README.md:{command.line}: `{text}` exited {done.returncode}\n"
                f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
            )
            if command.text == "invoke cluster.up --kubelet":
                cluster_up = True
                export = [line for line in done.stdout.splitlines() if line.startswith("export KUBECONFIG=")]
                assert len(export) == 1, f"cluster.up printed no single export line:\n{done.stdout}"
                assert shell.run(export[0], timeout=10).returncode == 0
            elif command.text == "invoke cluster.down":
                cluster_up = False
            elif command.text.startswith("helm install iris "):
                # the chart's notes print the README's call commands, for the release's namespace
                for call in (c.text for c in commands if c.text.startswith(("kubectl wait", "kubectl port-forward"))):
                    assert call.replace("kubectl ", "kubectl -n default ", 1) in done.stdout, (call, done.stdout)
            elif how == "run, then check the answer":
                answer = json.loads(done.stdout)
                np.testing.assert_allclose(answer["data"]["ndarray"], iris_answer(ROW), rtol=1e-6, err_msg=str(answer))
                served = True
        assert used == {s.old for s in subs}, (
            f"substitutions that match no README command: {[s.old for s in subs if s.old not in used]}"
        )
    finally:
        shell.stop_background()
        if cluster_up:
            subprocess.run([sys.executable, "-m", "invoke", "cluster.down"], cwd=ROOT, capture_output=True, timeout=300)
        docker_rmi(TEST_IMAGE)
        print("README walk, time per command:\n" + "\n".join(timings))
    assert served, "the walk ended without a prediction"


def test_getting_started_repeats_the_readme_deploy_commands():
    page = [c.text for c in sh_commands(GETTING_STARTED)]
    readme = [c.text for c in deploy_commands()]
    assert page == readme
