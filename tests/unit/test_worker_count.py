"""The worker count: parsing, precedence, the split-state warning, and reading a CPU quota from the
cgroup files laid out as a container sees them (v1 inside Docker, v2 inside a pod).

The real cgroup and affinity cases run in tests/integration/test_workers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from wharf.server.workers import (
    WorkersError,
    cgroup_cpu_limit,
    parse_workers,
    resolve_workers,
    split_state_warning,
    usable_cpus,
)


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


V1_MOUNTINFO = (
    "30 25 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n"
    "31 30 0:27 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n"
    "32 30 0:28 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"
)
V1_CGROUP = "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/system.slice/docker.service\n"


def test_v1_quota_of_a_docker_container(tmp_path):
    # docker run --cpus 1.5: the container sees its own cgroup at the mount point
    write(tmp_path, "proc/self/mountinfo", V1_MOUNTINFO)
    write(tmp_path, "proc/self/cgroup", V1_CGROUP)
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "150000\n")
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5


def test_v1_unlimited(tmp_path):
    write(tmp_path, "proc/self/mountinfo", V1_MOUNTINFO)
    write(tmp_path, "proc/self/cgroup", V1_CGROUP)
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n")
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    assert cgroup_cpu_limit(tmp_path) is None


def test_v2_the_tightest_of_the_cgroup_and_its_ancestors(tmp_path):
    # a host view of a pod: the pod's cgroup caps at 0.5 CPU, the container's own at 2
    write(tmp_path, "proc/self/mountinfo", "40 1 0:35 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    write(tmp_path, "proc/self/cgroup", "0::/kubepods/pod1/ctr\n")
    write(tmp_path, "sys/fs/cgroup/kubepods/cpu.max", "max 100000\n")
    write(tmp_path, "sys/fs/cgroup/kubepods/pod1/cpu.max", "50000 100000\n")
    write(tmp_path, "sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "200000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == 0.5


def test_no_cgroup_files_means_no_limit(tmp_path):
    assert cgroup_cpu_limit(tmp_path) is None


def test_usable_cpus_rounds_a_quota_down_but_never_below_one(tmp_path):
    write(tmp_path, "proc/self/mountinfo", "40 1 0:35 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    write(tmp_path, "proc/self/cgroup", "0::/\n")
    write(tmp_path, "sys/fs/cgroup/cpu.max", "50000 100000\n")
    assert usable_cpus(tmp_path) == 1


@pytest.mark.parametrize("raw, expected", [("1", 1), (" 4 ", 4), ("AUTO", 7), ("auto", 7)])
def test_parse(raw, expected):
    assert parse_workers(raw, "--workers", cpus=lambda: 7) == expected


@pytest.mark.parametrize("raw", ["0", "-2", "two", "", "1.0"])
def test_parse_refuses_naming_the_source(raw):
    with pytest.raises(WorkersError, match="GUNICORN_WORKERS"):
        parse_workers(raw, "GUNICORN_WORKERS")


def test_flag_then_environment_then_one():
    assert resolve_workers("2", "3") == (2, "--workers")
    assert resolve_workers(None, "3") == (3, "GUNICORN_WORKERS")
    assert resolve_workers(None, "") == (1, "default")
    assert resolve_workers(None, None) == (1, "default")


def test_warning_only_for_stateful_units_in_several_workers():
    assert split_state_warning("R", ["route"], 1, "default") is None
    assert split_state_warning("M", [], 4, "--workers") is None
    text = split_state_warning("R", ["route", "send_feedback"], 2, "--workers")
    assert text is not None and "\n" not in text and "--workers 1" in text
