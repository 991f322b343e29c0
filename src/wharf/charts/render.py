"""Rendering charts with the pinned helm (``helm template``) into parsed documents."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wharf.charts.helm import ensure_helm
from wharf.charts.values_schema import load_yaml


class RenderError(RuntimeError):
    """helm could not render the chart; the message carries helm's own error."""


@dataclass(frozen=True)
class Rendered:
    source: str  # "wharf-model/templates/seldondeployment.yaml"
    doc: dict[str, Any]


def split_manifest(text: str) -> list[Rendered]:
    out = []
    for chunk in text.split("\n---"):
        source = "?"
        for line in chunk.splitlines():
            if line.startswith("# Source: "):
                source = line[len("# Source: ") :].strip()
                break
        doc = load_yaml(chunk)
        if isinstance(doc, dict) and doc:
            out.append(Rendered(source, doc))
    return out


def helm_template(
    chart_dir: Path,
    values_files: list[Path] = (),
    release: str = "release",
    namespace: str = "default",
    kube_version: str = "1.32.0",
    set_values: dict[str, str] | None = None,
    api_versions: list[str] = (),
) -> list[Rendered]:
    cmd = [
        str(ensure_helm()),
        "template",
        release,
        str(chart_dir),
        "--namespace",
        namespace,
        "--kube-version",
        kube_version,
    ]
    for f in values_files:
        cmd += ["--values", str(f)]
    for key, value in (set_values or {}).items():
        cmd += ["--set", f"{key}={value}"]
    for api in api_versions:
        cmd += ["--api-versions", api]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RenderError(done.stderr.strip() or done.stdout.strip())
    return split_manifest(done.stdout)
