"""Build and cache Go tools (h2spec, helm-docs, syft) with the machinery of ``kube_binaries``.

Each tool is built once from the Go module proxy into ``~/.cache/wharf/bin/<name>-v<version>/``
(``XDG_CACHE_HOME`` moves it); a cached binary is used as is. A build holds a lock file beside that
folder, so a process that needs the tool waits for a build another one started (``.ci/run`` starts
syft's in the background: ``python -m wharf.testing.go_tools syft``).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import time
from pathlib import Path

from wharf.testing.kube_binaries import BuildError, GoTarget, _Builder, build_lock, plain_go_mod

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


# The SBOM of every released image (`invoke release`). A large program: a cold build (module download
# included) takes about 20 minutes of the two cores here, so .ci/run starts it early in the background.
SYFT = GoTarget(
    "syft",
    "github.com/anchore/syft",
    "1.57.2",
    "github.com/anchore/syft/cmd/syft",
    "-s -w -X main.version=1.57.2",
)

TOOLS = {t.binary: t for t in (H2SPEC, HELM_DOCS, SYFT)}


def tool_dir(target: GoTarget) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "wharf" / "bin" / f"{target.binary}-v{target.version.split('+')[0]}"


def _lock_path(target: GoTarget) -> Path:
    return tool_dir(target).parent / f"{tool_dir(target).name}.lock"


def ensure_tool(target: GoTarget = H2SPEC, wait: float = 3600) -> Path:
    """The tool's binary, built first if it is not cached; ``BuildError`` says why it could not be.

    When another process is building it, wait (up to ``wait`` seconds) for that build instead.
    """
    out_dir = tool_dir(target)
    path = out_dir / target.binary
    if os.access(path, os.X_OK):
        return path
    if shutil.which("go") is None:
        raise BuildError(f"the `go` command is not on PATH; it is needed to build {target.binary}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with build_lock(_lock_path(target), target.binary, out_dir / "build.log", wait):
        if os.access(path, os.X_OK):  # the process we waited for built it
            return path
        started = time.monotonic()
        log_path = out_dir / "build.log"
        with open(log_path, "a") as log:
            log.write(
                f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {target.binary} v{target.version} ===\n"
            )
        builder = _Builder(out_dir, log_path)
        src = builder.module_dir(target.binary, plain_go_mod(target.binary, target.module, target.version))
        built = builder.build(target, src)
        with open(log_path, "a") as log:
            log.write(f"built in {time.monotonic() - started:.0f} s\n")
        return built


def wait_for_tool(target: GoTarget, timeout: float = 3600) -> Path | None:
    """Wait while another process builds ``target`` (holds its lock); its binary then, or None when it is
    not built (no build was started, or it failed: the build log says why)."""
    path = tool_dir(target) / target.binary
    if not os.access(path, os.X_OK) and _lock_path(target).exists():
        with open(_lock_path(target)) as lock:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(2)
    return path if os.access(path, os.X_OK) else None


def main(argv: list[str]) -> int:  # pragma: no cover - provisioning CLI
    names = argv or ["syft"]
    for name in names:
        if name not in TOOLS:
            print(f"error: unknown tool {name!r}; known: {', '.join(sorted(TOOLS))}")
            return 2
        started = time.monotonic()
        try:
            path = ensure_tool(TOOLS[name], wait=5400)
        except BuildError as exc:
            print(f"error: {exc}")
            return 1
        print(f"{path} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
