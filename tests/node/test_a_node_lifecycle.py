"""`invoke cluster.up --kubelet` and `cluster.down`: a node that really runs pods, and nothing left after it.

This file's name sorts first in tests/node on purpose: it starts and stops a node of its own, and a
machine holds one node at a time, so it must run before the session's ``kube_node`` starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wharf.testing import infra, node

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.kubelet


def host_snapshot() -> dict:
    """What a node may change on the host, read directly from the kernel."""
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    chains = {}
    for table in ("filter", "nat", "mangle"):
        listing = subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True).stdout
        chains[table] = sorted(line for line in listing.splitlines() if any(p in line for p in node.CHAIN_PREFIXES))
    return {
        "links": sorted(name for name in (node.BRIDGE,) if f" {name}:" in links or f" {name}@" in links),
        "chains": chains,
        "sysctls": node.read_sysctls(),
        "kubepods": [str(p) for p in node.kubepods_cgroups()],
    }


def invoke(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "XDG_CACHE_HOME": os.environ["WHARF_TEST_CACHE"]},
    )


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    """A cache folder of the test's own for the cluster state; binaries stay where they were built."""
    from wharf.testing import kube_binaries

    monkeypatch.setenv("WHARF_KUBE_BIN_DIR", str(kube_binaries.bin_dir()))
    monkeypatch.setenv("WHARF_TEST_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_up_runs_a_pod_and_down_leaves_the_host_as_it_was(cache_home):
    problems = node.missing_prerequisites()
    if problems:
        infra.unavailable("a real Kubernetes node", "it needs " + "; ".join(problems))
    before = host_snapshot()
    assert not before["links"], f"a node is already running on this machine: {before['links']}"
    up = invoke("cluster.up", "--kubelet")
    work = cache_home / "wharf" / "cluster"
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"export KUBECONFIG={work / 'admin.kubeconfig'}" in up.stdout
        state = json.loads((work / "state.json").read_text())
        pids = [p["pid"] for p in state["processes"] + state["node"]["processes"]]
        names = {p["name"] for p in state["node"]["processes"]}
        assert names == {"containerd", "kubelet", "kube-proxy", "coredns", "metrics-server"}
        # cluster.up returned only after a pod ran to completion on the node
        during = host_snapshot()
        assert during["links"] == [node.BRIDGE]
        assert during["chains"]["nat"], "kube-proxy wrote no iptables rules"
        assert f"-A OUTPUT -j {node.SERVICE_RANGE_CHAIN}" in during["chains"]["filter"]
        assert during["kubepods"]

        # a second cluster on the same machine is refused with the reason
        again = invoke("cluster.up", "--kubelet")
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        down = invoke("cluster.down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "kubelet" in down.stdout and "containerd" in down.stdout
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1]
    assert node.shim_pids(node.Layout(work).containerd_socket) == []
    assert node.mounts_under(work) == [] and node.mounts_under(node.Layout(work).node) == []
    assert not node.Layout(work).node.exists()
    assert host_snapshot() == before


def test_a_node_killed_before_it_stopped_is_reclaimed_by_the_next_one(cache_home):
    """A CI job that runs out of time is killed with its process group: no teardown runs. The next
    node on the machine must not be refused for the bridge, chains and folders the dead one left."""
    import signal

    problems = node.missing_prerequisites()
    if problems:
        infra.unavailable("a real Kubernetes node", "it needs " + "; ".join(problems))
    before = host_snapshot()
    up = invoke("cluster.up", "--kubelet")
    work = cache_home / "wharf" / "cluster"
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        state = json.loads((work / "state.json").read_text())
        folder = node.Layout(work).node
        assert json.loads((folder / node.HOST_SYSCTLS_FILE).read_text()) == before["sysctls"]
        for process in state["processes"] + state["node"]["processes"]:
            os.kill(process["pid"], signal.SIGKILL)
        # SIGKILL is delivered, not awaited: a kubelet inside a mount or cgroup call dies when the
        # call returns (seen here on a loaded machine, still listed right after the kill)
        deadline = time.monotonic() + 30
        while node.live_node_processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert node.live_node_processes() == {}
        left = host_snapshot()
        assert left["links"] == [node.BRIDGE] and left["chains"]["nat"] and folder.exists()

        again = invoke("cluster.up", "--kubelet")
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"link {node.BRIDGE}" in again.stderr and str(folder) in again.stderr
        # a live node is never reclaimed: it is named and the new one refused
        third = subprocess.run(
            [sys.executable, "-c", "from wharf.testing import node; node.start_cluster()"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert third.returncode != 0 and "another Wharf node runs on this machine (pid" in third.stderr
    finally:
        down = invoke("cluster.down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert host_snapshot() == before
