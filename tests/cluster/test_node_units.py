"""The pure parts of the node harness: the files it writes for containerd, CNI, the kubelet, kube-proxy
and CoreDNS, checked by the parsers those programs use (TOML, JSON) and for the settings this machine
kind needs. The node itself is exercised for real in tests/node."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from wharf.testing import apiserver, node

PORTS = node.NodePorts(
    kubelet=10250, kubelet_healthz=10248, proxy_healthz=10256, proxy_metrics=10249, dns_ready=8181, metrics_server=4443
)


def test_node_state_lives_under_a_short_path_whatever_the_work_folder():
    deep = node.Layout(Path("/tmp/pytest-of-root/pytest-123/test_a_rather_long_test_name_0/cache/wharf/cluster"))
    # containerd's ttrpc socket and the kubelet's pod-resources socket live below it; 104 bytes is the limit
    assert len(str(deep.containerd_socket) + ".ttrpc") < 104
    assert len(str(deep.kubelet_root / "pod-resources" / "1234567890")) < 104
    assert deep.node != node.Layout(Path("/tmp/other")).node


def test_containerd_config_is_its_own_and_has_what_this_vm_needs():
    layout = node.Layout(Path("/tmp/w"))
    config = tomllib.loads(node.containerd_config(layout))
    assert config["grpc"]["address"] == str(layout.containerd_socket)
    assert config["root"].startswith(str(layout.node)) and config["state"].startswith(str(layout.node))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["sandbox_image"] == node.PAUSE_IMAGE
    assert cri["cni"]["conf_dir"] == str(layout.cni_conf_dir)
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False


def test_cni_chain_has_the_firewall_plugin_and_the_nodes_subnet():
    conflist = json.loads(json.dumps(node.cni_conflist(node.Layout(Path("/tmp/w")))))
    assert [p["type"] for p in conflist["plugins"]] == ["bridge", "portmap", "firewall"]
    bridge = conflist["plugins"][0]
    assert bridge["bridge"] == node.BRIDGE and bridge["isGateway"] and bridge["hairpinMode"]
    assert bridge["ipam"]["ranges"] == [[{"subnet": node.POD_SUBNET}]]


def test_kubelet_config_for_cgroup_v1_and_this_nodes_runtime_and_dns(tmp_path):
    layout = node.Layout(tmp_path)
    config = node.kubelet_config(layout, PORTS, tmp_path / "ca.crt")
    assert config["failCgroupV1"] is False and config["cgroupDriver"] == "cgroupfs"
    assert config["containerRuntimeEndpoint"] == f"unix://{layout.containerd_socket}"
    assert config["clusterDNS"] == [node.NODE_IP] and config["clusterDomain"] == "cluster.local"
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["authorization"]["mode"] == "Webhook" and config["readOnlyPort"] == 0
    assert config["protectKernelDefaults"] is False  # and so node.SYSCTLS are saved and restored
    assert {"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"} <= set(node.SYSCTLS)


def test_kube_proxy_leaves_host_sysctls_alone(tmp_path):
    config = node.kube_proxy_config(tmp_path, PORTS)
    assert config["mode"] == "iptables"
    assert config["iptables"]["localhostNodePorts"] is False
    assert config["conntrack"]["maxPerCore"] == 0 and config["conntrack"]["min"] == 0


def test_corefile_serves_the_cluster_domain_from_the_api_server(tmp_path):
    text = node.corefile(tmp_path, PORTS, upstream=False)
    assert f"bind {node.NODE_IP}" in text
    assert f"kubeconfig {tmp_path / 'coredns.kubeconfig'} wharf" in text
    assert "kubernetes cluster.local" in text and "forward" not in text
    assert "forward . /etc/resolv.conf" in node.corefile(tmp_path, PORTS, upstream=True)


def test_api_server_flags_with_and_without_a_node(tmp_path):
    ports = apiserver.Ports(1, 2, 3)
    alone = apiserver.apiserver_args(tmp_path, ports)
    assert "--bind-address=127.0.0.1" in alone and "--endpoint-reconciler-type=none" in alone
    assert "--authorization-mode=RBAC" in alone
    with_node = apiserver.apiserver_args(tmp_path, ports, node.NODE_IP, node=True)
    assert f"--bind-address={node.NODE_IP}" in with_node and f"--advertise-address={node.NODE_IP}" in with_node
    assert "--authorization-mode=Node,RBAC" in with_node and "--enable-admission-plugins=NodeRestriction" in with_node
    assert not [a for a in with_node if a.startswith("--endpoint-reconciler-type")]
    assert apiserver.kubernetes_service_ip() == "10.96.0.1"


def test_helper_rbac_is_least_privilege():
    roles = {o["metadata"]["name"]: o for o in node.rbac_objects() if o["kind"] == "ClusterRole"}
    verbs = {v for role in roles.values() for rule in role["rules"] for v in rule["verbs"]}
    assert verbs <= {"get", "list", "watch"}
    assert not [
        r for role in roles.values() for r in role["rules"] if "*" in r["resources"] or "secrets" in r["resources"]
    ]


def test_smoke_pod_passes_the_restricted_pod_security_standard():
    spec = node.smoke_pod()["spec"]
    assert (
        spec["securityContext"]["runAsNonRoot"]
        and spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    )
    container = spec["containers"][0]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["args"] == ["-v"] and container["imagePullPolicy"] == "Never"
