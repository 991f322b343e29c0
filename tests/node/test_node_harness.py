"""The real node: the kubelet runs containers, kube-proxy carries Services, CoreDNS answers names.

Every test here uses ``kube_node`` and so carries the ``kubelet`` marker (see tests/conftest.py).
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from node_support import RESTRICTED_POD, apply, container, get, job, job_output, python_eval, wait_for

from wharf.testing import kube_binaries


@pytest.fixture(scope="module")
def python_image(kube_node):
    from wharf.build.base import ensure_python_base

    image = ensure_python_base("3.12")
    kube_node.load(image)
    return image


def test_the_node_is_a_real_kubelet_of_the_servers_release(kube_node):
    node = get(kube_node, "node", "wharf-node")
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == f"v{kube_binaries.KUBERNETES_VERSION}"
    assert info["kubeProxyVersion"] in ("", f"v{kube_binaries.KUBERNETES_VERSION}")
    assert info["containerRuntimeVersion"].startswith("containerd://1.")
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert ready["Ready"] == "True"
    assert not [t for t in node["spec"].get("taints", []) if t["effect"] == "NoSchedule"]


def test_a_service_answers_from_the_host_and_by_name_from_another_pod(kube_node, node_namespace, python_image):
    ns = node_namespace
    labels = {"app": "web"}
    web = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": RESTRICTED_POD,
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        container(
                            "web",
                            python_image,
                            python_eval(
                                "import http.server, os\n"
                                "class H(http.server.BaseHTTPRequestHandler):\n"
                                "    def do_GET(self):\n"
                                "        body = os.environ['HOSTNAME'].encode()\n"
                                "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
                                "        self.end_headers(); self.wfile.write(body)\n"
                                "http.server.HTTPServer(('', 8080), H).serve_forever()\n"
                            ),
                            readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                        )
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    apply(kube_node, web, service, namespace=ns)
    wait_for(
        "deployment web to be available",
        lambda: get(kube_node, "deployment", "web", "-n", ns).get("status", {}).get("availableReplicas") == 1,
    )
    pod = get(kube_node, "pods", "-n", ns, "-l", "app=web")["items"][0]["metadata"]["name"]

    # from the host, through kube-proxy's iptables rules for the ClusterIP; they follow the pod's
    # readiness by a moment, and until then the node refuses the connection (WHARF-SERVICE-RANGE)
    cluster_ip = get(kube_node, "service", "web", "-n", ns)["spec"]["clusterIP"]

    def answer_from_host():
        try:
            with urllib.request.urlopen(f"http://{cluster_ip}/", timeout=10) as answer:
                return answer.read().decode()
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ConnectionRefusedError):
                return None
            raise

    assert wait_for("kube-proxy to carry the Service from the host", answer_from_host, timeout=30, interval=0.2) == pod

    # from another pod, by DNS name through CoreDNS, then through the Service
    apply(
        kube_node,
        job(
            "client",
            python_image,
            python_eval(
                "import socket, urllib.request\n"
                f"print(socket.gethostbyname('web.{ns}.svc.cluster.local'))\n"
                "print(urllib.request.urlopen('http://web/', timeout=10).read().decode())\n"
            ),
        ),
        namespace=ns,
    )
    out = job_output(kube_node, ns, "client").split()
    assert out == [cluster_ip, pod]


def untranslated_service_address(kube_node) -> str:
    import ipaddress

    from wharf.testing.apiserver import SERVICE_CIDR

    taken = {s["spec"].get("clusterIP") for s in get(kube_node, "services", "-A")["items"]}
    return next(str(a) for a in reversed(list(ipaddress.ip_network(SERVICE_CIDR).hosts())) if str(a) not in taken)


def test_an_address_in_the_service_range_that_kube_proxy_never_translated_is_refused(kube_node):
    """Not answered by whatever lies beyond the default route (on this VM, an egress that says HTTP 404)."""
    import socket

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((untranslated_service_address(kube_node), 8000), timeout=10).close()


def test_a_pod_is_refused_too(kube_node, node_namespace, python_image):
    """From a pod the packet is forwarded, where the CNI firewall plugin accepts a pod's traffic ahead of
    other rules: the fence must hold there as well (an orchestrator pod calling a model's Service in the
    moment before kube-proxy translated it reached the egress's 404 in CI)."""
    address = untranslated_service_address(kube_node)
    apply(
        kube_node,
        job(
            "probe",
            python_image,
            python_eval(
                "import socket\n"
                "try:\n"
                f"    socket.create_connection(('{address}', 8000), timeout=10).close(); print('connected')\n"
                "except ConnectionRefusedError:\n"
                "    print('refused')\n"
                "except OSError as exc:\n"
                "    print(type(exc).__name__)\n"
            ),
        ),
        namespace=node_namespace,
    )
    assert job_output(kube_node, node_namespace, "probe").split() == ["refused"]
