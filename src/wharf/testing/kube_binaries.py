"""Build and cache the Kubernetes control-plane binaries the test harness runs.

No release binaries or kind images can be downloaded on the CI machines, but the Go module proxy
serves Kubernetes itself. ``k8s.io/kubernetes`` is not meant to be imported (its go.mod points every
``k8s.io/<staging>`` module at a local folder), so a throwaway module re-points each staging module
at its published ``v0.<minor>.<patch>`` tag and builds ``cmd/kube-apiserver`` and
``cmd/kube-controller-manager`` from it. etcd is built the same way from ``go.etcd.io/etcd/server/v3``
(its ``replace`` lines are relative paths, which Go ignores for a dependency), and KWOK from
``sigs.k8s.io/kwok``.

Everything lands in ``~/.cache/wharf/bin/k8s-v<version>/`` (``WHARF_KUBE_BIN_DIR`` overrides it);
a binary that is already there is not rebuilt, so a warm run only checks ``--version``.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# The newest Kubernetes release the module proxy serves whose staging modules all resolve (every
# k8s.io/<staging> v0.37.2 the build needs is there). It needs Go >= 1.26.
KUBERNETES_VERSION = "1.37.2"
# The oldest Kubernetes the charts admit (their `kubeVersion: ">=1.30.0-0"`), which CI proves with its
# kube-apiserver (only that binary is built for it). The newest API the charts and the operator rely on
# is the CRD's CEL validation rules (x-kubernetes-validations with reason and fieldPath, GA in 1.29;
# autoscaling/v2 is 1.23, policy/v1 1.21), but 1.29.6 refuses the SeldonDeployment CRD: its CEL cost
# estimate of the rule that sums the predictors' traffic (filter, map, sum) exceeds the per-rule budget
# more than 100 times; 1.30 estimates it within budget. 1.30.14 is the newest 1.30 release the module
# proxy serves.
OLDEST_KUBERNETES_VERSION = "1.30.14"
# etcd 3.5 is still a supported backend for 1.37; Debian's etcd-server is 3.4, which is not.
ETCD_VERSION = "3.5.21"
# KWOK 0.7 is built against the 1.33 client libraries; it only creates and patches Nodes and Pods,
# which those libraries do against any newer server.
KWOK_VERSION = "0.7.0"
# The node's helpers, each from its own Go module (none has `replace` lines): cluster DNS as kind
# and kubeadm run it, the CRI debugging client, and the resource-metrics API that HPA reads.
COREDNS_VERSION = "1.15.0"
CRI_TOOLS_VERSION = "1.37.0"
METRICS_SERVER_VERSION = "0.8.0"

BUILD_COMMAND = "invoke cluster.build-binaries"
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager")
# KWOK fake nodes need a scheduler to place pods on them; both are optional extras.
OPTIONAL = ("kube-scheduler", "kwok")
# A node that runs pods (wharf.testing.node): the kubelet, kube-proxy, a kubectl of the same minor
# as the server, and the helpers above. The scheduler is needed too.
NODE = ("kube-scheduler", "kubelet", "kube-proxy", "kubectl", "coredns", "crictl", "metrics-server")
ALL = tuple(dict.fromkeys(CONTROL_PLANE + OPTIONAL + NODE))


@dataclass(frozen=True)
class GoTarget:
    """One binary: the module that provides it, the package to build and its link flags."""

    binary: str
    module: str
    version: str
    package: str
    ldflags: str


def cache_key(version: str = KUBERNETES_VERSION) -> str:
    return f"k8s-v{version}"


def bin_dir(version: str = KUBERNETES_VERSION) -> Path:
    override = os.environ.get("WHARF_KUBE_BIN_DIR")
    if override:
        return Path(override)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "wharf" / "bin" / cache_key(version)


def binary_path(name: str, version: str = KUBERNETES_VERSION) -> Path:
    return bin_dir(version) / name


def missing_binaries(names: tuple[str, ...] = CONTROL_PLANE, version: str = KUBERNETES_VERSION) -> list[Path]:
    return [p for p in (binary_path(n, version) for n in names) if not os.access(p, os.X_OK)]


def kube_version_ldflags(version: str) -> str:
    """-X flags that make ``--version`` report the real release instead of ``v0.0.0-master``."""
    major, minor, _ = version.split(".")
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion=v{version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def staging_modules(kubernetes_go_mod: str) -> list[str]:
    """The ``k8s.io/*`` modules that k8s.io/kubernetes' go.mod replaces with ``./staging/...``."""
    return sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", kubernetes_go_mod, re.M)))


def go_directive(go_mod: str) -> str:
    """The ``go`` line of a go.mod (the Go version its module needs), e.g. ``1.26.0``."""
    found = re.search(r"^go\s+(\S+)", go_mod, re.M)
    return found.group(1) if found else "1.23.0"


def kubernetes_build_go_mod(version: str, staging: list[str], go: str = "1.23.0") -> str:
    """go.mod of the throwaway module: require k8s.io/kubernetes, pin each staging module to v0.Y.Z.

    ``go`` is k8s.io/kubernetes' own go line: the throwaway module asks for the same language
    version and GODEBUG defaults the release was built with.
    """
    _, minor, patch = version.split(".")
    go_minor = ".".join(go.split(".")[:2])
    lines = [
        "module wharf.local/kubebuild",
        "",
        f"go {go}",
        "",
        f"godebug default=go{go_minor}",
        "",
        f"require k8s.io/kubernetes v{version}",
        "",
        "replace (",
    ]
    lines += [f"\t{mod} => {mod} v0.{minor}.{patch}" for mod in staging]
    lines += [")", ""]
    return "\n".join(lines)


def go_flags(version: str) -> str:
    """GOFLAGS for building Kubernetes ``version``: before 1.31 its in-tree cloud providers import
    ``k8s.io/legacy-cloud-providers``, which the module proxy does not serve for every release
    (v0.29.x is refused); the ``providerless`` build tag leaves them out, as ``make`` can."""
    _, minor, _ = version.split(".")
    return "-buildvcs=false" + (" -tags=providerless" if int(minor) < 31 else "")


def plain_go_mod(name: str, module: str, version: str) -> str:
    return f"module wharf.local/{name}build\n\ngo 1.23.0\n\nrequire {module} v{version}\n"


def targets(version: str = KUBERNETES_VERSION) -> dict[str, GoTarget]:
    kube = kube_version_ldflags(version)
    return {
        "kube-apiserver": GoTarget(
            "kube-apiserver", "k8s.io/kubernetes", version, "k8s.io/kubernetes/cmd/kube-apiserver", kube
        ),
        "kube-controller-manager": GoTarget(
            "kube-controller-manager",
            "k8s.io/kubernetes",
            version,
            "k8s.io/kubernetes/cmd/kube-controller-manager",
            kube,
        ),
        "kube-scheduler": GoTarget(
            "kube-scheduler", "k8s.io/kubernetes", version, "k8s.io/kubernetes/cmd/kube-scheduler", kube
        ),
        "etcd": GoTarget("etcd", "go.etcd.io/etcd/server/v3", ETCD_VERSION, "go.etcd.io/etcd/server/v3", "-s -w"),
        "kwok": GoTarget(
            "kwok",
            "sigs.k8s.io/kwok",
            KWOK_VERSION,
            "sigs.k8s.io/kwok/cmd/kwok",
            f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v{KWOK_VERSION}",
        ),
        **{
            name: GoTarget(name, "k8s.io/kubernetes", version, f"k8s.io/kubernetes/cmd/{name}", kube)
            for name in ("kubelet", "kube-proxy", "kubectl")
        },
        "coredns": GoTarget(
            "coredns", "github.com/coredns/coredns", COREDNS_VERSION, "github.com/coredns/coredns", "-s -w"
        ),
        "crictl": GoTarget(
            "crictl",
            "sigs.k8s.io/cri-tools",
            CRI_TOOLS_VERSION,
            "sigs.k8s.io/cri-tools/cmd/crictl",
            f"-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v{CRI_TOOLS_VERSION}",
        ),
        "metrics-server": GoTarget(
            "metrics-server",
            "sigs.k8s.io/metrics-server",
            METRICS_SERVER_VERSION,
            "sigs.k8s.io/metrics-server/cmd/metrics-server",
            f"-s -w -X k8s.io/client-go/pkg/version.gitVersion=v{METRICS_SERVER_VERSION}",
        ),
    }


class BuildError(RuntimeError):
    pass


@contextmanager
def build_lock(lock: Path, what: str, log: Path, wait: float) -> Iterator[None]:
    """Held while one process builds ``what``; another waits for it (up to ``wait`` s), then goes
    on, and should look again whether the build it waited for left the result."""
    with open(lock, "w") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BuildError(
                        f"another process has been building {what} for over {wait:.0f} s (lock {lock}; log {log})"
                    ) from None
                time.sleep(2)
        yield


class _Builder:
    """Runs the go commands for one cache folder, appending everything to one build log."""

    def __init__(self, out_dir: Path, log_path: Path) -> None:
        self.out_dir = out_dir
        self.log_path = log_path
        self.env = {
            **os.environ,
            "CGO_ENABLED": "0",
            "GOFLAGS": "-buildvcs=false",
            "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "local"),
        }

    def go(self, args: list[str], cwd: Path, timeout: float = 3600) -> str:
        with open(self.log_path, "a") as log:
            log.write(f"\n$ (cd {cwd} && go {' '.join(args)})\n")
            log.flush()
            proc = subprocess.run(
                ["go", *args],
                cwd=cwd,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
            )
            log.write(proc.stdout)
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
            raise BuildError(f"`go {' '.join(args[:2])} ...` failed in {cwd} (log: {self.log_path}):\n{tail}")
        return proc.stdout

    def module_dir(self, name: str, go_mod: str) -> Path:
        src = self.out_dir / "src" / name
        src.mkdir(parents=True, exist_ok=True)
        if not (src / "go.mod").exists() or (src / "go.mod").read_text() != go_mod:
            (src / "go.mod").write_text(go_mod)
            (src / "go.sum").unlink(missing_ok=True)
        return src

    def build(self, target: GoTarget, src: Path) -> Path:
        """Build into a temporary name and rename, so a failed build leaves no binary behind."""
        self.go(["get", f"{target.package}@v{target.version}"], src)
        final = self.out_dir / target.binary
        partial = self.out_dir / f".{target.binary}.{os.getpid()}.partial"
        try:
            self.go(["build", "-trimpath", "-ldflags", target.ldflags, "-o", str(partial), target.package], src)
            partial.replace(final)
        finally:
            partial.unlink(missing_ok=True)
        return final


def kubernetes_go_mod_text(builder: _Builder, version: str) -> str:
    """k8s.io/kubernetes' own go.mod, fetched through the Go module proxy by the go command."""
    out = builder.go(["mod", "download", "-json", f"k8s.io/kubernetes@v{version}"], builder.out_dir)
    return Path(json.loads(out)["GoMod"]).read_text()


def build_binaries(
    names: tuple[str, ...] = ALL, version: str = KUBERNETES_VERSION, force: bool = False, say=print
) -> dict[str, Path]:
    """Build whatever of ``names`` is not cached yet; return the paths of those that exist.

    A failure to build an optional binary (KWOK) is reported and skipped; a control-plane failure
    raises :class:`BuildError`.
    """
    if shutil.which("go") is None:
        raise BuildError("the `go` command is not on PATH; install Go (1.23 or newer) to build the binaries")
    out_dir = bin_dir(version)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "build.log"
    say(f"cache key: {cache_key(version)} (etcd v{ETCD_VERSION}, kwok v{KWOK_VERSION}); folder: {out_dir}")
    say(f"build log: {log_path}")
    builder = _Builder(out_dir, log_path)
    all_targets = targets(version)
    built: dict[str, Path] = {}
    for name in names:
        target = all_targets[name]
        path = out_dir / name
        if os.access(path, os.X_OK) and not force:
            say(f"  {name}: cached")
            built[name] = path
            continue
        started = time.monotonic()
        say(f"  {name}: building {target.package}@v{target.version} ...")
        with open(log_path, "a") as log:
            log.write(
                f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {name} "
                f"({target.package}@v{target.version}) ===\n"
            )
        try:
            builder.env["GOFLAGS"] = go_flags(version) if target.module == "k8s.io/kubernetes" else "-buildvcs=false"
            if target.module == "k8s.io/kubernetes":
                upstream = kubernetes_go_mod_text(builder, version)
                go_mod = kubernetes_build_go_mod(version, staging_modules(upstream), go_directive(upstream))
                src = builder.module_dir("kubernetes", go_mod)
            else:
                src = builder.module_dir(name, plain_go_mod(name, target.module, target.version))
            built[name] = builder.build(target, src)
        except (BuildError, subprocess.TimeoutExpired) as exc:
            if name in OPTIONAL:
                say(f"  {name}: not built ({exc}); the harness runs without it")
                continue
            raise BuildError(str(exc)) from None
        say(f"  {name}: built in {time.monotonic() - started:.0f} s")
    return built


def version_report(paths: dict[str, Path]) -> dict[str, str]:
    """First line of each binary's ``--version`` (kwok uses ``--version`` too)."""
    report = {}
    for name, path in paths.items():
        proc = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
        text = (proc.stdout or proc.stderr).strip().splitlines()
        report[name] = text[0] if text else f"exit {proc.returncode}"
    return report
