"""The charts' `kubeVersion` range is true at both ends.

Every chart declares the same range, whose lower bound is ``OLDEST_KUBERNETES_VERSION``. That
release's real kube-apiserver (built from its module source, API server only: no controller-manager,
on the harness' etcd) and the current one (the session's API server) both take, for real:
the SeldonDeployment CRD (its CEL rules compile on that release), every chart rendered with every ci
values file plus the Ingress and HPA options (server-side dry-run: OpenAPI schemas and CEL rules),
and what the operator creates for a SeldonDeployment that uses HPA and a PodDisruptionBudget
(autoscaling/v2, policy/v1). Nothing runs pods here, and nothing needs to: the range is about APIs.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest
import yaml
from chart_support import CHART_NAMES, CHARTS, CI_CASES
from kube_objects import PODMONITOR_CRD

from wharf.charts.render import helm_template
from wharf.charts.validate import EXTRA_API_VERSIONS
from wharf.testing import infra, kube_binaries

pytestmark = [pytest.mark.helm, pytest.mark.apiserver]

OLDEST = kube_binaries.OLDEST_KUBERNETES_VERSION
RANGE = f">={'.'.join(OLDEST.split('.')[:2])}.0-0"
# The wharf-model ci file that is upstream's own values (no image, no implementation): the CRD refuses it
# on purpose, on every release (tests/charts/test_cluster.py checks the message).
REFUSED = {("wharf-model", "upstream-values.yaml")}
EXTRA_CASES = [
    (
        "wharf-model",
        {
            "model.image": "wharf/iris:0.1.0",
            "ingress.enabled": "true",
            "ingress.host": "iris.example.com",
            "hpa.enabled": "true",
        },
    )
]


def _kubectl(kubeconfig, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    built = kube_binaries.binary_path("kubectl")
    exe = str(built) if os.access(built, os.X_OK) else "kubectl"
    done = subprocess.run(
        [exe, f"--kubeconfig={kubeconfig}", *args], input=input, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0 or not check, f"kubectl {' '.join(args)}:\n{done.stderr}"
    return done


def _wait_for_background_build(limit: float = 45 * 60) -> None:
    """.ci/run builds the oldest kube-apiserver in the background from its start (a cold build takes
    minutes) and exports the builder's pid: wait for it to end, bounded."""
    import time

    pid = os.environ.get("WHARF_OLDEST_APISERVER_BUILD_PID", "")
    deadline = time.monotonic() + limit
    while pid.isdigit() and os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().split(") ", 1)[-1].startswith("Z"):  # exited, not yet reaped by .ci/run
                return
        time.sleep(5)


def _established(kubeconfig, name: str, timeout: float = 60) -> None:
    """Wait for the CRD's Established condition (`kubectl wait` fails outright while .status.conditions
    is still null, so poll)."""
    import time

    deadline = time.monotonic() + timeout
    while (
        _kubectl(
            kubeconfig,
            "get",
            f"crd/{name}",
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Established')].status}",
            check=False,
        ).stdout.strip()
        != "True"
    ):
        assert time.monotonic() < deadline, f"CRD {name} not Established after {timeout:.0f} s"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def servers(kube_api):
    """{"oldest": (kubeconfig, version), "current": (kubeconfig, version)}: the oldest is started here."""
    from wharf.testing.apiserver import start_control_plane

    _wait_for_background_build()
    if kube_binaries.missing_binaries(("kube-apiserver",), OLDEST):
        log = os.environ.get("WHARF_OLDEST_APISERVER_BUILD_LOG") or kube_binaries.bin_dir(OLDEST) / "build.log"
        infra.unavailable(
            f"kube-apiserver {OLDEST}",
            f"run `invoke cluster.build-binaries --oldest` (.ci/run does, in the background; log: {log})",
        )
    plane = start_control_plane(controller_manager=False, apiserver_version=OLDEST)
    try:
        current = json.loads(_kubectl(kube_api.kubeconfig, "version", "-o", "json").stdout)["serverVersion"]
        yield {"oldest": (plane.kubeconfig, OLDEST), "current": (kube_api.kubeconfig, current["gitVersion"][1:])}
    finally:
        plane.stop()


