"""The loopback OCI registry harness (wharf.testing.oci_registry) and chart pushes to it with both Helm majors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tarfile
import urllib.request

import pytest
import yaml
from chart_support import CHARTS

from wharf.release.oci import package_chart, push_chart
from wharf.testing.oci_registry import Registry, oci_registry


def _get(registry: Registry, path: str, accept: str = "") -> tuple[int, dict, bytes]:
    request = urllib.request.Request(f"{registry.url}{path}", headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.status, dict(resp.headers), resp.read()


def test_registry_runs_on_its_own_port_and_storage_and_stops_by_pid(tmp_path):
    with oci_registry(tmp_path) as registry:
        assert registry.host == "127.0.0.1" and registry.storage == tmp_path / "storage"
        status, headers, body = _get(registry, "/v2/")
        assert status == 200 and headers.get("Docker-Distribution-Api-Version") == "registry/2.0"
        assert json.loads(_get(registry, "/v2/_catalog")[2]) == {"repositories": []}
        assert f"addr: 127.0.0.1:{registry.port}" in (tmp_path / "config.yml").read_text()
        pid, port = registry.pid, registry.port
    assert not os.path.exists(f"/proc/{pid}")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


@pytest.mark.helm
def test_a_chart_pushed_by_one_major_is_pulled_by_the_other(helm_major, oci_registry, tmp_path):
    """helm push stores the chart as an OCI artifact (Helm's config media type) under charts/<name>;
    the other major pulls the same bytes back by version."""
    major, helm = helm_major
    other = "4" if major == "3" else "3"
    from wharf.charts.helm import ensure_helm

    version = f"0.0.{major}-push"  # one tag per major: the two runs share this module's registry
    archive = package_chart(helm, CHARTS / "wharf-model", tmp_path / "out", version=version)
    assert archive.name == f"wharf-model-{version}.tgz"
    digest = push_chart(helm, archive, oci_registry.address)
    status, headers, body = _get(
        oci_registry, f"/v2/charts/wharf-model/manifests/{version}", "application/vnd.oci.image.manifest.v1+json"
    )
    manifest = json.loads(body)
    assert headers["Docker-Content-Digest"] == digest
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.helm.config.v1+json"
    assert manifest["layers"][0]["mediaType"] == "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

    pulled = tmp_path / "pulled"
    pulled.mkdir()
    done = subprocess.run(
        [
            str(ensure_helm(build=False, major=other)),
            "pull",
            f"oci://{oci_registry.address}/charts/wharf-model",
            "--version",
            version,
            "--plain-http",
            "--destination",
            str(pulled),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert digest in done.stdout + done.stderr
    assert (pulled / archive.name).read_bytes() == archive.read_bytes()
    with tarfile.open(archive) as tar:
        meta = yaml.safe_load(tar.extractfile("wharf-model/Chart.yaml"))
    assert meta["version"] == version
