"""Write a release's image references into the files users install from: chart values and the kustomize
images transformer (regenerated from those values: ``wharf.gitops.kustomize``). Edits keep every comment and line of those files (values.yaml is also the source of
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


def _released(image: str, digests: dict[str, str]) -> str | None:
    """The released repository ``image`` names (``wharf/x``, ``docker.io/wharf/x`` or a previous
    release's ``host:port/wharf/x``, with or without a tag), or None."""
    name = image.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    return next((r for r in digests if name == r or name.endswith("/" + r)), None)


def core_pins(values: dict, registry: str, version: str, digests: dict[str, str]) -> dict[tuple[str, ...], str]:
    """Key path -> pinned value for every image of wharf-core's values that the release pushed:

    - the operator and orchestrator (``image.*``, ``executor.image.*``): registry, repository, tag, digest;
    - the prepackaged servers (``predictor_servers.<KEY>.protocols.<protocol>``): upstream's table has only
      ``image`` and ``defaultImageVersion``, which the operator joins with ``:``, so the version becomes
      ``<version>@<digest>`` and the server runs as ``registry/repository:version@digest`` (a node pulls
      by the digest; the tag is for people). Entries naming other images (Triton, ...) stay as they are;
    - the storage initializer (``storageInitializer.image``): ``registry/repository:version@digest``.
    """
    pins: dict[tuple[str, ...], str] = {}
    for prefix, repository in ((("image",), "wharf/operator"), (("executor", "image"), "wharf/orchestrator")):
        if repository in digests:
            pins.update(
                {
                    prefix + ("registry",): registry,
                    prefix + ("repository",): repository,
                    prefix + ("tag",): version,
                    prefix + ("digest",): digests[repository],
                }
            )
    for key, server in (values.get("predictor_servers") or {}).items():
        for protocol, spec in ((server or {}).get("protocols") or {}).items():
            repository = _released(str((spec or {}).get("image", "")), digests)
            if repository:
                at = ("predictor_servers", key, "protocols", protocol)
                pins[at + ("image",)] = f"{registry}/{repository}"
                pins[at + ("defaultImageVersion",)] = f"{version}@{digests[repository]}"
    initializer = str((values.get("storageInitializer") or {}).get("image", ""))
    repository = _released(initializer, digests)
    if repository:
        pins[("storageInitializer", "image")] = f"{registry}/{repository}:{version}@{digests[repository]}"
    return pins


def pin_core_values(values_file: Path, registry: str, version: str, digests: dict[str, str]) -> None:
    """Every released image wharf-core's default values name (``core_pins``): this registry, the
    release tag, the pushed digest. Comments and layout are kept."""
    text = values_file.read_text()
    pins = core_pins(yaml.safe_load(text) or {}, registry, version, digests)
    values_file.write_text(set_scalars(text, pins, str(values_file)))
