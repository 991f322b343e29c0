"""One real Kubernetes node on this machine: containerd, CNI, kubelet, kube-proxy and CoreDNS.

The control plane of ``wharf.testing.apiserver`` gains a node whose pods really run:

- a **containerd** of its own (Debian's package) with its own config, root, state and socket, so it
  never touches the Docker engine's containerd; images come from the local Docker engine
  (``docker save | ctr import``), nothing is pulled;
- a **pause image** compiled here from the pause source in the ``k8s.io/kubernetes`` module;
- **CNI** from Debian's ``containernetworking-plugins``: bridge + host-local, portmap, and the
  firewall plugin (Docker sets the FORWARD policy to DROP; without it pod traffic is dropped);
- the **kubelet** and **kube-proxy** (iptables mode) built from the same Kubernetes release as the
  API server;
- **CoreDNS** on the node's address, serving ``cluster.local`` from the API server, so pods reach
  Services by name;
- **metrics-server** on the node's address, registered as the ``metrics.k8s.io`` aggregated API, so
  HorizontalPodAutoscalers see CPU use.

The node's address is the gateway address of the pods' bridge (``wharf-cni0``); the API server
listens there so that pods reach it through the ``kubernetes`` Service. Everything the node changes on the host
(host sysctls the kubelet rewrites, iptables chains, network links, mounts, cgroups) is recorded
and undone by :meth:`Node.stop`.

This module is test harness: it needs root, and changes host networking while it runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wharf.local.process import free_port
from wharf.testing import apiserver, kube_binaries
from wharf.testing.apiserver import ControlPlane, HarnessError, Process

NODE_NAME = "wharf-node"
# The pods' bridge, made before the CNI plugin would make it, so that its gateway address can be the
# node's address from the start: the API server, the kubelet and CoreDNS listen there, and pods reach
# it directly. (A dummy link of its own would be tidier, but this kernel has no dummy driver.)
BRIDGE = "wharf-cni0"
POD_SUBNET = "10.244.0.0/24"
NODE_IP = "10.244.0.1"
CLUSTER_DOMAIN = "cluster.local"
PAUSE_IMAGE = f"localhost/wharf-pause:k8s-v{kube_binaries.KUBERNETES_VERSION}"
CNI_BIN_DIR = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap", "firewall")

# command -> the Debian package that provides it
HOST_COMMANDS = {
    "containerd": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "conntrack": "conntrack",
    "iptables": "iptables",
    "ip": "iproute2",
    "gcc": "gcc",
    "docker": "docker.io",
}
DEBIAN_PACKAGES = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "conntrack",
    "iptables",
    "iproute2",
    "gcc",
    "libc6-dev",
)
NODE_BINARIES = ("kubelet", "kube-proxy", "kube-scheduler", "coredns", "crictl", "metrics-server")

# Host sysctls the node changes: the kubelet (protectKernelDefaults: false) sets the first six to its
# preferred values, and pods on a bridge reach Services only when bridged traffic passes iptables.
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/bridge/bridge-nf-call-iptables",
    "net/ipv4/ip_forward",
)
NODE_SYSCTLS = {"net/bridge/bridge-nf-call-iptables": "1", "net/ipv4/ip_forward": "1"}
# Packets to a Service address that kube-proxy has not (yet) translated would leave by the default
# route. On a cloud network they are dropped; this VM's egress instead answers every TCP connection
# with its own "HTTP 404" (server: keryx), which a client's keep-alive pool then reuses long after
# the Service's rules exist. The node rejects them instead, so the client sees "connection refused",
# as it does for a Service whose endpoints are not ready.
SERVICE_RANGE_CHAIN = "WHARF-SERVICE-RANGE"
CNI_ADMIN_CHAIN = "CNI-ADMIN"  # the CNI firewall plugin's chain for administrators' rules (its default name)
CHAIN_PREFIXES = ("KUBE-", "CNI-", "WHARF-")
# The node's containerd holds a copy of every image the tests load (a dozen of 0.3-0.9 GB). With
# less room a test's pod never starts and the suite spends its time waiting instead of saying why.
MIN_FREE_DISK = 10 * 10**9


# --- prerequisites ---------------------------------------------------------------------------


def missing_prerequisites() -> list[str]:
    """What this machine lacks to run a node, each with how to get it; empty when all is there."""
    problems = []
    if os.geteuid() != 0:
        problems.append("root (the kubelet, containerd and CNI change host networking and cgroups)")
    commands = sorted({pkg for cmd, pkg in HOST_COMMANDS.items() if shutil.which(cmd) is None})
    plugins = [p for p in CNI_PLUGINS if not (CNI_BIN_DIR / p).exists()]
    if plugins:
        commands.append("containernetworking-plugins")
    if commands:
        problems.append(f"Debian packages {', '.join(commands)} (`apt-get install -y {' '.join(commands)}`)")
    if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        problems.append("the br_netfilter kernel module (`modprobe br_netfilter`)")
    missing = kube_binaries.missing_binaries(kube_binaries.CONTROL_PLANE + NODE_BINARIES)
    if missing:
        problems.append(f"binaries {', '.join(p.name for p in missing)} (`{kube_binaries.BUILD_COMMAND}`)")
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < MIN_FREE_DISK:
        problems.append(
            f"{MIN_FREE_DISK / 1e9:.0f} GB of free disk where the node keeps its images "
            f"({tempfile.gettempdir()} has {free / 1e9:.1f} GB; `docker image prune` frees dangling images)"
        )
    return problems


def _run(args: list[str], what: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    if proc.returncode != 0:
        raise HarnessError(f"{what} failed ({' '.join(args[:3])} ...): {(proc.stderr or proc.stdout).strip()[-800:]}")
    return proc


# --- the pause image --------------------------------------------------------------------------


def pause_binary() -> Path:
    """The pause program, compiled statically from the k8s.io/kubernetes module's own source."""
    out = kube_binaries.binary_path("pause")
    if os.access(out, os.X_OK):
        return out
    version = kube_binaries.KUBERNETES_VERSION
    listing = _run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@v{version}"],
        "go mod download",
        timeout=1800,
        cwd=tempfile.gettempdir(),
        env={**os.environ, "GOFLAGS": "-mod=mod"},
    )
    source = Path(json.loads(listing.stdout)["Dir"]) / "build" / "pause" / "linux" / "pause.c"
    partial = out.with_name(".pause.partial")
    _run(
        [
            "gcc",
            "-Os",
            "-static",
            "-Wall",
            "-Werror",
            f"-DVERSION=wharf-k8s-v{version}",
            "-o",
            str(partial),
            str(source),
        ],
        "compiling pause.c",
    )
    partial.replace(out)
    return out


