"""Argo CD, built from its Go module and run against a test cluster: redis, repo server, controller.

No release binaries or images can be downloaded here, but the Go module proxy serves
``github.com/argoproj/argo-cd/v3``. Its go.mod points the gitops engine, a nested module of the same
repository, at ``./gitops-engine`` with a ``replace`` line; a nested module is not part of its
parent's module zip, so the build unpacks the argo-cd module, unpacks the gitops engine's own module
(published at the version argo-cd requires) where that ``replace`` points, and builds there, with
upstream's go.sum and all of its other ``replace`` lines as they are. What is built is one program
that acts as the application controller, the repo server or the git askpass helper, chosen by
``ARGOCD_BINARY_NAME`` as upstream's ``cmd/main.go`` does; it leaves out the API server, the CLI and
the other components, which the tests do not run (a smaller, faster build).

Argo CD 3.6's go.mod asks for Go 1.27, newer than this machine's go: the build sets ``GOTOOLCHAIN``
to an exact 1.27 release, which the go command fetches through the module proxy it is configured
with. Everything lands in ``~/.cache/wharf/bin/argocd-v<version>/`` (the binary, the release's
CRDs and install manifest, build.log); a cached binary is not rebuilt. A build holds a lock file
beside that folder, so a test can wait for a build that ``.ci/run`` started in the background.

The components run as upstream's own local setup runs them (its Procfile): on the host, with
``ARGOCD_FAKE_IN_CLUSTER=true`` so the in-cluster destination is the cluster of ``KUBECONFIG``.
Redis is Debian's ``redis-server``. The repo server runs ``git`` and the helm that
``wharf.charts.helm`` builds; kustomize is not needed by the Applications in ``examples/gitops``
(the chart variant; the kustomize variant would need a ``kustomize`` on PATH).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from wharf.local.process import free_port
from wharf.testing.apiserver import HarnessError, Process, _die_with_parent, _wait
from wharf.testing.kube_binaries import BuildError, _Builder, build_lock

# The newest release the module proxy serves (`go list -m -versions github.com/argoproj/argo-cd/v3`).
ARGOCD_VERSION = "3.6.2"
ARGOCD_MODULE = "github.com/argoproj/argo-cd/v3"
# argo-cd 3.6's go.mod says `go 1.27.0`; an exact release, fetched by the go command as a module.
GO_TOOLCHAIN = "go1.27.3"
BUILD_COMMAND = "python -m wharf.testing.argocd"
NAMESPACE = "argocd"
# The repoURL every file of examples/gitops/argocd carries until a user puts their own there.
PLACEHOLDER_REPO_URL = "https://git.example.com/platform/gitops.git"

# The three components the tests use, dispatched as upstream's cmd/main.go does.
MAIN_GO = """\
// Argo CD's application controller, repo server and git askpass helper, dispatched like upstream's
// cmd/main.go (by argv[0] or ARGOCD_BINARY_NAME). Written by wharf.testing.argocd.
package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	gitaskpass "github.com/argoproj/argo-cd/v3/cmd/argocd-git-ask-pass/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/util/log"
)

func init() {
	klog.SetLogger(log.NewLogrusLogger(log.NewWithCurrentConfig()))
}

// Upstream's main also calls grpc.DisableSRVLookups(), which turns off the SRV lookups that grpc's
// grpclb balancer turns on when it is linked in; it is not linked into these three components (the
// call would panic, finding them off already).
func main() {
	name := filepath.Base(os.Args[0])
	if val := os.Getenv("ARGOCD_BINARY_NAME"); val != "" {
		name = val
	}
	var command *cobra.Command
	switch name {
	case common.CommandApplicationController:
		command = appcontroller.NewCommand()
	case common.CommandRepoServer:
		command = reposerver.NewCommand()
	case common.CommandGitAskPass:
		command = gitaskpass.NewCommand()
	default:
		os.Stderr.WriteString("unknown component " + name + "; set ARGOCD_BINARY_NAME to " +
			common.CommandApplicationController + " or " + common.CommandRepoServer + "\\n")
		os.Exit(2)
	}
	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}
"""


# --- the build -------------------------------------------------------------------------------


def build_dir(version: str = ARGOCD_VERSION) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "wharf" / "bin" / f"argocd-v{version}"


def binary_path(version: str = ARGOCD_VERSION) -> Path:
    return build_dir(version) / "argocd"


def manifests_dir(version: str = ARGOCD_VERSION) -> Path:
    return build_dir(version) / "manifests"


def scripts_dir(version: str = ARGOCD_VERSION) -> Path:
    """Upstream's helper scripts that its image puts on PATH; the repo server runs them."""
    return build_dir(version) / "scripts"


