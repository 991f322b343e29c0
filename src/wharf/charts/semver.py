"""The few SemVer rules ct applies: ordering, and whether an upgrade is non-breaking (^ / ~)."""

from __future__ import annotations

import re

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def parse(version: str) -> tuple[int, int, int, tuple]:
    match = _SEMVER.match(str(version).strip())
    if not match:
        raise ValueError(f"{version!r} is not a SemVer version (MAJOR.MINOR.PATCH)")
    major, minor, patch, pre = match.groups()
    # A pre-release sorts before its release; numeric identifiers compare as numbers.
    pre_key: tuple = (1,) if pre is None else (0, *((0, int(p)) if p.isdigit() else (1, p) for p in pre.split(".")))
    return int(major), int(minor), int(patch), pre_key


def greater(new: str, old: str) -> bool:
    return parse(new) > parse(old)


def non_breaking(old: str, new: str) -> bool:
    """ct's rule: new satisfies ^old when old's major >= 1, ~old (same minor) for 0.x."""
    o, n = parse(old), parse(new)
    if n < o:
        return False
    return n[0] == o[0] if o[0] >= 1 else (n[0], n[1]) == (o[0], o[1])