def ensure_pause_image() -> str:
    """``PAUSE_IMAGE`` in the local Docker engine: the pause binary in an empty image, as upstream's."""
    if subprocess.run(["docker", "image", "inspect", PAUSE_IMAGE], capture_output=True).returncode == 0:
        return PAUSE_IMAGE
    with tempfile.TemporaryDirectory() as context:
        shutil.copy2(pause_binary(), Path(context) / "pause")
        (Path(context) / "Dockerfile").write_text(
            'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n'
        )
        _run(["docker", "build", "-q", "-t", PAUSE_IMAGE, context], "docker build of the pause image", timeout=300)
    return PAUSE_IMAGE


# --- configuration files (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class NodePorts:
    kubelet: int
    kubelet_healthz: int
    proxy_healthz: int
    proxy_metrics: int
    dns_ready: int
    metrics_server: int

    @classmethod
    def pick(cls) -> NodePorts:
        return cls(*(free_port() for _ in range(6)))


@dataclass(frozen=True)
class Layout:
    """Where the node keeps its state: everything under one folder, removed by ``stop``."""

    work: Path

    @property
    def node(self) -> Path:
        """The node's own state (containerd's images and containers, the kubelet's pods, CNI leases).

        A short path of its own, keyed by the work folder: containerd and the kubelet make unix
        sockets below it, and a socket path may not exceed 104 bytes (a pytest tmp_path can).
        """
        return Path("/var/lib") / f"wharf-node-{hashlib.sha256(str(self.work).encode()).hexdigest()[:12]}"

    @property
    def containerd_socket(self) -> Path:
        return self.node / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.node / "cni" / "net.d"

    @property
    def kubelet_root(self) -> Path:
        return self.node / "kubelet"

    def endpoint(self) -> str:
        return f"unix://{self.containerd_socket}"


def containerd_config(layout: Layout) -> str:
    base = layout.node / "containerd"
    return f"""version = 2
root = "{base / "root"}"
state = "{base / "state"}"
[grpc]
  address = "{layout.containerd_socket}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{base / "opt"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # This VM takes CAP_SYS_RESOURCE from every process: runc cannot lower oom_score_adj, and every
  # sandbox fails to start unless containers keep at least containerd's own score.
  restrict_oom_score_adj = true
  # network namespaces under our state folder, not /var/run/netns
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{layout.cni_conf_dir}"
"""