# The repo server runs git-verify-wrapper.sh for every revision it reads (a deprecated path of 3.6
# that runs even with GPG off); the image copies both from hack/ to /usr/local/bin.
SCRIPTS = ("git-verify-wrapper.sh", "gpg-wrapper.sh")


def built(version: str = ARGOCD_VERSION) -> bool:
    return (
        os.access(binary_path(version), os.X_OK)
        and (manifests_dir(version) / "install.yaml").is_file()
        and all(os.access(scripts_dir(version) / name, os.X_OK) for name in SCRIPTS)
    )


def _lock_path(version: str) -> Path:
    return build_dir(version).parent / f"argocd-v{version}.lock"


def nested_replacements(go_mod: str) -> dict[str, str]:
    """``replace <module> => ./<dir>`` lines of a go.mod: module path -> relative folder."""
    found = {}
    for module, target in re.findall(r"^\s*(?:replace\s+)?(\S+)(?:\s+v\S+)?\s+=>\s+(\./\S+)\s*$", go_mod, re.M):
        found[module] = target[2:]
    return found


def required_version(go_mod: str, module: str) -> str:
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod, re.M)
    if not match:
        raise BuildError(f"{module} is not required by the go.mod that replaces it")
    return match.group(1)


def _unzip_module(zip_path: Path, dest: Path) -> None:
    """A module zip's files (all under ``<module>@<version>/``) into ``dest``, writable."""
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        at = names[0].find("@") if names else -1
        if at < 0:
            raise BuildError(f"{zip_path}: not a Go module zip (no <module>@<version>/ prefix)")
        prefix = names[0][: names[0].index("/", at) + 1]
        for name in names:
            if not name.startswith(prefix) or name.endswith("/"):
                continue
            target = dest / name[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(name) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)


def ldflags(version: str) -> str:
    pkg = f"{ARGOCD_MODULE}/common"
    return " ".join(
        ["-s", "-w", f"-X {pkg}.version={version}", f"-X {pkg}.gitTag=v{version}", f"-X {pkg}.gitTreeState=clean"]
    )


def build(version: str = ARGOCD_VERSION, say=print, wait: float = 3600) -> Path:
    """The binary, built first unless cached; waits (up to ``wait`` s) for a build another process runs."""
    if built(version):
        return binary_path(version)
    if shutil.which("go") is None:
        raise BuildError("the `go` command is not on PATH; it is needed to build Argo CD")
    out = build_dir(version)
    out.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(_lock_path(version), "Argo CD", out / "build.log", wait):
        if built(version):  # the process we waited for built it
            return binary_path(version)
        return _build_locked(version, out, say)


def _build_locked(version: str, out: Path, say) -> Path:
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "build.log"
    say(f"Argo CD v{version}: building into {out} (log: {log_path})")
    with open(log_path, "a") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} argocd v{version} ===\n")
    builder = _Builder(out, log_path)
    builder.env["GOTOOLCHAIN"] = GO_TOOLCHAIN
    info = json.loads(builder.go(["mod", "download", "-json", f"{ARGOCD_MODULE}@v{version}"], out))
    if info.get("Error") and not info.get("Zip"):
        raise BuildError(f"{ARGOCD_MODULE}@v{version}: {info['Error']}")
    go_mod = Path(info["GoMod"]).read_text()
    src = out / "src"
    shutil.rmtree(src, ignore_errors=True)
    _unzip_module(Path(info["Zip"]), src)
    for module, folder in nested_replacements(go_mod).items():
        nested = json.loads(
            builder.go(["mod", "download", "-json", f"{module}@{required_version(go_mod, module)}"], out)
        )
        if not nested.get("Zip"):
            raise BuildError(f"{module}: {nested.get('Error', 'no module zip')}")
        say(f"  nested module {module} -> ./{folder}")
        _unzip_module(Path(nested["Zip"]), src / folder)
    main = src / "hack" / "wharf-argocd" / "main.go"
    main.parent.mkdir(parents=True, exist_ok=True)
    main.write_text(MAIN_GO)
    partial = out / f".argocd.{os.getpid()}.partial"
    try:
        builder.go(
            ["build", "-trimpath", "-ldflags", ldflags(version), "-o", str(partial), "./hack/wharf-argocd"],
            src,
            timeout=5400,
        )
        manifests = manifests_dir(version)
        manifests.mkdir(exist_ok=True)
        for name in ("install.yaml",):
            shutil.copy(src / "manifests" / name, manifests / name)
        for crd in (src / "manifests" / "crds").glob("*-crd.yaml"):
            shutil.copy(crd, manifests / crd.name)
        scripts = scripts_dir(version)
        scripts.mkdir(exist_ok=True)
        for name in SCRIPTS:
            shutil.copy(src / "hack" / name, scripts / name)
            (scripts / name).chmod(0o755)
        partial.replace(out / "argocd")
    finally:
        partial.unlink(missing_ok=True)
    shutil.rmtree(src, ignore_errors=True)  # hundreds of MB; the module cache keeps the zips
    say(f"Argo CD v{version}: built in {time.monotonic() - started:.0f} s")
    with open(log_path, "a") as log:
        log.write(f"built in {time.monotonic() - started:.0f} s\n")
    return out / "argocd"


def wait_for_build(version: str = ARGOCD_VERSION, timeout: float = 3600) -> bool:
    """Wait while another process holds the build lock; True when the binary is there afterwards."""
    if built(version):
        return True
    if not _lock_path(version).exists():
        return False
    with open(_lock_path(version)) as lock:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(2)
    return built(version)


# --- installing into a cluster ---------------------------------------------------------------


def install_objects(version: str = ARGOCD_VERSION) -> list[dict]:
    """From the release's own manifests: Argo CD's CRDs, and its ConfigMaps and Secrets (argocd-cm,
    argocd-secret, ...), which the controller and repo server read; no Deployments (they run here)."""
    import yaml

    folder = manifests_dir(version)
    objects = [yaml.safe_load((folder / f"{name}-crd.yaml").read_text()) for name in ("application", "appproject")]
    for doc in yaml.safe_load_all((folder / "install.yaml").read_text()):
        if doc and doc.get("kind") in {"ConfigMap", "Secret"}:
            doc["metadata"]["namespace"] = NAMESPACE
            objects.append(doc)
    return objects


def install(kubectl, version: str = ARGOCD_VERSION, timeout: float = 60) -> None:
    """Namespace, CRDs (Established) and settings objects; ``kubectl(*args, input=...)`` runs kubectl."""
    kubectl("create", "namespace", NAMESPACE, check=False)
    objects = install_objects(version)
    kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=argocd-install",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
    )
    deadline = time.monotonic() + timeout
    for obj in objects:
        if obj["kind"] != "CustomResourceDefinition":
            continue
        # not `kubectl wait`: it errors out while a new CRD has no conditions at all yet
        while (
            kubectl(
                "get",
                f"crd/{obj['metadata']['name']}",
                "-o",
                "jsonpath={.status.conditions[?(@.type=='Established')].status}",
                check=False,
            ).stdout.strip()
            != "True"
        ):
            if time.monotonic() > deadline:
                raise HarnessError(f"CRD {obj['metadata']['name']} not Established after {timeout:.0f} s")
            time.sleep(0.3)


# --- a local Git repository --------------------------------------------------------------------


@dataclass
class GitRepo:
    """A bare repository (the remote Argo CD reads, at ``url``) and a checkout to commit from."""

    root: Path
    branch: str = "main"

    @property
    def bare(self) -> Path:
        return self.root / "gitops.git"

    @property
    def checkout(self) -> Path:
        return self.root / "checkout"

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def git(self, *args: str, cwd: Path | None = None) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Wharf tests",
            "GIT_AUTHOR_EMAIL": "tests@wharf.invalid",
            "GIT_COMMITTER_NAME": "Wharf tests",
            "GIT_COMMITTER_EMAIL": "tests@wharf.invalid",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        proc = subprocess.run(
            ["git", *args], cwd=cwd or self.checkout, env=env, capture_output=True, text=True, timeout=60
        )
        if proc.returncode != 0:
            raise HarnessError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.git("init", "--bare", "-q", "-b", self.branch, str(self.bare), cwd=self.root)
        self.git("init", "-q", "-b", self.branch, str(self.checkout), cwd=self.root)
        self.git("remote", "add", "origin", self.url)

    def copy_in(self, source: Path, relative: str) -> None:
        shutil.copytree(source / relative, self.checkout / relative, dirs_exist_ok=True)

    def point_at_self(self, folder: str = "examples/gitops/argocd") -> list[Path]:
        """What a user does before committing examples/gitops: put their repository's URL in place of
        the placeholder, in every file of the Argo CD folder."""
        changed = []
        for path in sorted((self.checkout / folder).rglob("*.yaml")):
            text = path.read_text()
            if PLACEHOLDER_REPO_URL in text:
                path.write_text(text.replace(PLACEHOLDER_REPO_URL, self.url))
                changed.append(path)
        return changed

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        self.git("push", "-q", "origin", self.branch)
        return self.git("rev-parse", "HEAD").strip()


# --- running the components --------------------------------------------------------------------


def _spawn(name: str, argv: list[str], work: Path, env: dict[str, str]) -> Process:
    log = work / f"{name}.log"
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=work,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    return Process(name, popen.pid, log, popen)


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _healthz(port: int, query: str = "") -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz{query}", timeout=10) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class ArgoCD:
    work: Path
    kubeconfig: Path
    processes: list[Process] = field(default_factory=list)
    owns_work: bool = False

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        if self.owns_work:
            shutil.rmtree(self.work, ignore_errors=True)

    def logs(self, lines: int = 30) -> str:
        return "\n".join(f"--- {p.name} ({p.log}):\n{p.log_tail(lines)}" for p in self.processes)


def start(
    kubeconfig: Path,
    helm: Path,
    work: Path | None = None,
    resync_seconds: int = 10,
    version: str = ARGOCD_VERSION,
    timeout: float = 120,
) -> ArgoCD:
    """redis, the repo server and the application controller for ``kubeconfig``'s cluster.

    ``resync_seconds`` is how often the controller compares each Application with Git (upstream's
    default is 120 s; ``timeout.reconciliation`` in argocd-cm), also how long the repo server caches
    a branch's resolved revision, so a new commit is seen within about that time.
    """
    redis = shutil.which("redis-server")
    if redis is None:
        raise HarnessError("redis-server is not installed (Debian package redis-server)")
    if not built(version):
        raise HarnessError(f"Argo CD v{version} is not built; run `{BUILD_COMMAND}`")
    owns = work is None
    work = Path(tempfile.mkdtemp(prefix="wharf-argocd-")) if work is None else work
    for sub in ("home", "tmp", "tls", "ssh", "gpg"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    argo = ArgoCD(work, kubeconfig, owns_work=owns)
    binary = str(binary_path(version))
    redis_port, repo_port, repo_metrics, ctl_metrics = free_port(), free_port(), free_port(), free_port()
    base_env = {
        **os.environ,
        "HOME": str(work / "home"),
        "TMPDIR": str(work / "tmp"),
        "PATH": f"{scripts_dir(version)}:{helm.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ARGOCD_GPG_ENABLED": "false",
        "ARGOCD_TLS_DATA_PATH": str(work / "tls"),
        "ARGOCD_SSH_DATA_PATH": str(work / "ssh"),
        "ARGOCD_GNUPGHOME": str(work / "gpg"),
        "ARGOCD_GPG_DATA_PATH": str(work / "gpg"),
        "ARGOCD_ASK_PASS_SOCK": str(work / "askpass.sock"),
        # the destination https://kubernetes.default.svc is the cluster of KUBECONFIG, as in
        # upstream's own local runs (its Procfile), instead of a pod's service account
        "ARGOCD_FAKE_IN_CLUSTER": "true",
        "KUBECONFIG": str(kubeconfig),
    }
    try:
        server = _spawn(
            "redis",
            [
                redis,
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(work),
            ],
            work,
            base_env,
        )
        argo.processes.append(server)
        _wait("redis PING", lambda: _redis_ping(redis_port), server, timeout)
        repo = _spawn(
            "argocd-repo-server",
            [
                binary,
                "--port",
                str(repo_port),
                "--address",
                "127.0.0.1",
                "--metrics-port",
                str(repo_metrics),
                "--metrics-address",
                "127.0.0.1",
                # TLS with the certificate it makes for itself, which the controller accepts
                # without verifying (upstream's defaults; --disable-tls needs more flags in 3.6)
                "--redis",
                f"127.0.0.1:{redis_port}",
                f"--revision-cache-expiration={resync_seconds}s",
                "--logformat",
                "text",
            ],
            work,
            {**base_env, "ARGOCD_BINARY_NAME": "argocd-repo-server"},
        )
        argo.processes.append(repo)
        # full=true: the repo server calls its own gRPC health service
        _wait("the repo server's /healthz", lambda: _healthz(repo_metrics, "?full=true"), repo, timeout)
        controller = _spawn(
            "argocd-application-controller",
            [
                binary,
                "--kubeconfig",
                str(kubeconfig),
                "--namespace",
                NAMESPACE,
                "--repo-server",
                f"127.0.0.1:{repo_port}",
                "--redis",
                f"127.0.0.1:{redis_port}",
                "--metrics-port",
                str(ctl_metrics),
                "--app-resync",
                str(resync_seconds),
                "--self-heal-timeout-seconds",
                "2",
                # each resource's health in the Application's status, as before 3.0
                # (3.x keeps it in redis only by default): what the tests read
                "--persist-resource-health=true",
                "--logformat",
                "text",
            ],
            work,
            {**base_env, "ARGOCD_BINARY_NAME": "argocd-application-controller"},
        )
        argo.processes.append(controller)
        _wait("the application controller's /healthz", lambda: _healthz(ctl_metrics), controller, timeout)
    except BaseException:
        argo.stop()
        raise
    return argo


def main() -> int:  # pragma: no cover - provisioning CLI
    try:
        path = build()
    except BuildError as exc:
        print(f"error: {exc}")
        return 1
    print(f"{path} (Argo CD v{ARGOCD_VERSION}: application controller, repo server)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
