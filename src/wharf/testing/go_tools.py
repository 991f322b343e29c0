"""Build and cache small Go tools (h2spec, helm-docs) with the machinery of ``kube_binaries``.

Each tool is built once from the Go module proxy into ``~/.cache/wharf/bin/<name>-v<version>/``
(``XDG_CACHE_HOME`` moves it); a cached binary is used as is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from wharf.testing.kube_binaries import BuildError, GoTarget, _Builder, plain_go_mod

# h2spec's last release; it predates Go modules, hence "+incompatible" on the module proxy.
H2SPEC = GoTarget(
    "h2spec", "github.com/summerwind/h2spec", "2.2.1+incompatible", "github.com/summerwind/h2spec/cmd/h2spec", "-s -w"
)

# The charts' README.md files are generated from their values.yaml comments (`invoke charts.docs`).
HELM_DOCS = GoTarget(
    "helm-docs",
    "github.com/norwoodj/helm-docs",
    "1.14.2",
    "github.com/norwoodj/helm-docs/cmd/helm-docs",
    "-s -w -X main.version=1.14.2",
)


def tool_dir(target: GoTarget) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "wharf" / "bin" / f"{target.binary}-v{target.version.split('+')[0]}"


def ensure_tool(target: GoTarget = H2SPEC) -> Path:
    """The tool's binary, built first if it is not cached; ``BuildError`` says why it could not be."""
    out_dir = tool_dir(target)
    path = out_dir / target.binary
    if os.access(path, os.X_OK):
        return path
    if shutil.which("go") is None:
        raise BuildError(f"the `go` command is not on PATH; it is needed to build {target.binary}")
    out_dir.mkdir(parents=True, exist_ok=True)
    builder = _Builder(out_dir, out_dir / "build.log")
    src = builder.module_dir(target.binary, plain_go_mod(target.binary, target.module, target.version))
    return builder.build(target, src)