def cni_conflist(layout: Layout) -> dict:
    return {
        "cniVersion": "0.4.0",
        "name": "wharf",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": True,
                # a pod that calls its own Service can be sent back to itself
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(layout.node / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            # Docker sets the FORWARD policy to DROP; this plugin accepts the pods' own traffic
            {"type": "firewall"},
        ],
    }


def kubelet_config(layout: Layout, ports: NodePorts, ca: Path) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # this machine kind has cgroup v1 only; kubelet 1.35 and later refuse it unless told
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        # true would refuse to start because this host's kernel/panic, kernel/panic_on_oops and
        # vm/overcommit_memory differ from the kubelet's values; false makes the kubelet set them,
        # and Node.stop puts the host's values back
        "protectKernelDefaults": False,
        "containerRuntimeEndpoint": layout.endpoint(),
        "imageServiceEndpoint": layout.endpoint(),
        "address": NODE_IP,
        "port": ports.kubelet,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports.kubelet_healthz,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [NODE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        # no host search domains or resolvers leak into pods
        "resolvConf": str(layout.node / "resolv.conf"),
        "podLogsDir": str(layout.node / "pod-logs"),
        "volumePluginDir": str(layout.node / "volume-plugins"),
        "staticPodPath": "",
        # images are loaded from the Docker engine, never pulled: never garbage-collect them, and
        # do not evict pods for a disk that is merely fuller than a production node would be
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "serializeImagePulls": False,
        # tests change pods quickly; report status changes quickly too
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "10s",
    }


def kube_proxy_config(work: Path, ports: NodePorts) -> dict:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(work / "kube-proxy.kubeconfig")},
        "hostnameOverride": NODE_NAME,
        "mode": "iptables",
        "clusterCIDR": POD_SUBNET,
        "healthzBindAddress": f"127.0.0.1:{ports.proxy_healthz}",
        "metricsBindAddress": f"127.0.0.1:{ports.proxy_metrics}",
        # leave the host's conntrack sysctls alone (0 = do not set)
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        # true would set net.ipv4.conf.all.route_localnet on the host
        "iptables": {"localhostNodePorts": False, "minSyncPeriod": "0s"},
    }


def corefile(work: Path, ports: NodePorts, upstream: bool) -> str:
    """CoreDNS serving cluster.local from the API server (and forwarding the rest if the host has resolvers)."""
    forward = "    forward . /etc/resolv.conf\n" if upstream else ""
    return (
        f".:53 {{\n    bind {NODE_IP}\n    errors\n    ready 127.0.0.1:{ports.dns_ready}\n"
        f"    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{\n"
        f"        kubeconfig {work / 'coredns.kubeconfig'} wharf\n"
        "        pods insecure\n        fallthrough in-addr.arpa ip6.arpa\n        ttl 5\n    }\n"
        f"{forward}    cache 5\n}}\n"
    )


def rbac_objects() -> list[dict]:
    """Least-privilege roles of the host-side helpers (users from apiserver.NODE_USERS)."""

    def role(name: str, rules: list[dict]) -> dict:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": rules,
        }

    def binding(name: str, role_name: str, user: str, namespace: str | None = None) -> dict:
        """A ClusterRoleBinding, or with ``namespace`` a RoleBinding to the Role of that name there."""
        meta = {"name": name} | ({"namespace": namespace} if namespace else {})
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
            "metadata": meta,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role" if namespace else "ClusterRole",
                "name": role_name,
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }

    watch = ["list", "watch"]
    return [
        role(
            "wharf:coredns",
            [
                {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": watch},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": watch},
            ],
        ),
        binding("wharf:coredns", "wharf:coredns", "wharf:coredns"),
        # as in metrics-server's own manifests
        role(
            "wharf:metrics-server",
            [
                {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", *watch]},
            ],
        ),
        binding("wharf:metrics-server", "wharf:metrics-server", "wharf:metrics-server"),
        binding("wharf:metrics-server:auth-delegator", "system:auth-delegator", "wharf:metrics-server"),
        binding(
            "wharf:metrics-server-auth-reader",
            "extension-apiserver-authentication-reader",
            "wharf:metrics-server",
            "kube-system",
        ),
    ]


def metrics_api_objects(port: int) -> list[dict]:
    """metrics-server runs on the host: a Service without selector, its EndpointSlice, the APIService."""
    meta = {"name": "metrics-server", "namespace": "kube-system"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port, "protocol": "TCP"}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "metrics-server-host",
                "namespace": "kube-system",
                "labels": {"kubernetes.io/service-name": "metrics-server"},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [NODE_IP]}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": "v1beta1.metrics.k8s.io"},
            "spec": {
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "service": {"name": "metrics-server", "namespace": "kube-system", "port": 443},
                # metrics-server's certificate is self-signed, as in kind's and minikube's setups
                "insecureSkipTLSVerify": True,
            },
        },
    ]


