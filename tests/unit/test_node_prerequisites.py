"""The real-node harness names a disk too full for its images before it starts anything."""

from __future__ import annotations

import shutil
from collections import namedtuple

from wharf.testing import node

Usage = namedtuple("Usage", "total used free")


def test_a_disk_with_too_little_room_is_named_with_how_much_there_is(monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(100 * 10**9, 97 * 10**9, 3 * 10**9))
    problems = node.missing_prerequisites()
    disk = [p for p in problems if "free disk" in p]
    assert len(disk) == 1
    assert "has 3.0 GB" in disk[0] and "docker image prune" in disk[0]


def test_enough_room_is_not_a_problem(monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(100 * 10**9, 10 * 10**9, 90 * 10**9))
    assert not [p for p in node.missing_prerequisites() if "free disk" in p]
