"""Write a release's image references into the files users install from: chart values and the kustomize
images transformer. Edits keep every comment and line of those files (values.yaml is also the source of
the charts' schema and docs), changing only the scalar values named.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):(?P<rest>.*)$")


class PinError(RuntimeError):
    """A key to pin is not in the file (the file and key path are named)."""


def set_scalars(text: str, values: dict[tuple[str, ...], str], where: str = "values.yaml") -> str:
    """``text`` with each key path's scalar replaced by the (double-quoted) value; comments kept."""
    lines = text.splitlines(keepends=True)
    stack: list[tuple[int, str]] = []
    done: set[tuple[str, ...]] = set()
    for i, line in enumerate(lines):
        m = _KEY.match(line)
        if not m or line.lstrip().startswith("#"):
            continue
        indent = len(m["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = tuple(k for _, k in stack) + (m["key"],)
        stack.append((indent, m["key"]))
        if path in values:
            end = "\n" if line.endswith("\n") else ""
            lines[i] = f'{m["indent"]}{m["key"]}: "{values[path]}"{end}'
            done.add(path)
    missing = [".".join(p) for p in values if p not in done]
    if missing:
        raise PinError(f"{where}: no key {', '.join(missing)} to pin")
    return "".join(lines)


def pin_core_values(values_file: Path, registry: str, version: str, digests: dict[str, str]) -> None:
    """wharf-core's operator and orchestrator images: this registry, the release tag, the pushed digest."""
    pins: dict[tuple[str, ...], str] = {}
    for prefix, repository in ((("image",), "wharf/operator"), (("executor", "image"), "wharf/orchestrator")):
        if repository in digests:
            pins.update({prefix + ("registry",): registry, prefix + ("repository",): repository,
                         prefix + ("tag",): version, prefix + ("digest",): digests[repository]})
    values_file.write_text(set_scalars(values_file.read_text(), pins, str(values_file)))


def pin_kustomization(kustomization: Path, registry: str, version: str, digests: dict[str, str]) -> None:
    """Every ``images:`` entry whose name ends in a released repository: newName in the registry, the
    release tag and the digest (kustomize writes ``name@digest`` when a digest is set)."""
    header = "".join(line for line in kustomization.read_text().splitlines(keepends=True) if line.startswith("#"))
    doc = yaml.safe_load(kustomization.read_text())
    entries = doc.get("images") or []
    for entry in entries:
        repository = next((r for r in digests if entry["name"].endswith("/" + r) or entry["name"] == r), None)
        if repository:
            entry.update({"newName": f"{registry}/{repository}", "newTag": version, "digest": digests[repository]})
    if not any("digest" in e for e in entries):
        raise PinError(f"{kustomization}: no images entry names a released image ({', '.join(digests)})")
    kustomization.write_text(header + yaml.safe_dump(doc, sort_keys=False))