def smoke_pod() -> dict:
    """A pod that runs to completion under the restricted Pod Security Standard: `pause -v` prints its version."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "wharf-node-smoke", "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65535, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "pause",
                    "image": PAUSE_IMAGE,
                    "imagePullPolicy": "Never",
                    "args": ["-v"],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


# --- host changes and their undoing ------------------------------------------------------------


def read_sysctls() -> dict[str, str]:
    return {
        name: (Path("/proc/sys") / name).read_text().strip() for name in SYSCTLS if (Path("/proc/sys") / name).exists()
    }


def write_sysctls(values: dict[str, str]) -> None:
    for name, value in values.items():
        try:
            (Path("/proc/sys") / name).write_text(value + "\n")
        except OSError:
            pass  # a read-only or vanished knob: nothing to restore


def remove_chains(prefixes: tuple[str, ...] = CHAIN_PREFIXES) -> list[str]:
    """Delete the iptables chains kube-proxy and the CNI plugins made, and the rules that jump to them."""
    removed = []
    for tool in ("iptables", "ip6tables"):
        if shutil.which(tool) is None:
            continue
        for table in ("filter", "nat", "mangle"):
            listing = subprocess.run([tool, "-w", "-t", table, "-S"], capture_output=True, text=True, timeout=30)
            if listing.returncode != 0:
                continue
            ours = [
                line.split()[1]
                for line in listing.stdout.splitlines()
                if line.startswith("-N ") and line.split()[1].startswith(prefixes)
            ]
            for line in listing.stdout.splitlines():
                parts = shlex.split(line)  # comments are quoted: "kubernetes service portals"
                if parts[:1] == ["-A"] and parts[1] not in ours and any(p in ours for p in parts[2:]):
                    subprocess.run([tool, "-w", "-t", table, "-D", *parts[1:]], capture_output=True, timeout=30)
            for chain in ours:
                subprocess.run([tool, "-w", "-t", table, "-F", chain], capture_output=True, timeout=30)
            for chain in ours:
                if (
                    subprocess.run([tool, "-w", "-t", table, "-X", chain], capture_output=True, timeout=30).returncode
                    == 0
                ):
                    removed.append(f"{tool}/{table}/{chain}")
    return removed


def mounts_under(folder: Path) -> list[str]:
    """Mount points at or below ``folder``, deepest first (so each can be unmounted in turn)."""
    prefix = str(folder.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def unmount_all(folder: Path) -> None:
    for _ in range(3):  # a bind mount can hide another one: repeat until none is left
        points = mounts_under(folder)
        if not points:
            return
        for point in points:
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)


def kubepods_cgroups() -> list[Path]:
    return sorted(Path("/sys/fs/cgroup").glob("*/kubepods*"))


def remove_cgroups(roots: list[Path]) -> None:
    """Kill whatever still runs in the kubelet's cgroups, then remove them, leaves first."""
    for root in roots:
        for procs in root.rglob("cgroup.procs"):
            for pid in procs.read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
    for root in roots:
        folders = sorted((p for p in [root, *root.rglob("*")] if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        for folder in folders:
            for _ in range(20):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)  # processes just killed leave the cgroup a moment later


def _command_lines() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, argv) of every process this user may read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0]:
            yield int(entry.name), argv


def shim_pids(socket: Path) -> list[int]:
    """containerd-shim-runc-v2 processes of *our* containerd: their command line names its socket."""
    return [
        pid
        for pid, argv in _command_lines()
        if argv[0].endswith(b"containerd-shim-runc-v2") and str(socket).encode() in argv
    ]


def delete_link(name: str) -> None:
    subprocess.run(["ip", "link", "delete", name], capture_output=True, timeout=30)


NODE_FOLDER_GLOB = "wharf-node-*"  # Layout.node's folders under /var/lib
HOST_SYSCTLS_FILE = "host-sysctls.json"  # in Layout.node: the host's values, for a reclaim to restore


def live_node_processes() -> dict[int, str]:
    """containerd and kubelet processes of any Wharf node on this machine: pid -> its command line.

    They are recognised by their arguments naming a node folder (containerd's --config, the
    kubelet's --root-dir), never by program name alone: the Docker engine has a containerd too.
    """
    marker = f"/var/lib/{NODE_FOLDER_GLOB[:-1]}".encode()
    return {
        pid: b" ".join(argv).decode(errors="replace").strip()
        for pid, argv in _command_lines()
        if Path(argv[0].decode(errors="replace")).name in ("containerd", "kubelet")
        and any(marker in arg for arg in argv[1:])
    }


def reclaim_stale_nodes() -> list[str]:
    """Undo what a node whose processes were killed before its ``stop`` ran left on the host.

    A CI job that runs out of time is killed with its whole process group: the node's bridge,
    iptables chains, cgroups, mounts and folder stay, and the next run on the machine would be
    refused. Only called when no node process is alive. Returns what was removed, for the log.
    """
    removed = []
    for folder in sorted(Path("/var/lib").glob(NODE_FOLDER_GLOB)):
        for pid in shim_pids(folder / "containerd.sock"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        saved = folder / HOST_SYSCTLS_FILE
        if saved.exists():
            try:
                write_sysctls(json.loads(saved.read_text()))
            except ValueError:
                pass  # written half when the node was killed: the node's own values stay
        unmount_all(folder)
        if not mounts_under(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    cgroups = kubepods_cgroups()
    remove_cgroups(cgroups)
    removed += [str(c) for c in cgroups]
    removed += remove_chains()
    if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode == 0:
        delete_link(BRIDGE)
        removed.append(f"link {BRIDGE}")
    return removed


# --- the node ----------------------------------------------------------------------------------


@dataclass
class Node:
    plane: ControlPlane
    ports: NodePorts
    processes: list[Process] = field(default_factory=list)
    saved_sysctls: dict[str, str] = field(default_factory=dict)

    @property
    def layout(self) -> Layout:
        return Layout(self.plane.work)

    def crictl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                str(kube_binaries.binary_path("crictl")),
                "--runtime-endpoint",
                self.layout.endpoint(),
                "--image-endpoint",
                self.layout.endpoint(),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ctr(self, *args: str) -> list[str]:
        return ["ctr", "--address", str(self.layout.containerd_socket), "--namespace", "k8s.io", *args]

    def load_images(self, images: list[str]) -> None:
        """Copy images from the local Docker engine into the node's containerd (like `kind load docker-image`)."""
        for image in images:
            save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            imported = subprocess.run(
                self.ctr("images", "import", "-"), stdin=save.stdout, capture_output=True, text=True, timeout=600
            )
            save.stdout.close()
            save_err = save.stderr.read().decode(errors="replace").strip()
            save.stderr.close()
            if save.wait(60) != 0:
                raise HarnessError(f"docker save {image} failed: {save_err}")
            if imported.returncode != 0:
                raise HarnessError(f"importing {image} into the node's containerd failed: {imported.stderr.strip()}")

    def state(self) -> dict:
        return {
            "ports": self.ports.__dict__,
            "saved_sysctls": self.saved_sysctls,
            "processes": [{"name": p.name, "pid": p.pid, "log": str(p.log)} for p in self.processes],
        }

    @classmethod
    def from_state(cls, plane: ControlPlane, state: dict) -> Node:
        return cls(
            plane,
            NodePorts(**state["ports"]),
            [Process(p["name"], p["pid"], Path(p["log"])) for p in state["processes"]],
            state["saved_sysctls"],
        )

    def stop(self) -> None:
        """Stop every process, remove every pod, and undo every change to the host. Safe to repeat."""
        by_name = {p.name: p for p in self.processes}
        if "kubelet" in by_name:  # first, or it restarts the pods removed next
            by_name["kubelet"].stop(grace=15)
        if "containerd" in by_name and by_name["containerd"].alive():
            self.crictl("rmp", "--force", "--all", timeout=120)
        for process in reversed(self.processes):
            process.stop(grace=10)
        for pid in shim_pids(self.layout.containerd_socket):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.processes.clear()
        remove_cgroups(kubepods_cgroups())
        unmount_all(self.layout.node)
        remove_chains()
        delete_link(BRIDGE)
        if not mounts_under(self.layout.node):  # never delete through a mount that is still there
            shutil.rmtree(self.layout.node, ignore_errors=True)
        write_sysctls(self.saved_sysctls)


def _spawn(name: str, args: list[str], work: Path, outlive_caller: bool, executable: str | None = None) -> Process:
    return apiserver._spawn(name, args, work, outlive_caller, executable)


def _write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))  # JSON is YAML for the kubelet and kube-proxy
    return path


def _host_has_resolvers() -> bool:
    try:
        return bool(re.search(r"^\s*nameserver\s+\S+", Path("/etc/resolv.conf").read_text(), re.M))
    except OSError:
        return False


def _wait(what: str, check, processes: list[Process], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        for process in processes:
            if not process.alive():
                raise HarnessError(
                    f"{process.name} exited while waiting for {what}; its log ({process.log}):\n{process.log_tail()}"
                )
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name} ({p.log}):\n{p.log_tail(15)}" for p in processes)
    raise HarnessError(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")


def _node_ready(plane: ControlPlane) -> bool:
    status, body = plane.get(f"/api/v1/nodes/{NODE_NAME}")
    if status != 200:
        return False
    conditions = json.loads(body).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _kubectl(plane: ControlPlane, *args: str, input: str | None = None, timeout: float = 120) -> str:
    proc = subprocess.run(
        [str(kube_binaries.binary_path("kubectl")), f"--kubeconfig={plane.kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise HarnessError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def _apply(plane: ControlPlane, objects: list[dict]) -> None:
    _kubectl(
        plane,
        "apply",
        "--server-side",
        "--field-manager=wharf-node",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
    )


def _claim_host_network() -> None:
    """The pods' bridge with the node's address; refuse if another node holds it, and reclaim
    what a node that died without stopping left behind."""
    if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode == 0:
        alive = live_node_processes()
        if alive:
            pid, argv = next(iter(alive.items()))
            raise HarnessError(
                f"another Wharf node runs on this machine (pid {pid}: {argv[:160]}); stop it with `invoke cluster.down`"
            )
        removed = reclaim_stale_nodes()
        print(
            f"wharf node: removed what a node killed before it stopped left behind: {', '.join(removed)}",
            file=sys.stderr,
        )
    prefix = POD_SUBNET.split("/")[1]
    _run(["ip", "link", "add", BRIDGE, "type", "bridge"], f"creating bridge {BRIDGE}")
    _run(["ip", "addr", "add", f"{NODE_IP}/{prefix}", "dev", BRIDGE], f"adding {NODE_IP} to {BRIDGE}")
    _run(["ip", "link", "set", BRIDGE, "up"], f"bringing {BRIDGE} up")


def fence_service_range(cidr: str = apiserver.SERVICE_CIDR) -> None:
    """REJECT traffic still addressed to the Service range after the nat table had its turn (see above).

    The filter table sees a packet after kube-proxy's DNAT, so a translated one carries a pod's address
    and passes; removed with the other chains by :func:`remove_chains`.
    """
    chain = SERVICE_RANGE_CHAIN
    _run(["iptables", "-w", "-N", chain], f"creating the iptables chain {chain}")
    _run(
        [
            "iptables",
            "-w",
            "-A",
            chain,
            "-d",
            cidr,
            "-m",
            "comment",
            "--comment",
            "Service address kube-proxy has not translated",
            "-j",
            "REJECT",
        ],
        f"filling {chain}",
    )
    for hook in ("OUTPUT", "FORWARD"):
        _run(["iptables", "-w", "-I", hook, "1", "-j", chain], f"jumping from {hook} to {chain}")
    # Pods' traffic: the CNI firewall plugin puts its own jump first in FORWARD when the first pod
    # starts, and its chain ACCEPTs everything a pod sends, ahead of the jump above (seen in CI: an
    # orchestrator pod reached the egress's 404). The plugin evaluates CNI-ADMIN, the chain it keeps
    # for administrators' rules, before its ACCEPTs; creating it first with the jump keeps the fence.
    if subprocess.run(["iptables", "-w", "-n", "-L", CNI_ADMIN_CHAIN], capture_output=True).returncode != 0:
        _run(["iptables", "-w", "-N", CNI_ADMIN_CHAIN], f"creating the iptables chain {CNI_ADMIN_CHAIN}")
    _run(["iptables", "-w", "-I", CNI_ADMIN_CHAIN, "1", "-j", chain], f"jumping from {CNI_ADMIN_CHAIN} to {chain}")


def start_node(plane: ControlPlane, outlive_caller: bool = False, timeout: float = 180) -> Node:
    """Start containerd, the kubelet, kube-proxy, CoreDNS and metrics-server for ``plane``.

    ``plane`` must have been started with ``node_name=NODE_NAME, address=NODE_IP`` (see
    :func:`start_cluster`). Returns once the node is Ready and a smoke pod ran to completion; on
    any failure everything is undone before the error is raised.
    """
    work, layout, ports = plane.work, Layout(plane.work), NodePorts.pick()
    node = Node(plane, ports, saved_sysctls=read_sysctls())
    try:
        layout.node.mkdir(parents=True, exist_ok=True)
        # kept on disk too: if this process is killed, the next node's reclaim restores them
        _write_json(layout.node / HOST_SYSCTLS_FILE, node.saved_sysctls)
        write_sysctls(NODE_SYSCTLS)
        fence_service_range()
        pause = ensure_pause_image()
        for folder in (
            layout.node / "containerd",
            layout.node / "pod-logs",
            layout.node / "volume-plugins",
            layout.kubelet_root,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        (layout.node / "resolv.conf").write_text("")
        (layout.node / "containerd.toml").write_text(containerd_config(layout))
        _write_json(layout.cni_conf_dir / "10-wharf.conflist", cni_conflist(layout))
        containerd = _spawn(
            "containerd",
            ["--config", str(layout.node / "containerd.toml"), "--log-level", "warn"],
            work,
            outlive_caller,
            executable=shutil.which("containerd"),
        )
        node.processes.append(containerd)
        _wait(
            "containerd's socket",
            lambda: subprocess.run(node.ctr("version"), capture_output=True).returncode == 0,
            [containerd],
            60,
        )
        node.load_images([pause])

        kubelet_file = _write_json(layout.node / "kubelet.json", kubelet_config(layout, ports, plane.ca))
        node.processes.append(
            _spawn(
                "kubelet",
                [
                    f"--config={kubelet_file}",
                    f"--kubeconfig={work / 'kubelet.kubeconfig'}",
                    f"--hostname-override={NODE_NAME}",
                    f"--node-ip={NODE_IP}",
                    f"--root-dir={layout.kubelet_root}",
                    f"--cert-dir={layout.node / 'kubelet-pki'}",
                    "--v=1",
                ],
                work,
                outlive_caller,
            )
        )
        proxy_file = _write_json(layout.node / "kube-proxy.json", kube_proxy_config(work, ports))
        node.processes.append(_spawn("kube-proxy", [f"--config={proxy_file}", "--v=1"], work, outlive_caller))

        _apply(plane, rbac_objects())
        (layout.node / "Corefile").write_text(corefile(work, ports, _host_has_resolvers()))
        coredns = _spawn("coredns", ["-conf", str(layout.node / "Corefile")], work, outlive_caller)
        node.processes.append(coredns)
        node.processes.append(
            _spawn(
                "metrics-server",
                [
                    f"--kubeconfig={work / 'metrics-server.kubeconfig'}",
                    f"--authentication-kubeconfig={work / 'metrics-server.kubeconfig'}",
                    f"--authorization-kubeconfig={work / 'metrics-server.kubeconfig'}",
                    f"--bind-address={NODE_IP}",
                    f"--secure-port={ports.metrics_server}",
                    f"--cert-dir={layout.node / 'metrics-server-pki'}",
                    # the kubelet's serving certificate is self-signed (as on kind)
                    "--kubelet-insecure-tls",
                    "--kubelet-preferred-address-types=InternalIP",
                    f"--kubelet-port={ports.kubelet}",
                    "--metric-resolution=15s",
                ],
                work,
                outlive_caller,
            )
        )
        _apply(plane, metrics_api_objects(ports.metrics_server))

        _wait(f"node {NODE_NAME} to be Ready", lambda: _node_ready(plane), node.processes, timeout)
        _wait(
            "CoreDNS to be ready",
            lambda: apiserver._get(f"http://127.0.0.1:{ports.dns_ready}/ready")[0] == 200,
            node.processes,
            timeout,
        )
        _run_smoke_pod(plane, node, timeout)
    except BaseException:
        node.stop()
        raise
    return node


def _run_smoke_pod(plane: ControlPlane, node: Node, timeout: float) -> None:
    _apply(plane, [smoke_pod()])

    def finished() -> bool:
        status, body = plane.get("/api/v1/namespaces/default/pods/wharf-node-smoke")
        phase = json.loads(body).get("status", {}).get("phase") if status == 200 else None
        if phase == "Failed":
            raise HarnessError(f"the smoke pod failed: {json.loads(body).get('status')}")
        return phase == "Succeeded"

    _wait("the smoke pod to run to completion", finished, node.processes, timeout)
    _kubectl(plane, "delete", "pod", "wharf-node-smoke", "-n", "default", "--wait=false")


# --- control plane + node ---------------------------------------------------------------------


@dataclass
class Cluster:
    plane: ControlPlane
    node: Node

    @property
    def kubeconfig(self) -> Path:
        return self.plane.kubeconfig

    def stop(self) -> None:
        try:
            self.node.stop()
        finally:
            self.plane.stop()

    def state(self) -> dict:
        return {**self.plane.state(), "node": self.node.state()}


def start_cluster(work: Path | None = None, outlive_caller: bool = False, timeout: float = 240) -> Cluster:
    """A control plane listening on the node's address, plus the node. Undone entirely on failure."""
    problems = missing_prerequisites()
    if problems:
        raise HarnessError("a real node needs " + "; ".join(problems))
    _claim_host_network()
    owns = work is None
    try:
        work = Path(tempfile.mkdtemp(prefix="wharf-node-")) if work is None else work
        plane = apiserver.start_control_plane(
            work=work, outlive_caller=outlive_caller, address=NODE_IP, node_name=NODE_NAME, timeout=timeout
        )
    except BaseException:
        delete_link(BRIDGE)
        raise
    plane.owns_work = owns
    try:
        node = start_node(plane, outlive_caller=outlive_caller, timeout=timeout)
    except BaseException:
        plane.stop()
        raise
    return Cluster(plane, node)


# --- a long-lived cluster for humans (`invoke cluster.up --kubelet`, `cluster.load`, `cluster.down`) --


def _read_state(work: Path) -> dict | None:
    state_file = work / "state.json"
    return json.loads(state_file.read_text()) if state_file.exists() else None


def cluster_up(work: Path | None = None) -> Cluster:
    """Start control plane + node so that they outlive this process; pids and ports go to state.json."""
    work = work or apiserver.default_cluster_dir()
    state = _read_state(work)
    if state:
        old = ControlPlane.from_state(state)
        if any(p.alive() for p in old.processes):
            raise HarnessError(
                f"a cluster from {work} is already running at {old.server}; stop it with `invoke cluster.down`"
            )
    unmount_all(work)  # a node that was not torn down (machine reset) may have left mounts
    subprocess.run(["rm", "-rf", str(work)], check=True)
    cluster = start_cluster(work=work, outlive_caller=True)
    for process in cluster.plane.processes + cluster.node.processes:
        process.popen = None  # after we exit, liveness is judged from /proc, pid and binary name
    (work / "state.json").write_text(json.dumps(cluster.state(), indent=2))
    return cluster


def cluster_down(work: Path | None = None) -> list[str]:
    """Stop what :func:`cluster_up` (or apiserver.cluster_up) recorded, node first; undo host changes."""
    work = work or apiserver.default_cluster_dir()
    state = _read_state(work)
    if state is None:
        return []
    plane = ControlPlane.from_state(state)
    node = Node.from_state(plane, state["node"]) if "node" in state else None
    stopped = [p.name for p in (node.processes if node else []) + plane.processes if p.alive()]
    if node:
        node.stop()
    plane.stop()
    (work / "state.json").unlink()
    return stopped


def running_node(work: Path | None = None) -> Node:
    """The node of the cluster `invoke cluster.up --kubelet` started."""
    work = work or apiserver.default_cluster_dir()
    state = _read_state(work)
    if not state or "node" not in state:
        raise HarnessError(f"no node runs from {work}; start one with `invoke cluster.up --kubelet`")
    node = Node.from_state(ControlPlane.from_state(state), state["node"])
    if not any(p.name == "containerd" and p.alive() for p in node.processes):
        raise HarnessError(
            f"the node's containerd from {work} is not running; restart with "
            "`invoke cluster.down` and `invoke cluster.up --kubelet`"
        )
    return node
