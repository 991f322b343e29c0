"""How many worker processes a component server runs, and the warning when that splits a unit's state.

One worker is the default, as in upstream's wrapper. Each worker holds its own copy of the user's
object, so a unit that keeps state in memory (a bandit router learning from ``send_feedback``, a
model counting its requests) has as many states as workers, and which one a request meets depends
on which worker the kernel hands the connection to. More workers are an explicit choice: a number,
or ``auto`` for one per CPU this process may use (its affinity mask and its cgroup's CPU quota,
which is what a Kubernetes CPU limit becomes).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

AUTO = "auto"
FLAG = "--workers"
ENV = "GUNICORN_WORKERS"  # upstream's variable; its flag's default, so the flag wins
DEFAULT = 1

# Methods whose whole point is state shared across requests: a router learns from the feedback on
# the requests it routed. With several workers, feedback lands in whichever worker accepts it, not
# the one that routed. Other methods (predict) may keep state too, but nearly all models do not,
# and a warning every stateless model prints would soon be ignored.
STATEFUL_METHODS = ("route", "send_feedback")


class WorkersError(ValueError):
    """A worker count that cannot be used; the message names the flag or variable."""


def parse_workers(raw: str, source: str, cpus: Callable[[], int] | None = None) -> int:
    """``raw`` (a whole number >= 1, or ``auto``) from ``source`` (flag or variable name) as a count."""
    text = raw.strip()
    if text.lower() == AUTO:
        return (cpus or usable_cpus)()
    try:
        count = int(text)
    except ValueError:
        raise WorkersError(f"{source}: expected a whole number of at least 1 or '{AUTO}', got {raw!r}") from None
    if count < 1:
        raise WorkersError(f"{source}: must be at least 1 (or '{AUTO}'), got {raw!r}")
    return count


def resolve_workers(flag: str | None, env: str | None) -> tuple[int, str]:
    """The worker count and where it came from: the flag, else the variable, else one."""
    if flag is not None:
        return parse_workers(flag, FLAG), FLAG
    if env not in (None, ""):  # an empty variable is unset, as for the server's other variables
        return parse_workers(env, ENV), ENV
    return DEFAULT, "default"


def split_state_warning(unit: str, provided: list[str], workers: int, source: str) -> str | None:
    """One line for the log when a unit with ``STATEFUL_METHODS`` runs in several workers, else None."""
    if workers <= 1 or not provided:
        return None
    undo = f"unset {ENV} or set it to 1" if source == ENV else f"start it with {FLAG} 1"
    return (
        f"{unit} defines {' and '.join(provided)} and runs in {workers} worker processes: each worker "
        f"keeps its own copy of the object, so what it learns from feedback (and anything else it keeps in "
        f"memory) is split {workers} ways; for one state per replica, {undo}"
    )


def usable_cpus(root: Path = Path("/")) -> int:
    """CPUs this process may run on: its affinity mask, capped by its cgroup's CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        # Rounded down: a worker beyond the quota only makes the others wait for CPU time.
        count = min(count, max(1, math.floor(limit)))
    return max(1, count)


def cgroup_cpu_limit(root: Path = Path("/")) -> float | None:
    """CPUs allowed by the CFS quota of this process's cgroup or any ancestor (v1 or v2), or None.

    ``root`` is where ``/proc`` and the cgroup mounts are found (``/`` but for tests).
    """
    try:
        mountinfo = (root / "proc/self/mountinfo").read_text()
        membership = (root / "proc/self/cgroup").read_text()
    except OSError:
        return None
    limits = []
    for version, mount_root, mountpoint in _cpu_mounts(mountinfo):
        path = _cgroup_path(membership, version)
        if path is None:
            continue
        # The mount shows the hierarchy from mount_root down: inside a container it is often the
        # container's own cgroup, while /proc/self/cgroup still gives the full path.
        rel = path[len(mount_root) :] if path.startswith(mount_root) else ""
        top = root / mountpoint.lstrip("/")
        here = top / rel.strip("/")
        while True:
            limit = _read_limit(here, version)
            if limit is not None:
                limits.append(limit)
            if here == top or top not in here.parents:
                break
            here = here.parent
    return min(limits) if limits else None


def _cpu_mounts(mountinfo: str) -> list[tuple[int, str, str]]:
    """(cgroup version, mount root, mount point) of the mounts that hold the cpu controller."""
    mounts = []
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        fstype, options = tail[0], tail[2].split(",")
        if fstype == "cgroup" and "cpu" in options:
            mounts.append((1, fields[3], fields[4]))
        elif fstype == "cgroup2":
            mounts.append((2, fields[3], fields[4]))
    return mounts


def _cgroup_path(membership: str, version: int) -> str | None:
    for line in membership.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if version == 2 and parts[0] == "0" and parts[1] == "":
            return parts[2]
        if version == 1 and "cpu" in parts[1].split(","):
            return parts[2]
    return None


def _read_limit(folder: Path, version: int) -> float | None:
    try:
        if version == 1:
            quota = int((folder / "cpu.cfs_quota_us").read_text())
            period = int((folder / "cpu.cfs_period_us").read_text())
        else:
            quota_text, period_text = (folder / "cpu.max").read_text().split()[:2]
            if quota_text == "max":
                return None
            quota, period = int(quota_text), int(period_text)
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None
