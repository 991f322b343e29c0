"""Starting and stopping the control plane leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wharf.testing import apiserver, infra, kube_binaries

pytestmark = pytest.mark.apiserver


@pytest.fixture(autouse=True)
def binaries():
    missing = kube_binaries.missing_binaries()
    if missing:
        infra.unavailable("the Kubernetes control plane", apiserver.missing_binary_message(missing))


def gone(pid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # a zombie is gone for our purposes: it no longer runs
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
        except (OSError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.2)
    return False


def test_up_and_down_for_humans(tmp_path):
    work = tmp_path / "cluster"
    plane = apiserver.cluster_up(work)
    pids = [p.pid for p in plane.processes]
    try:
        state = json.loads((work / "state.json").read_text())
        assert [p["pid"] for p in state["processes"]] == pids
        with pytest.raises(apiserver.HarnessError, match="already running"):
            apiserver.cluster_up(work)
        assert plane.get("/readyz")[0] == 200
    finally:
        stopped = apiserver.cluster_down(work)
    assert "kube-apiserver" in stopped and "etcd" in stopped
    assert all(gone(pid) for pid in pids)
    assert not (work / "state.json").exists()
    assert apiserver.cluster_down(work) == []


def test_control_plane_dies_with_a_killed_test_process(tmp_path):
    """A pytest run killed with SIGKILL cannot tear down; the kernel must still stop its children."""
    script = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from wharf.testing.apiserver import start_control_plane\n"
        "plane = start_control_plane(work=Path(sys.argv[1]), controller_manager=False, kwok=False)\n"
        "print(json.dumps([p.pid for p in plane.processes]), flush=True)\n"
        "time.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "w")], stdout=subprocess.PIPE, text=True)
    try:
        pids = json.loads(child.stdout.readline())
        assert len(pids) == 2
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert all(gone(pid) for pid in pids)


def test_warm_build_task_only_checks_the_cache():
    root = Path(__file__).resolve().parents[2]
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "cluster.build-binaries", "--core"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"cache key: {kube_binaries.cache_key()}" in proc.stdout
    assert f"build log: {kube_binaries.bin_dir() / 'build.log'}" in proc.stdout
    assert "kube-apiserver: cached" in proc.stdout and "building" not in proc.stdout
    assert f"kube-apiserver: Kubernetes v{kube_binaries.KUBERNETES_VERSION}" in proc.stdout
    assert time.monotonic() - started < 60
