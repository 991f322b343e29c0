"""The licence report of the installed Python packages (upstream writes it with pip-licenses to
``/licenses``; this reads package metadata directly and needs nothing extra)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

LICENCE_FILES = ("LICENSE", "LICENCE", "COPYING", "NOTICE")


def licence_of(meta) -> str:
    """The licence a distribution declares: SPDX expression, then License field, then classifiers."""
    for field in ("License-Expression", "License"):
        value = (meta.get(field) or "").strip()
        if value and value.upper() != "UNKNOWN" and "\n" not in value and len(value) < 100:
            return value
    classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return "; ".join(classifiers) or "UNKNOWN"


def rows(dists: Iterable) -> list[tuple[str, str, str]]:
    seen = {}
    for d in dists:
        name = d.metadata["Name"]
        if name and name.lower() not in seen:
            seen[name.lower()] = (name, d.version, licence_of(d.metadata))
    return sorted(seen.values(), key=lambda r: r[0].lower())


def write_report(out_dir: Path, dists: Iterable | None = None) -> list[tuple[str, str, str]]:
    dists = list(metadata.distributions() if dists is None else dists)
    table = rows(dists)
    out_dir.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["Name", "Version", "License"])
    writer.writerows(table)
    (out_dir / "license_info.csv").write_text(buf.getvalue())
    texts = []
    for d in sorted(dists, key=lambda d: (d.metadata["Name"] or "").lower()):
        for f in d.files or []:
            if f.name.upper().startswith(LICENCE_FILES):
                try:
                    texts.append(f"==== {d.metadata['Name']} {d.version}: {f.name}\n{f.read_text()}")
                except (OSError, UnicodeDecodeError):
                    pass
    (out_dir / "license.txt").write_text("\n".join(texts))
    return table