def test_every_chart_declares_the_range_whose_oldest_end_ci_proves(helm):
    for name in CHART_NAMES:
        meta = yaml.safe_load((CHARTS / name / "Chart.yaml").read_text())
        assert meta["kubeVersion"] == RANGE, name
    # helm enforces it: the minor before the oldest is refused by name, the oldest is admitted
    below = f"1.{int(OLDEST.split('.')[1]) - 1}.15"
    for version, ok in ((below, False), (OLDEST, True)):
        done = subprocess.run(
            [str(helm), "template", "r", str(CHARTS / "wharf-core"), "--kube-version", version],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (done.returncode == 0) == ok, done.stderr
        if not ok:
            assert (
                f"chart requires kubeVersion: {RANGE} which is incompatible with Kubernetes v{version}" in done.stderr
            )


# One namespace name on both servers (separate clusters), so the charts are rendered once.
NAMESPACE = f"kube-range-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def rendered(helm) -> list[dict]:
    """Every chart with every ci values file (and the options no ci file turns on), rendered for the
    oldest release: no template reads the Kubernetes version, so the current end gets the same objects."""
    docs = []
    cases = [(c, [CHARTS / c / "ci" / v], {}) for c, v in CI_CASES if (c, v) not in REFUSED]
    cases += [(c, [], sets) for c, sets in EXTRA_CASES]
    for i, (chart, values, sets) in enumerate(cases):
        docs += [
            r.doc
            for r in helm_template(
                CHARTS / chart,
                values,
                release=f"r{i}",
                namespace=NAMESPACE,
                kube_version=OLDEST,
                set_values=sets,
                api_versions=EXTRA_API_VERSIONS,
            )
        ]
    return docs


@pytest.mark.parametrize("end", ["oldest", "current"])
def test_crd_charts_and_operator_objects_are_accepted(servers, rendered, helm, end):
    from wharf.deployment.crd import crd
    from wharf.operator.config import OperatorConfig
    from wharf.operator.render import render

    kubeconfig, version = servers[end]
    reported = json.loads(_kubectl(kubeconfig, "version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    assert reported == f"v{version}"  # for the oldest end: v{OLDEST}, the release built for it

    # The CRD, created for real (its CEL rules are compiled by this API server), and Established.
    for obj in (crd(), PODMONITOR_CRD):
        _kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(obj))
        _established(kubeconfig, obj["metadata"]["name"])
    namespace = NAMESPACE
    _kubectl(kubeconfig, "create", "namespace", namespace)
    try:
        docs = rendered
        kinds = {(d["apiVersion"], d["kind"]) for d in docs}
        assert {
            ("networking.k8s.io/v1", "Ingress"),
            ("apps/v1", "Deployment"),
            ("machinelearning.seldon.io/v1", "SeldonDeployment"),
        } <= kinds
        # A dry run persists nothing, yet Pod admission looks up ServiceAccounts: create those for real, and
        # `default` (the helm test Pods' account), which no controller-manager makes beside the oldest server.
        accounts = [d for d in docs if d["kind"] == "ServiceAccount"]
        accounts.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}})
        _kubectl(kubeconfig, "apply", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(accounts))
        done = _kubectl(
            kubeconfig,
            "apply",
            "--server-side",
            "--force-conflicts",
            "--dry-run=server",
            "-n",
            namespace,
            "--field-manager=wharf-kube-range",
            "-f",
            "-",
            input=yaml.safe_dump_all(docs),
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("serverside-applied (server dry run)") == len(docs)

        # What the operator creates for a SeldonDeployment with HPA and a PDB, the SeldonDeployment created for real.
        sdep = next(
            d
            for d in helm_template(
                CHARTS / "wharf-model",
                [],
                release="scaled",
                namespace=namespace,
                kube_version=version,
                set_values={"model.image": "wharf/iris:0.1.0"},
            )
            if d.doc["kind"] == "SeldonDeployment"
        ).doc
        component = sdep["spec"]["predictors"][0]["componentSpecs"][0]
        # upstream's hpaSpec.metrics (the v2beta1 shape), which the operator writes as an autoscaling/v2 HPA
        component["hpaSpec"] = {
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 70}}],
        }
        component["pdbSpec"] = {"minAvailable": 1}
        _kubectl(kubeconfig, "apply", "--server-side", "-n", namespace, "-f", "-", input=json.dumps(sdep))
        stored = json.loads(_kubectl(kubeconfig, "get", "sdep", "scaled", "-n", namespace, "-o", "json").stdout)
        objects = render(stored, OperatorConfig())
        assert {("autoscaling/v2", "HorizontalPodAutoscaler"), ("policy/v1", "PodDisruptionBudget")} <= {
            (o["apiVersion"], o["kind"]) for o in objects
        }
        done = _kubectl(
            kubeconfig,
            "apply",
            "--server-side",
            "--dry-run=server",
            "-n",
            namespace,
            "--field-manager=wharf-kube-range",
            "-f",
            "-",
            input=yaml.safe_dump_all(objects),
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("serverside-applied (server dry run)") == len(objects)
    finally:
        if end == "current":  # the oldest server is thrown away whole
            _kubectl(kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)
