"""What ``wharf run`` does when one of its processes dies: a kubelet's ``restartPolicy: Always``.

A kubelet restarts a dead container at once the first time, then waits longer after each crash
(CrashLoopBackOff: 10 s doubling to 5 min) and forgets the crashes once the container has stayed
up for twice the longest wait. ``wharf run`` keeps that shape with delays suited to a laptop
(1 s doubling to 60 s, forgotten after 2 min up), so a model being edited comes back quickly and
one crashing on every start does not spin a core.

Each node runs in a process group of its own, as a container is its own PID namespace: when the
node's top process dies, whatever it left (its workers, still holding the node's ports) is killed
with it before the node starts again, and nothing outlives ``wharf run``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 60.0
RESET_AFTER_S = 2 * MAX_DELAY_S


@dataclass
class Backoff:
    """The delays before one process's restarts; ``restarts`` counts them."""

    first: float = FIRST_DELAY_S
    cap: float = MAX_DELAY_S
    reset_after: float = RESET_AFTER_S
    restarts: int = 0
    _next: float = 0.0

    def delay(self, up_for: float) -> float:
        """Seconds to wait before restarting a process that died after running ``up_for`` seconds."""
        if up_for >= self.reset_after:  # it ran long enough: earlier crashes no longer count
            self._next = 0.0
        delay = self._next
        self._next = self.first if delay == 0 else min(delay * 2, self.cap)
        self.restarts += 1
        return delay


def describe_exit(code: int) -> str:
    """``exit code 1`` or ``killed by SIGKILL`` (Popen's negative code is the signal)."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the process group ``pgid``, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:  # it exited while we looked
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry))
    return found


def group_members(pgid: int) -> list[int]:
    """Live processes of group ``pgid``; without /proc, ``[pgid]`` while any member can be signalled."""
    if os.path.isdir("/proc/self"):
        return _members(pgid)
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return []
    return [pgid]


def kill_group(pgid: int, timeout: float = 5.0) -> list[int]:
    """SIGKILL every process left in group ``pgid`` and wait until none lives (so its ports are
    free again); returns the pids that were still there."""
    left = group_members(pgid)
    if not left:
        return []
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return left
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


_PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()  # looked up here: a preexec function should do as little as it can after fork


def stop_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` giving the child SIGTERM when the thread that started it ends, even when
    ``wharf run`` itself is killed with SIGKILL (Linux), so that a node still stops its own
    workers; None where the platform has no such signal."""
    if _PRCTL is None:
        return None
    parent = os.getpid()
    prctl = _PRCTL

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the parent died before the signal was asked for
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec
