"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager (+ KWOK).

Used by the ``kube_api`` pytest fixture (tests/conftest.py) and by ``invoke cluster.up/down``.
Everything lives in one work folder: certificates made with ``openssl``, a service-account signing
key, a token file, an admin kubeconfig and one log per process. Each process runs in its own
process group, and teardown signals exactly those groups, nothing found by name.

There is no kubelet: pods are never run. The controller-manager still turns a Deployment into a
ReplicaSet and Pods; with KWOK (and kube-scheduler) fake nodes report those Pods as running, so a
Deployment becomes Available.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import secrets
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from wharf.local.process import free_port
from wharf.testing import kube_binaries

SERVICE_CIDR = "10.96.0.0/16"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"


def kubernetes_service_ip() -> str:
    """The ClusterIP the API server gives the `kubernetes` Service: the first of the service range."""
    return str(ipaddress.ip_network(SERVICE_CIDR)[1])


class HarnessError(RuntimeError):
    pass


def missing_binary_message(paths: list[Path]) -> str:
    names = ", ".join(p.name for p in paths)
    folder = paths[0].parent if paths else kube_binaries.bin_dir()
    return (
        f"missing control-plane binaries: {names} (looked in {folder}); build them with "
        f"`{kube_binaries.BUILD_COMMAND}` (6-17 min cold, seconds when cached)"
    )


# --- pure pieces: arguments and files ------------------------------------------------------


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int


def etcd_args(data_dir: Path, ports: Ports) -> list[str]:
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        "--name=default",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        # test data is thrown away: skip fsync, it is the slow part on a busy disk
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def apiserver_args(work: Path, ports: Ports, address: str = "127.0.0.1", node: bool = False) -> list[str]:
    """Flags of kube-apiserver; ``node`` adds what a real kubelet and in-cluster clients need.

    Without a node everything stays on loopback. With one, the server listens on the node's address
    (pods must reach it through the ``kubernetes`` Service), kubelets are authorised by the Node
    authorizer and NodeRestriction as in kubeadm clusters, the server reaches kubelets with a client
    certificate (logs, exec), and aggregated APIs (metrics-server) get the front-proxy flags.
    """
    args = [
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        f"--bind-address={address}",
        f"--advertise-address={address}",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={work / 'apiserver-certs'}",
        f"--tls-cert-file={work / 'serving.crt'}",
        f"--tls-private-key-file={work / 'serving.key'}",
        f"--client-ca-file={work / 'ca.crt'}",
        f"--token-auth-file={work / 'tokens.csv'}",
        "--anonymous-auth=false",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={work / 'sa.key'}",
        f"--service-account-signing-key-file={work / 'sa.key'}",
        "--allow-privileged=true",
        "--kubelet-preferred-address-types=InternalIP",
        "--profiling=false",
        "--v=1",
    ]
    if not node:
        return args + [
            "--authorization-mode=RBAC",
            # the `kubernetes` Service's endpoint would be 127.0.0.1, which Endpoints validation refuses
            "--endpoint-reconciler-type=none",
        ]
    return args + [
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        f"--kubelet-client-certificate={work / 'kubelet-client.crt'}",
        f"--kubelet-client-key={work / 'kubelet-client.key'}",
        f"--requestheader-client-ca-file={work / 'ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={work / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={work / 'front-proxy-client.key'}",
        # aggregated APIs served from the host (metrics-server) are reached at their
        # endpoint's address, not through a ClusterIP
        "--enable-aggregator-routing=true",
    ]


def controller_manager_args(work: Path, node: bool = False) -> list[str]:
    # With a real node, HorizontalPodAutoscalers act on real metrics; the default 5 minutes before
    # scaling down would make every autoscaling test wait that long.
    hpa = ["--horizontal-pod-autoscaler-downscale-stabilization=20s"] if node else []
    # A real node mounts what a PersistentVolume names (hostPath, local), once the binder has bound
    # its claim; without a node, nothing could use a bound claim.
    volumes = "" if node else "-persistentvolume-binder-controller,"
    return hpa + [
        f"--kubeconfig={work / 'controller-manager.kubeconfig'}",
        f"--service-account-private-key-file={work / 'sa.key'}",
        f"--root-ca-file={work / 'ca.crt'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--leader-elect=false",
        "--secure-port=0",
        "--profiling=false",
        # each controller gets its own service account and RBAC role, as in a real cluster
        "--use-service-account-credentials=true",
        # off: controllers that need real volumes or a cloud's pod ranges (the cloud controllers
        # are gone from kube-controller-manager 1.37); node-lifecycle stays on, it is what
        # lifts the not-ready taint from a (KWOK) node once the node reports Ready
        f"--controllers=*,-node-ipam-controller,{volumes}"
        "-persistentvolume-attach-detach-controller,-persistentvolume-expander-controller",
        # KWOK's fake nodes never fail, but its heartbeats can lag on a loaded 2-CPU machine; the
        # default 40 s grace then marks the node NotReady and a ct-style install sees its
        # Deployment go unavailable mid-check (seen once in CI). Only real failures matter here.
        "--node-monitor-grace-period=10m",
        "--v=1",
    ]


def scheduler_args(work: Path) -> list[str]:
    return [f"--kubeconfig={work / 'scheduler.kubeconfig'}", "--leader-elect=false", "--secure-port=0", "--v=1"]


def kwok_args(work: Path, port: int) -> list[str]:
    return [
        f"--kubeconfig={work / 'kwok.kubeconfig'}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
        "--cidr=10.244.0.0/16",
        "--node-ip=10.1.0.1",
        f"--server-address=127.0.0.1:{port}",
    ]


def kubeconfig_text(server: str, ca_pem: bytes, user: str, token: str) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "wharf",
        "clusters": [
            {
                "name": "wharf",
                "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "wharf", "context": {"cluster": "wharf", "user": user}}],
    }
    return json.dumps(config, indent=2)  # JSON is YAML, and needs no extra dependency


def token_file_text(tokens: dict[str, tuple[str, str]]) -> str:
    """``token,user,uid[,"group1,group2"]`` lines for --token-auth-file."""
    return "".join(
        f"{token},{user},{user}" + (f',"{groups}"' if groups else "") + "\n" for token, (user, groups) in tokens.items()
    )


# --- files on disk -------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise HarnessError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def write_certificates(work: Path, address: str = "127.0.0.1", node: bool = False) -> None:
    """A throwaway CA, a serving certificate for the API server's addresses, and the service-account key.

    With a node, also the client certificates the API server presents to kubelets (as a member of
    system:masters, which the kubelet's webhook authorizer lets read logs and exec) and to
    aggregated API servers (the front proxy).
    """
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=wharf-test-ca",
        cwd=work,
    )
    # 10.96.0.1 is the `kubernetes` Service: in-cluster clients check the certificate against it
    ips = sorted({"127.0.0.1", address} | ({kubernetes_service_ip()} if node else set()))
    sans = ",".join(
        [f"IP:{ip}" for ip in ips]
        + [
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
        ]
    )
    _signed(work, "serving", "/CN=kube-apiserver", f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n")
    if node:
        _signed(
            work,
            "kubelet-client",
            "/O=system:masters/CN=kube-apiserver-kubelet-client",
            "extendedKeyUsage=clientAuth\n",
        )
        _signed(work, "front-proxy-client", "/CN=front-proxy-client", "extendedKeyUsage=clientAuth\n")
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=work)
    for key in work.glob("*.key"):
        key.chmod(0o600)


def _signed(work: Path, name: str, subject: str, extensions: str) -> None:
    """``name``.key and ``name``.crt, signed by the throwaway CA, valid 2 days."""
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        "-subj",
        subject,
        cwd=work,
    )
    (work / f"{name}.ext").write_text(extensions + "keyUsage=digitalSignature,keyEncipherment\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        f"{name}.crt",
        "-days",
        "2",
        "-extfile",
        f"{name}.ext",
        cwd=work,
    )


# Users of the node's processes (token, user, groups): the kubelet is a node identity for the Node
# authorizer; kube-proxy's user name is the one the bootstrap ClusterRoleBinding system:node-proxier
# names; CoreDNS and metrics-server get the ClusterRoles node.py creates for them.
NODE_USERS = {
    "kubelet": ("system:node:{node}", "system:nodes"),
    "kube-proxy": ("system:kube-proxy", ""),
    "coredns": ("wharf:coredns", ""),
    "metrics-server": ("wharf:metrics-server", ""),
}


def write_credentials(work: Path, server: str, node_name: str | None = None) -> None:
    users = {
        "admin": ("wharf-admin", "system:masters"),
        # the built-in RBAC bootstrap roles are bound to these two user names: least privilege
        "controller-manager": ("system:kube-controller-manager", ""),
        "scheduler": ("system:kube-scheduler", ""),
        # KWOK has no bootstrap role; it plays every kubelet, so it gets admin rights (tests only)
        "kwok": ("system:kwok-controller", "system:masters"),
    }
    if node_name:
        users.update({name: (user.format(node=node_name), groups) for name, (user, groups) in NODE_USERS.items()})
    tokens = {name: secrets.token_hex(16) for name in users}
    (work / "tokens.csv").write_text(token_file_text({tokens[n]: users[n] for n in users}))
    (work / "tokens.csv").chmod(0o600)
    ca = (work / "ca.crt").read_bytes()
    for name, (user, _) in users.items():
        path = work / ("admin.kubeconfig" if name == "admin" else f"{name}.kubeconfig")
        path.write_text(kubeconfig_text(server, ca, user, tokens[name]))
        path.chmod(0o600)


# --- processes -----------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    pid: int
    log: Path
    popen: subprocess.Popen | None = None

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return _running(self.pid) and _cmdline_is_ours(self.pid, self.name)

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 10) -> None:
        """SIGTERM then SIGKILL this process's own group (it was started as a session leader)."""
        if not self.alive():
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if self.popen is not None:
                    if self.popen.poll() is not None:
                        return
                elif not _running(self.pid):
                    return
                time.sleep(0.1)


def _running(pid: int) -> bool:
    """Exists and is not a zombie (a zombie child of ours has exited but is not reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


def _cmdline_is_ours(pid: int, name: str) -> bool:
    """Guard for `cluster down`: a pid from a state file may have been reused by something else."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return False
    return Path(argv0).name == name


def _die_with_parent() -> None:
    """Runs in the child before exec: kill it if the test process dies without tearing down.

    SIGKILL, not SIGTERM: kube-apiserver's graceful shutdown takes tens of seconds once etcd is
    gone too, and throwaway test state needs no graceful end.
    """
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _spawn(
    name: str, args: list[str], work: Path, outlive_caller: bool = False, executable: str | None = None
) -> Process:
    """Start ``name`` (a cached Kubernetes binary unless ``executable`` is given), logging to work/name.log."""
    log = work / f"{name}.log"
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            [executable or str(kube_binaries.binary_path(name)), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=work,
            start_new_session=True,
            preexec_fn=None if outlive_caller else _die_with_parent,
        )
    return Process(name, popen.pid, log, popen)


def _ssl_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def _get(url: str, token: str | None = None, ca: Path | None = None, timeout: float = 5) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=_ssl_context(ca) if ca else None) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def _wait(what: str, check, process: Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not process.alive():
            raise HarnessError(
                f"{process.name} exited while waiting for {what}; its log ({process.log}):\n{process.log_tail()}"
            )
        time.sleep(0.25)
    raise HarnessError(
        f"timed out after {timeout:.0f} s waiting for {what}; {process.name} log ({process.log}):\n{process.log_tail()}"
    )


# --- the control plane ---------------------------------------------------------------------


@dataclass
class ControlPlane:
    work: Path
    server: str
    processes: list[Process] = field(default_factory=list)
    owns_work: bool = False

    @property
    def kubeconfig(self) -> Path:
        return self.work / "admin.kubeconfig"

    @property
    def admin_token(self) -> str:
        return json.loads(self.kubeconfig.read_text())["users"][0]["user"]["token"]

    @property
    def ca(self) -> Path:
        return self.work / "ca.crt"

    def api_client(self):
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def get(self, path: str) -> tuple[int, bytes]:
        return _get(self.server + path, self.admin_token, self.ca)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        if self.owns_work:
            subprocess.run(["rm", "-rf", str(self.work)], check=False)

    def state(self) -> dict:
        return {
            "work": str(self.work),
            "server": self.server,
            "processes": [{"name": p.name, "pid": p.pid, "log": str(p.log)} for p in self.processes],
        }

    @classmethod
    def from_state(cls, state: dict) -> ControlPlane:
        return cls(
            Path(state["work"]),
            state["server"],
            [Process(p["name"], p["pid"], Path(p["log"])) for p in state["processes"]],
        )


def start_control_plane(
    work: Path | None = None,
    controller_manager: bool = True,
    kwok: bool | None = None,
    timeout: float = 180,
    outlive_caller: bool = False,
    address: str = "127.0.0.1",
    node_name: str | None = None,
    apiserver_version: str = kube_binaries.KUBERNETES_VERSION,
) -> ControlPlane:
    """Start etcd + kube-apiserver (+ controller-manager, + scheduler/KWOK when built) and wait until ready.

    ``kwok=None`` means "if the kwok and kube-scheduler binaries exist". On any failure everything
    already started is stopped again before the error is raised. Unless ``outlive_caller``, the
    processes are also signalled by the kernel if this Python process dies without cleaning up.

    ``node_name`` prepares the control plane for a real kubelet of that name (wharf.testing.node):
    the API server listens on ``address`` instead of loopback, with the flags and credentials the
    node's processes need, and KWOK is not started (the scheduler is).

    ``apiserver_version`` runs the kube-apiserver of another cached release (the oldest Kubernetes the
    charts admit, ``kube_binaries.OLDEST_KUBERNETES_VERSION``) on the same etcd; only the API server
    is built for it, so it goes with ``controller_manager=False``.
    """
    other = apiserver_version != kube_binaries.KUBERNETES_VERSION
    if other and (controller_manager or node_name is not None or kwok):
        raise HarnessError(
            f"only kube-apiserver is built for Kubernetes {apiserver_version}: "
            "start it without the controller-manager, KWOK or a node"
        )
    node = node_name is not None
    if node:
        kwok = False
    required = (
        ["etcd", "kube-apiserver"]
        + (["kube-controller-manager"] if controller_manager else [])
        + (["kube-scheduler"] if node else [])
    )
    missing = kube_binaries.missing_binaries(tuple(n for n in required if n != "kube-apiserver"))
    missing += kube_binaries.missing_binaries(("kube-apiserver",), apiserver_version)
    if missing:
        raise HarnessError(missing_binary_message(missing))
    if other:
        kwok = False
    if kwok is None:
        kwok = controller_manager and not kube_binaries.missing_binaries(("kwok", "kube-scheduler"))
    elif kwok and kube_binaries.missing_binaries(("kwok", "kube-scheduler")):
        raise HarnessError(missing_binary_message(kube_binaries.missing_binaries(("kwok", "kube-scheduler"))))

    owns = work is None
    work = Path(tempfile.mkdtemp(prefix="wharf-kube-")) if work is None else work
    work.mkdir(parents=True, exist_ok=True)
    ports = Ports(free_port(), free_port(), free_port())
    plane = ControlPlane(work, f"https://{address}:{ports.apiserver}", owns_work=owns)
    try:
        write_certificates(work, address, node)
        write_credentials(work, plane.server, node_name)
        etcd = _spawn("etcd", etcd_args(work / "etcd-data", ports), work, outlive_caller)
        plane.processes.append(etcd)
        _wait("etcd /health", lambda: _get(f"http://127.0.0.1:{ports.etcd_client}/health")[0] == 200, etcd, timeout)
        apiserver = _spawn(
            "kube-apiserver",
            apiserver_args(work, ports, address, node),
            work,
            outlive_caller,
            executable=str(kube_binaries.binary_path("kube-apiserver", apiserver_version)),
        )
        plane.processes.append(apiserver)
        _wait("kube-apiserver /readyz", lambda: plane.get("/readyz")[0] == 200, apiserver, timeout)
        if controller_manager:
            cm = _spawn("kube-controller-manager", controller_manager_args(work, node), work, outlive_caller)
            plane.processes.append(cm)
            # the serviceaccount controller's first act: proof that controllers are running
            _wait(
                "the controller-manager to create serviceaccount default/default",
                lambda: plane.get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
                cm,
                timeout,
            )
        if kwok or node:
            plane.processes.append(_spawn("kube-scheduler", scheduler_args(work), work, outlive_caller))
        if kwok:
            plane.processes.append(_spawn("kwok", kwok_args(work, free_port()), work, outlive_caller))
    except BaseException:
        plane.stop()
        raise
    return plane


def fake_node_manifest(name: str) -> dict:
    """A Node that KWOK manages (its annotation matches the selector KWOK was started with)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_NODE_ANNOTATION: "fake"},
            "labels": {"type": "kwok", "kubernetes.io/hostname": name},
        },
        "spec": {},
    }


# --- a long-lived control plane for humans (`invoke cluster.up` / `cluster.down`) -----------


def default_cluster_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "wharf" / "cluster"


def cluster_up(work: Path | None = None) -> ControlPlane:
    """Start a control plane that outlives this process; its pids go to ``state.json`` for `down`."""
    work = work or default_cluster_dir()
    state_file = work / "state.json"
    if state_file.exists():
        old = ControlPlane.from_state(json.loads(state_file.read_text()))
        if any(p.alive() for p in old.processes):
            raise HarnessError(
                f"a control plane from {work} is already running at {old.server}; stop it with `invoke cluster.down`"
            )
    subprocess.run(["rm", "-rf", str(work)], check=True)
    plane = start_control_plane(work=work, outlive_caller=True)
    for process in plane.processes:
        process.popen = None  # after we exit, liveness is judged from /proc, pid and binary name
    state_file.write_text(json.dumps(plane.state(), indent=2))
    return plane


def cluster_down(work: Path | None = None) -> list[str]:
    """Stop the processes recorded by :func:`cluster_up` (only those pids, only if still theirs)."""
    work = work or default_cluster_dir()
    state_file = work / "state.json"
    if not state_file.exists():
        return []
    plane = ControlPlane.from_state(json.loads(state_file.read_text()))
    stopped = [p.name for p in plane.processes if p.alive()]
    plane.stop()
    state_file.unlink()
    return stopped
