"""The classic deploy walkthrough (issue 11, part 3), step by step with Wharf.

examples/walkthroughs/deploy/seldondeployment.yaml is rendered with ``wharf render``, accepted by
the CRD on a real kube-apiserver, reconciled by the operator (kopf, in-process); the Route (real
OpenShift Route CRD from github.com/openshift/api) and the Ingress, hand-written or from the
wharf-model chart, are accepted by the same server and point at the Service the operator made.
No kubelet runs here, so the graph itself answers from ``wharf run --docker`` on loopback: the
walkthrough's curl, ``seldon-core-api-tester`` and ``wharf test --external`` are run against it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sdep_support import install_crd, running_operator, wait_for

from wharf.testing.infra import unavailable

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "walkthroughs" / "deploy"
SDEP_FILE = EXAMPLE / "seldondeployment.yaml"
MODEL_SOURCE = ROOT / "examples" / "walkthroughs" / "s2i-python"
CONTRACT = MODEL_SOURCE / "contract.json"
CHART = ROOT / "charts" / "wharf-model"
IMAGE = "wharf-examples/walkthrough-model:0.1"
NAME, SERVICE, DEPLOYMENT = "mymodel", "mymodel-default", "mymodel-default-0-mymodel"
BIN = Path(sys.executable).parent
REQUEST = '{"data":{"ndarray":[[1,2,3,4]]}}'
EXPECTED = [[3.0]]  # MyModel's weights 0.1..0.4 times 1..4


def cli(name: str, *args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / name), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def example_sdep() -> dict:
    return yaml.safe_load(SDEP_FILE.read_text())


def predictor(body: dict) -> dict:
    return body["spec"]["predictors"][0]


def rename_graph(body: dict) -> None:
    predictor(body)["graph"]["name"] = "my-model"


def drop_image(body: dict) -> None:
    del predictor(body)["componentSpecs"][0]["spec"]["containers"][0]["image"]


# (mutation, what `wharf render` says, what the API server says)
BAD_SDEPS = {
    "graph-name-without-container": (
        rename_graph,
        "spec.predictors[0].graph.name: no container named 'my-model' in componentSpecs[].spec.containers",
        "every graph node without an implementation needs a container of the same name with an image",
    ),
    "container-without-image": (
        drop_image,
        "spec.predictors[0].componentSpecs[0].spec.containers[0].image: required: graph node "
        "spec.predictors[0].graph runs in this container",
        "every graph node without an implementation needs a container of the same name with an image",
    ),
}


def by_kind(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


# --- wharf render: the objects, no cluster --------------------------------------------------------


def test_wharf_render_gives_the_operator_objects_and_the_route_and_ingress_fit_them() -> None:
    done = cli("wharf", "render", SDEP_FILE, "-n", "models")
    assert done.returncode == 0, done.stderr
    objects = by_kind(list(yaml.safe_load_all(done.stdout)))
    assert set(objects) == {("Deployment", DEPLOYMENT), ("Service", SERVICE), ("Service", f"{SERVICE}-mymodel")}
    pod = objects["Deployment", DEPLOYMENT]["spec"]["template"]["spec"]
    assert [(c["name"], c["image"].split(":")[0]) for c in pod["containers"]] == [
        ("mymodel", "wharf-examples/walkthrough-model"),
        ("seldon-container-engine", "wharf/orchestrator"),
    ]
    ports = {p["name"]: p["port"] for p in objects["Service", SERVICE]["spec"]["ports"]}
    assert ports == {"http": 8000, "grpc": 5001}

    route = yaml.safe_load((EXAMPLE / "route.yaml").read_text())
    assert (route["spec"]["to"]["name"], route["spec"]["port"]["targetPort"]) == (SERVICE, "http")
    ingress = yaml.safe_load((EXAMPLE / "ingress.yaml").read_text())
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert (backend["name"], backend["port"]["name"]) == (SERVICE, "http")


@pytest.mark.parametrize("case", sorted(BAD_SDEPS))
def test_wharf_render_names_the_field_of_an_invalid_sdep(case: str, tmp_path: Path) -> None:
    mutate, message, _ = BAD_SDEPS[case]
    body = example_sdep()
    mutate(body)
    path = tmp_path / "sdep.yaml"
    path.write_text(yaml.safe_dump(body))
    done = cli("wharf", "render", path)
    assert done.returncode == 1 and done.stdout == ""
    assert f"error: {path}: SeldonDeployment mymodel: {message}" in done.stderr


# --- the chart: Route and Ingress values ---------------------------------------------------------


@pytest.fixture(scope="module")
def helm() -> Path:
    from wharf.charts.helm import HelmUnavailable, ensure_helm

    try:
        return ensure_helm(build=False)
    except HelmUnavailable as exc:
        unavailable("helm", str(exc))


def chart_objects(*values: Path, sets: dict[str, str] | None = None, namespace: str = "models") -> dict:
    from wharf.charts.render import helm_template

    docs = helm_template(CHART, list(values), release=NAME, namespace=namespace, set_values=sets or {})
    return by_kind([r.doc for r in docs])


@pytest.mark.helm
def test_chart_route_and_ingress_point_at_the_predictor_service(helm) -> None:
    from wharf.charts.validate import validate_chart

    objects = chart_objects(EXAMPLE / "values-openshift.yaml")
    assert ("Ingress", NAME) not in objects
    route = objects["Route", NAME]
    # the chart's Route is the hand-written one, plus the chart's labels
    assert route["spec"] == yaml.safe_load((EXAMPLE / "route.yaml").read_text())["spec"]
    assert (
        objects["SeldonDeployment", NAME]["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0][
            "image"
        ]
        == IMAGE
    )

    objects = chart_objects(EXAMPLE / "values-ingress.yaml")
    assert ("Route", NAME) not in objects
    assert objects["Ingress", NAME]["spec"] == yaml.safe_load((EXAMPLE / "ingress.yaml").read_text())["spec"]

    tls = chart_objects(
        EXAMPLE / "values-openshift.yaml",
        sets={
            "route.host": "mymodel.apps.example.com",
            "route.tls.enabled": "true",
            "route.tls.insecureEdgeTerminationPolicy": "None",
        },
    )["Route", NAME]["spec"]
    assert tls["host"] == "mymodel.apps.example.com"
    assert tls["tls"] == {"termination": "edge", "insecureEdgeTerminationPolicy": "None"}
    ingress = chart_objects(
        EXAMPLE / "values-ingress.yaml",
        sets={
            "ingress.className": "nginx",
            "ingress.tls[0].secretName": "mymodel-tls",
            "ingress.tls[0].hosts[0]": "mymodel.example.com",
        },
    )["Ingress", NAME]["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"] == [{"secretName": "mymodel-tls", "hosts": ["mymodel.example.com"]}]

    # values vs schema, Kubernetes schemas of the Ingress, security rules of the model pod
    for values in ("values-openshift.yaml", "values-ingress.yaml"):
        report = validate_chart(CHART, [EXAMPLE / values])
        assert report.lines() == [] and report.rendered == 3


@pytest.mark.helm
def test_chart_values_for_route_and_ingress_are_checked(helm, tmp_path: Path) -> None:
    from wharf.charts.values_check import check_values_file

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "model: {image: m:1}\nroute: {enabled: true, host: My_Model.example.com, tls: {termination: edge}}\n"
        "ingress: {tls: [{hosts: [a.example.com]}]}\n"
    )
    problems = sorted(f"{p.path}: {p.message}" for p in check_values_file(CHART, bad))
    assert problems == [
        "ingress.tls[0].secretName: required key is missing",
        "route.host: expected a lower-case DNS name such as mymodel.apps.example.com, or empty",
        "route.tls.termination: unknown key (allowed here: enabled, insecureEdgeTerminationPolicy)",
    ], problems


def notes(helm: Path, tmp_path: Path, sets: str) -> str:
    """The chart's NOTES.txt as helm prints it after install (rendered through a copy of the chart)."""
    copy_dir = shutil.copytree(CHART, tmp_path / "chart")
    (copy_dir / "templates" / "notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
        'data: {notes: {{ include "wharf-model/templates/NOTES.txt" . | quote }}}\n'
    )
    done = subprocess.run(
        [
            str(helm),
            "template",
            NAME,
            str(copy_dir),
            "-n",
            "models",
            "--show-only",
            "templates/notes.yaml",
            "--set",
            sets,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    shutil.rmtree(copy_dir)
    return yaml.safe_load(done.stdout)["data"]["notes"]


CURL = f"curl -X POST -H 'Content-Type: application/json' -d '{REQUEST}'"


@pytest.mark.helm
def test_notes_print_the_walkthrough_curl_for_the_route_or_ingress(helm, tmp_path: Path) -> None:
    text = notes(helm, tmp_path, "model.image=m:1,route.enabled=true,route.host=mymodel.apps.example.com")
    assert f"{CURL} http://mymodel.apps.example.com/api/v1.0/predictions" in text
    text = notes(helm, tmp_path, "model.image=m:1,route.enabled=true,route.tls.enabled=true")
    assert "HOST=$(kubectl -n models get route mymodel -o jsonpath='{.spec.host}')" in text
    assert f"{CURL} https://$HOST/api/v1.0/predictions" in text
    text = notes(helm, tmp_path, "model.image=m:1,ingress.enabled=true,ingress.host=mymodel.example.com")
    assert f"{CURL} http://mymodel.example.com/api/v1.0/predictions" in text
    text = notes(helm, tmp_path, "model.image=m:1")
    assert "kubectl -n models port-forward svc/mymodel-default 8000:8000 &" in text
    assert f"{CURL} http://localhost:8000/api/v1.0/predictions" in text


# --- on the real API server ----------------------------------------------------------------------


@pytest.fixture
def cluster(kube_api):
    """The SeldonDeployment CRD and the real OpenShift Route CRD installed."""
    from wharf.testing import openshift_api

    install_crd(kube_api)
    try:
        crd = openshift_api.route_crd()
    except openshift_api.RouteCRDUnavailable as exc:
        unavailable("the OpenShift Route CRD", f"{exc}; it is fetched with `{openshift_api.FETCH_COMMAND}`")
    kube_api.apply_crd(crd)
    return kube_api


@pytest.fixture
def operator(cluster, kube_namespace, monkeypatch):
    """The Wharf operator (kopf, in this process) watching the test namespace."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    monkeypatch.setenv("EXECUTOR_CONTAINER_IMAGE_AND_VERSION", "wharf/orchestrator:test")
    with running_operator(kube_namespace):
        yield kube_namespace


def get(kube_api, kind: str, name: str, ns: str) -> dict | None:
    done = kube_api.kubectl("get", kind, name, "-n", ns, "-o", "yaml", check=False)
    return yaml.safe_load(done.stdout) if done.returncode == 0 else None


def kubectl_apply(kube_api, ns: str, body: dict | str, *flags: str) -> subprocess.CompletedProcess:
    text = body if isinstance(body, str) else yaml.safe_dump(body)
    return kube_api.kubectl(
        "apply", "--server-side", "--field-manager=wharf-tests", "-n", ns, *flags, "-f", "-", input=text, check=False
    )


def assert_points_at_operator_service(kube_api, ns: str) -> None:
    """The Route and the Ingress named mymodel lead to a port of the Service the operator owns."""
    service = wait_for(f"Service {SERVICE}", lambda: get(kube_api, "service", SERVICE, ns))
    assert service["metadata"]["ownerReferences"][0]["kind"] == "SeldonDeployment"
    port_names = {p["name"] for p in service["spec"]["ports"]}
    route = get(kube_api, "route.route.openshift.io", NAME, ns)
    assert route["spec"]["to"] == {"kind": "Service", "name": SERVICE, "weight": 100}
    assert route["spec"]["port"]["targetPort"] in port_names
    ingress = get(kube_api, "ingress", NAME, ns)
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == SERVICE and backend["port"]["name"] in port_names


def test_the_walkthrough_yaml_on_the_api_server(cluster, operator) -> None:
    ns = operator
    for name in ("seldondeployment.yaml", "route.yaml", "ingress.yaml"):
        done = kubectl_apply(cluster, ns, (EXAMPLE / name).read_text())
        assert done.returncode == 0, f"{name}: {done.stderr}"
    deployment = wait_for(f"Deployment {DEPLOYMENT}", lambda: get(cluster, "deployment", DEPLOYMENT, ns))
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [
        ("mymodel", IMAGE),
        ("seldon-container-engine", "wharf/orchestrator:test"),
    ]
    wait_for(f"Service {SERVICE}-mymodel", lambda: get(cluster, "service", f"{SERVICE}-mymodel", ns))
    assert_points_at_operator_service(cluster, ns)

    # The Route CRD is the real one: OpenShift's own rules reject a Route it would reject.
    bad_route = yaml.safe_load((EXAMPLE / "route.yaml").read_text())
    bad_route["spec"]["tls"] = {"termination": "passthrough", "insecureEdgeTerminationPolicy": "Allow"}
    done = kubectl_apply(cluster, ns, bad_route, "--dry-run=server")
    assert done.returncode != 0
    assert (
        "cannot have both spec.tls.termination: passthrough and spec.tls.insecureEdgeTerminationPolicy: Allow"
        in done.stderr
    )


@pytest.mark.parametrize("case", sorted(BAD_SDEPS))
def test_the_api_server_names_the_field_of_an_invalid_sdep(cluster, kube_namespace, case: str) -> None:
    mutate, _, message = BAD_SDEPS[case]
    body = example_sdep()
    mutate(body)
    done = kubectl_apply(cluster, kube_namespace, body, "--dry-run=server")
    assert done.returncode != 0
    assert "spec.predictors[0].graph" in done.stderr and message in done.stderr, done.stderr
    assert get(cluster, "sdep", NAME, kube_namespace) is None


@pytest.mark.helm
def test_the_chart_with_route_and_ingress_on_the_api_server(helm, cluster, operator) -> None:
    ns = operator
    done = subprocess.run(
        [
            str(helm),
            "install",
            NAME,
            str(CHART),
            "-n",
            ns,
            "--kubeconfig",
            str(cluster.kubeconfig),
            "-f",
            str(EXAMPLE / "values-openshift.yaml"),
            "--set",
            "ingress.enabled=true",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert f"{CURL} http://$HOST/api/v1.0/predictions" in done.stdout  # helm prints the NOTES
    deployment = wait_for("the model Deployment", lambda: get(cluster, "deployment", "mymodel-default-0-model", ns))
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    assert_points_at_operator_service(cluster, ns)


# --- the graph answers: wharf run --docker from the model image ----------------------------------


@pytest.fixture(scope="module")
def model_image() -> str:
    """The walkthrough's image, built from the s2i walkthrough's folder with `invoke build`'s code."""
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:  # noqa: BLE001 - no SDK, no socket, engine down all mean "no engine"
        unavailable("a Docker engine", f"start dockerd ({exc.__class__.__name__})")
    from wharf.build.run import build

    build(MODEL_SOURCE, IMAGE, progress=None)
    return IMAGE


@pytest.fixture(scope="module")
def graph(model_image, tmp_path_factory):
    """`wharf run --docker seldondeployment.yaml` in the background: (http port, grpc port)."""
    from wharf.local.process import free_port

    http, grpc = free_port(), free_port()
    log = tmp_path_factory.mktemp("graph") / "wharf-run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "wharf"), "run", "--docker", str(SDEP_FILE), "--http-port", str(http), "--grpc-port", str(grpc)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180
        while "ready: POST" not in log.read_text():
            assert proc.poll() is None, f"wharf run exited {proc.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"wharf run not ready after 180 s:\n{log.read_text()}"
            time.sleep(0.5)
        yield http, grpc
    finally:
        proc.terminate()
        try:
            assert proc.wait(60) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()


@pytest.mark.docker
def test_the_walkthrough_curl_gets_the_model_answer(graph) -> None:
    http, _ = graph
    curl = shutil.which("curl")
    if curl is None:
        unavailable("curl", "apt-get install -y curl")
    done = subprocess.run(
        [
            curl,
            "-sS",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            REQUEST,
            f"http://127.0.0.1:{http}/api/v1.0/predictions",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["data"]["ndarray"] == EXPECTED
    assert answer["meta"]["requestPath"] == {"mymodel": IMAGE}


@pytest.mark.docker
def test_api_tester_and_wharf_test_external_call_the_orchestrator(graph) -> None:
    from wharf.testing.gateway import Gateway

    http, grpc = graph
    # Behind a Route or Ingress the orchestrator is called directly: --gateway seldon.
    for args in (["--gateway", "seldon"], ["--gateway", "seldon", "--grpc"]):
        port = grpc if "--grpc" in args else http
        done = cli(
            "seldon-core-api-tester",
            CONTRACT,
            "127.0.0.1",
            port,
            "--namespace",
            "models",
            "--deployment",
            NAME,
            "-n",
            3,
            *args,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("PASSED: 3 of 3 requests passed"), done.stdout
    done = cli("wharf", "test", "--external", CONTRACT, "127.0.0.1", http, NAME, "--gateway", "seldon", "-n", 2)
    assert done.returncode == 0 and done.stdout.startswith("PASSED: 2 of 2"), done.stdout + done.stderr
    # The walkthrough's own command line (upstream's default: an ambassador-style gateway path).
    with Gateway("models", NAME, f"http://127.0.0.1:{http}") as gateway:
        done = cli(
            "seldon-core-api-tester", CONTRACT, "127.0.0.1", gateway.port, "--namespace", "models", "--deployment", NAME
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert gateway.paths == ["/seldon/models/mymodel/api/v1.0/predictions"]
