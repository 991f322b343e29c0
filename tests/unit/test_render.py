"""render(): the objects upstream's operator creates, field by field.

Each folder in tests/fixtures/render holds an input ``sdep.yaml``, optional operator settings
``config.yaml`` (env variable -> value) and the full expected output ``expected.yaml``. The targeted
tests below pin upstream's behaviour one fact at a time, so a fixture refresh cannot silently change them
(refresh with WHARF_UPDATE_FIXTURES=1, then review the diff).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
import yaml

import wharf
from wharf.deployment.graph import from_engine_env
from wharf.deployment.validate import SdepError
from wharf.operator.config import OperatorConfig
from wharf.operator.render import ENGINE_CONTAINER, render

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "render"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "sdep.yaml").is_file())
TEST_IMAGE = {"EXECUTOR_CONTAINER_IMAGE_AND_VERSION": "wharf/orchestrator:test"}


def load(case: str) -> tuple[dict, OperatorConfig]:
    folder = FIXTURES / case
    env = dict(TEST_IMAGE)
    if (folder / "config.yaml").is_file():
        env.update(yaml.safe_load((folder / "config.yaml").read_text()))
    return yaml.safe_load((folder / "sdep.yaml").read_text()), OperatorConfig.from_env(env)


def objects(case: str) -> dict[tuple[str, str], dict]:
    sdep, config = load(case)
    return {(o["kind"], o["metadata"]["name"]): o for o in render(sdep, config)}


def container(dep: dict, name: str) -> dict:
    return next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def env(c: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in c.get("env") or []}


@pytest.mark.parametrize("case", CASES)
def test_render_matches_fixture(case: str) -> None:
    sdep, config = load(case)
    got = render(sdep, config)
    expected_path = FIXTURES / case / "expected.yaml"
    if os.environ.get("WHARF_UPDATE_FIXTURES") == "1":
        expected_path.write_text(yaml.safe_dump_all(got, sort_keys=False, explicit_start=True))
    assert got == list(yaml.safe_load_all(expected_path.read_text()))


@pytest.mark.parametrize("case", CASES)
def test_every_pod_gets_the_runtime_default_seccomp_profile_unless_it_names_one(case: str) -> None:
    for obj in objects(case).values():
        if obj["kind"] == "Deployment":
            profile = obj["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]
            assert profile == {"type": "RuntimeDefault"}
    sdep, config = load("single-model")
    sdep["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["securityContext"] = {
        "seccompProfile": {"type": "Localhost", "localhostProfile": "models.json"}
    }
    pods = [o["spec"]["template"]["spec"] for o in render(sdep, config) if o["kind"] == "Deployment"]
    assert [p["securityContext"]["seccompProfile"]["type"] for p in pods] == ["Localhost"]


def test_render_is_pure() -> None:
    sdep, config = load("single-model")
    before = json.dumps(sdep, sort_keys=True)
    assert render(sdep, config) == render(sdep, config)
    assert json.dumps(sdep, sort_keys=True) == before


def test_single_model_names_ports_env_and_probes() -> None:
    objs = objects("single-model")
    assert set(objs) == {
        ("Deployment", "iris-default-0-classifier"),
        ("Service", "iris-default-classifier"),
        ("Service", "iris-default"),
    }
    dep = objs[("Deployment", "iris-default-0-classifier")]
    assert dep["spec"]["replicas"] == 2
    unit = container(dep, "classifier")
    assert {p["name"]: p["containerPort"] for p in unit["ports"]} == {"http": 9000, "grpc": 9500, "metrics": 6000}
    e = env(unit)
    assert e["PREDICTIVE_UNIT_SERVICE_PORT"] == "9000" and e["PREDICTIVE_UNIT_HTTP_SERVICE_PORT"] == "9000"
    assert e["PREDICTIVE_UNIT_GRPC_SERVICE_PORT"] == "9500" and e["PREDICTIVE_UNIT_METRICS_SERVICE_PORT"] == "6000"
    assert e["PREDICTIVE_UNIT_ID"] == "classifier" and e["PREDICTOR_ID"] == "default"
    assert e["SELDON_DEPLOYMENT_ID"] == "iris" and e["SELDON_EXECUTOR_ENABLED"] == "true"
    assert json.loads(e["PREDICTOR_LABELS"]) == {"version": "default"}
    assert json.loads(e["PREDICTIVE_UNIT_PARAMETERS"]) == [{"name": "threshold", "value": "0.5", "type": "FLOAT"}]
    assert e["PREDICTIVE_UNIT_METRICS_ENDPOINT"] == "/prometheus"
    assert unit["livenessProbe"]["tcpSocket"]["port"] == 9000 and unit["livenessProbe"]["initialDelaySeconds"] == 60
    assert unit["readinessProbe"]["initialDelaySeconds"] == 20
    assert unit["lifecycle"]["preStop"]["exec"]["command"] == ["/bin/sh", "-c", "/bin/sleep 10"]
    assert unit["imagePullPolicy"] == "IfNotPresent"
    assert {"name": "seldon-podinfo", "mountPath": "/etc/podinfo"} in unit["volumeMounts"]
    pod = dep["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 20 and pod["securityContext"]["runAsUser"] == 8888
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == "10%"
    labels = dep["metadata"]["labels"]
    assert labels["seldon-deployment-id"] == "iris" and labels["app"] == "iris-default-0-classifier"
    assert labels["fluentd"] == "true" and labels["version"] == "default" and labels["seldon.io/model"] == "true"
    assert labels["seldon-deployment-contains-svcorch"] == "true"
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/prometheus" and annotations["prometheus.io/scrape"] == "true"
    psvc = objs[("Service", "iris-default")]
    assert psvc["spec"]["selector"] == {"seldon-app": "iris-default"}
    assert {p["name"]: p["port"] for p in psvc["spec"]["ports"]} == {"http": 8000, "grpc": 5001}
    assert dep["spec"]["template"]["metadata"]["labels"]["seldon-app"] == "iris-default"
    csvc = objs[("Service", "iris-default-classifier")]
    assert {p["name"]: p["port"] for p in csvc["spec"]["ports"]} == {"http": 9000, "grpc": 9500}
    assert csvc["spec"]["selector"] == {"seldon-app-svc-classifier": "iris-default-classifier"}


def test_engine_container_is_injected_with_upstream_flags_and_a_graph_our_orchestrator_reads() -> None:
    dep = objects("single-model")[("Deployment", "iris-default-0-classifier")]
    engine = container(dep, ENGINE_CONTAINER)
    assert engine["image"] == "wharf/orchestrator:test" and engine["command"] == ["wharf", "orchestrator"]
    args = engine["args"]
    for flag, value in (
        ("--sdep", "iris"),
        ("--namespace", "models"),
        ("--predictor", "default"),
        ("--http_port", "8000"),
        ("--grpc_port", "5001"),
        ("--protocol", "seldon"),
        ("--transport", "rest"),
        ("--prometheus_path", "/prometheus"),
        ("--server_type", "rpc"),
    ):
        assert args[args.index(flag) + 1] == value
    # No separate ``metrics`` entry on port 8000 (server-side apply rejects a duplicate containerPort).
    assert {p["name"]: p["containerPort"] for p in engine["ports"]} == {"http": 8000, "grpc": 5001}
    assert engine["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert engine["livenessProbe"]["httpGet"]["path"] == "/live"
    # the orchestrator keeps serving for 10 s after its pod is deleted (its endpoints leave the Services)
    assert engine["lifecycle"] == {"preStop": {"exec": {"command": ["/bin/sh", "-c", "/bin/sleep 10"]}}}
    assert engine["readinessProbe"]["initialDelaySeconds"] == 20 and engine["readinessProbe"]["timeoutSeconds"] == 60
    assert engine["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    # upstream's two fields, plus what the restricted Pod Security Standard requires
    assert engine["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "runAsUser": 8888,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
    }
    e = env(engine)
    assert e["REQUEST_LOGGER_DEFAULT_ENDPOINT"] == "http://default-broker"
    raw = json.loads(base64.b64decode(e["ENGINE_PREDICTOR"]))
    assert raw["replicas"] == 0 and "traffic" not in raw
    predictor = from_engine_env(e["ENGINE_PREDICTOR"])  # exactly what `wharf orchestrator` does
    assert predictor.name == "default"
    assert (predictor.graph.endpoint.host, predictor.graph.endpoint.http_port) == ("localhost", 9000)


def test_abtest_two_pods_get_two_deployments_and_the_engine_goes_with_the_first() -> None:
    objs = objects("abtest-two-pods")
    first = objs[("Deployment", "ab-default-0-classifier-1")]
    second = objs[("Deployment", "ab-default-1-classifier-2")]
    assert ENGINE_CONTAINER in [c["name"] for c in first["spec"]["template"]["spec"]["containers"]]
    assert ENGINE_CONTAINER not in [c["name"] for c in second["spec"]["template"]["spec"]["containers"]]
    assert second["metadata"]["labels"]["version"] == "v2"  # componentSpec metadata labels win
    graph = from_engine_env(env(container(first, ENGINE_CONTAINER))["ENGINE_PREDICTOR"]).graph
    hosts = {u.name: (u.endpoint.host, u.endpoint.http_port) for u in graph.walk()}
    assert hosts["classifier-1"] == ("localhost", 9000)
    assert hosts["classifier-2"] == ("ab-default-classifier-2.models.svc.cluster.local", 9001)
    assert graph.implementation == "RANDOM_ABTEST"


def test_hpa_v2_from_v2beta1_metrics_and_pdb() -> None:
    objs = objects("hpa-pdb")
    dep = objs[("Deployment", "scaled-main-0-pod")]  # componentSpec metadata.name names the Deployment
    assert "replicas" not in dep["spec"]  # the HPA owns replicas
    hpa = objs[("HorizontalPodAutoscaler", "scaled-main-0-pod")]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "scaled-main-0-pod"}
    assert hpa["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 10}}}
    ]
    pdb = objs[("PodDisruptionBudget", "scaled-main-0-pod")]
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"] == {"matchLabels": {"seldon-deployment-id": "scaled"}}


def test_separate_engine_pod_and_engine_annotations_become_env() -> None:
    objs = objects("separate-engine")
    orch = objs[("Deployment", "sep-main-svc-orch")]
    assert orch["spec"]["replicas"] == 3
    engine = container(orch, ENGINE_CONTAINER)
    e = env(engine)
    assert e["LOG_LEVEL"] == "DEBUG" and e["SELDON_LOG_LEVEL"] == "DEBUG"
    assert "SEPARATE_POD" not in e
    assert engine["args"][engine["args"].index("--transport") + 1] == "grpc"
    units = objs[("Deployment", "sep-main-0-transformer-model")]
    assert ENGINE_CONTAINER not in [c["name"] for c in units["spec"]["template"]["spec"]["containers"]]
    model = container(units, "model")
    assert env(model)["PREDICTIVE_UNIT_SERVICE_PORT"] == "9501"  # gRPC transport: the gRPC port
    assert model["readinessProbe"]["tcpSocket"]["port"] == 9501
    graph = from_engine_env(e["ENGINE_PREDICTOR"]).graph
    assert graph.endpoint.host == "sep-main-transformer.models.svc.cluster.local"
    assert graph.endpoint.transport == "GRPC"


def test_no_engine_points_the_predictor_service_at_the_unit() -> None:
    objs = objects("no-engine")
    dep = objs[("Deployment", "direct-main-0-model")]
    assert ENGINE_CONTAINER not in [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
    psvc = objs[("Service", "direct-main")]
    assert {p["name"]: p["port"] for p in psvc["spec"]["ports"]} == {"http": 9000, "grpc": 9500}
    assert dep["spec"]["template"]["metadata"]["labels"]["seldon-app"] == "direct-main"


def test_istio_traffic_split_shadow_mirror_and_retries() -> None:
    objs = objects("istio-canary-shadow")
    vs = objs[("VirtualService", "canary")]
    http, grpc = vs["spec"]["http"]
    assert http["match"] == [{"uri": {"prefix": "/seldon/models/canary/"}}] and http["rewrite"] == {"uri": "/"}
    assert [(r["destination"]["host"], r["weight"]) for r in http["route"]] == [
        ("canary-main", 75),
        ("canary-canary", 25),
    ]
    assert http["mirror"] == {"host": "canary-shadow", "subset": "shadow", "port": {"number": 8000}}
    assert grpc["route"][0]["destination"]["port"] == {"number": 5001}
    assert grpc["match"][0]["headers"] == {"seldon": {"exact": "canary"}, "namespace": {"exact": "models"}}
    assert http["retries"] == {
        "attempts": 2,
        "perTryTimeout": "1s",
        "retryOn": "gateway-error,connect-failure,refused-stream",
    }
    assert vs["spec"]["gateways"] == ["seldon-gateway"] and vs["spec"]["hosts"] == ["*"]
    rule = objs[("DestinationRule", "canary-shadow")]
    assert rule["spec"]["subsets"] == [{"name": "shadow", "labels": {"version": "shadow"}}]
    shadow_dep = objs[("Deployment", "canary-shadow-0-model")]
    assert shadow_dep["spec"]["template"]["metadata"]["labels"]["seldon.io/shadow"] == "true"
    # The same container name in three predictors shares one port number (numbered per distinct name).
    assert container(objs[("Deployment", "canary-canary-0-model")], "model")["ports"][0]["containerPort"] == 9000


def test_prepackaged_server_gets_a_container_and_a_storage_initializer() -> None:
    objs = objects("prepackaged-sklearn")
    dep = objs[("Deployment", "sklearn-default-0-classifier")]
    unit = container(dep, "classifier")
    assert unit["image"] == f"wharf/sklearnserver:{wharf.__version__}"  # Wharf's own, not Seldon's BSL image
    params = json.loads(env(unit)["PREDICTIVE_UNIT_PARAMETERS"])
    assert {"name": "model_uri", "value": "/mnt/models", "type": "STRING"} in params
    init = dep["spec"]["template"]["spec"]["initContainers"][0]
    assert init["name"] == "classifier-model-initializer"
    assert init["image"] == f"wharf/storage-initializer:{wharf.__version__}"
    assert init["args"] == ["gs://seldon-models/v1.19.0/sklearn/iris", "/mnt/models"]
    assert {"name": "classifier-provision-location", "emptyDir": {}} in dep["spec"]["template"]["spec"]["volumes"]


def test_a_pvc_model_uri_mounts_the_claim_in_both_containers_and_copies_from_its_mount() -> None:
    sdep, config = load("prepackaged-sklearn")
    sdep["spec"]["predictors"][0]["graph"]["modelUri"] = "pvc://models-claim/sklearn/iris"
    dep = next(o for o in render(sdep, config) if o["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert {"name": "kfserving-pvc-source", "persistentVolumeClaim": {"claimName": "models-claim"}} in pod["volumes"]
    init = pod["initContainers"][0]
    assert init["args"] == ["/mnt/pvc/sklearn/iris", "/mnt/models"]
    pvc_mount = {"name": "kfserving-pvc-source", "mountPath": "/mnt/pvc", "readOnly": True}
    assert pvc_mount in init["volumeMounts"] and pvc_mount in container(dep, "classifier")["volumeMounts"]
    assert {"name": "classifier-provision-location", "mountPath": "/mnt/models"} in init["volumeMounts"]


def test_upstreams_related_image_variables_override_the_server_and_initializer_images() -> None:
    sdep, _ = load("prepackaged-sklearn")
    config = OperatorConfig.from_env(
        {
            **TEST_IMAGE,
            "RELATED_IMAGE_SKLEARNSERVER": "registry.example/sk:2",
            "RELATED_IMAGE_STORAGE_INITIALIZER": "registry.example/init:2",
        }
    )
    dep = next(o for o in render(sdep, config) if o["kind"] == "Deployment")
    assert container(dep, "classifier")["image"] == "registry.example/sk:2"
    assert dep["spec"]["template"]["spec"]["initContainers"][0]["image"] == "registry.example/init:2"
    # the variable replaces one protocol's image, not the table
    assert (
        config.predictor_servers["SKLEARN_SERVER"]["v2"] == OperatorConfig().predictor_servers["SKLEARN_SERVER"]["v2"]
    )


def test_owner_references_only_for_a_resource_from_a_cluster() -> None:
    sdep, config = load("single-model")
    assert all("ownerReferences" not in o["metadata"] for o in render(sdep, config))
    sdep["metadata"]["uid"] = "1234"
    for obj in render(sdep, config):
        assert obj["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "machinelearning.seldon.io/v1",
                "kind": "SeldonDeployment",
                "name": "iris",
                "uid": "1234",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]


def test_long_names_are_hashed_as_upstream() -> None:
    sdep, config = load("single-model")
    sdep["metadata"]["name"] = "x" * 60
    dep = next(o for o in render(sdep, config) if o["kind"] == "Deployment")
    assert dep["metadata"]["name"].startswith("seldon-") and len(dep["metadata"]["name"]) == 39


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda s: s["spec"]["predictors"][0]["graph"].update(name="nope"), "spec.predictors[0].graph.name"),
        (lambda s: s["spec"]["predictors"][0].update(traffic=50), "spec.predictors[0].traffic"),
        (lambda s: s["spec"].update(protocol="soap"), "spec.protocol"),
        (
            lambda s: s["spec"]["predictors"][0]["graph"].update(
                children=[
                    {
                        "name": "a",
                        "children": [{"name": "b", "children": [{"name": "c", "children": [{"name": "deep"}]}]}],
                    }
                ]
            ),
            "spec.predictors[0].graph.children[0].name",
        ),
    ],
)
def test_unrenderable_sdep_names_the_field(mutate, field: str) -> None:
    sdep, config = load("single-model")
    mutate(sdep)
    with pytest.raises(SdepError) as err:
        render(sdep, config)
    assert any(p.startswith(field) for p in err.value.problems), err.value.problems


def test_ambassador_mappings_on_the_predictor_services() -> None:
    sdep, _ = load("istio-canary-shadow")
    config = OperatorConfig.from_env({**TEST_IMAGE, "AMBASSADOR_ENABLED": "true"})
    svcs = {o["metadata"]["name"]: o for o in render(sdep, config) if o["kind"] == "Service"}
    first = list(yaml.safe_load_all(svcs["canary-main"]["metadata"]["annotations"]["getambassador.io/config"]))
    rest, grpc = first
    assert rest["name"] == "seldon_models_canary_main_rest_mapping" and rest["prefix"] == "/seldon/models/canary/"
    assert rest["rewrite"] == "/" and rest["service"] == "canary-main.models:8000" and rest["timeout_ms"] == 3000
    assert "weight" not in rest  # the first predictor takes the rest of the traffic
    assert grpc["grpc"] is True and grpc["headers"] == {"seldon": "canary"}
    assert grpc["service"] == "canary-main.models:5001"
    canary = list(yaml.safe_load_all(svcs["canary-canary"]["metadata"]["annotations"]["getambassador.io/config"]))
    assert canary[0]["weight"] == 25
    shadow = list(yaml.safe_load_all(svcs["canary-shadow"]["metadata"]["annotations"]["getambassador.io/config"]))
    assert shadow[0]["shadow"] is True and "weight" not in shadow[0]


def test_existing_http_grpc_ports_win_and_prepackaged_container_gets_its_image() -> None:
    sdep, config = load("prepackaged-sklearn")
    sdep["spec"]["predictors"][0]["componentSpecs"] = [
        {
            "spec": {
                "containers": [
                    {
                        "name": "classifier",
                        "resources": {"requests": {"memory": "1Gi"}},
                        "ports": [{"name": "http", "containerPort": 7777}],
                    }
                ]
            }
        }
    ]
    dep = next(o for o in render(sdep, config) if o["kind"] == "Deployment")
    unit = container(dep, "classifier")
    assert unit["image"] == f"wharf/sklearnserver:{wharf.__version__}" and unit["resources"] == {
        "requests": {"memory": "1Gi"}
    }
    assert {p["name"]: p["containerPort"] for p in unit["ports"]} == {"http": 7777, "grpc": 9500, "metrics": 6000}
    graph = from_engine_env(env(container(dep, ENGINE_CONTAINER))["ENGINE_PREDICTOR"]).graph
    assert (graph.endpoint.http_port, graph.endpoint.grpc_port) == (7777, 9500)


def test_v2_protocol_prepackaged_server_uses_mlserver() -> None:
    sdep, config = load("prepackaged-sklearn")
    sdep["spec"]["protocol"] = "v2"
    dep = next(o for o in render(sdep, config) if o["kind"] == "Deployment")
    unit = container(dep, "classifier")
    e = env(unit)
    assert unit["image"] == f"wharf/mlserver:{wharf.__version__}"
    assert e["MLSERVER_HTTP_PORT"] == "9000" and e["MLSERVER_GRPC_PORT"] == "9500"
    assert e["MLSERVER_MODEL_URI"] == "/mnt/models" and e["MLSERVER_MODEL_NAME"] == "classifier"
    assert "PREDICTIVE_UNIT_PARAMETERS" not in e  # model_uri is a Seldon-protocol parameter only
    assert env(container(dep, ENGINE_CONTAINER))  # the orchestrator is still injected
    status_path = container(dep, ENGINE_CONTAINER)["args"]
    assert status_path[status_path.index("--protocol") + 1] == "v2"


@pytest.mark.parametrize(
    "implementation, runtime",
    [
        ("SKLEARN_SERVER", "mlserver_sklearn.SKLearnModel"),
        ("XGBOOST_SERVER", "mlserver_xgboost.XGBoostModel"),
        ("MLFLOW_SERVER", "mlserver_mlflow.MLflowRuntime"),
    ],
)
def test_v2_prepackaged_server_names_its_mlserver_runtime_as_upstream(implementation, runtime) -> None:
    """MLServer starts on a bare model folder (no model-settings.json) only with the runtime named in
    MLSERVER_MODEL_IMPLEMENTATION; upstream's operator sets it, and the model version v1, per server."""
    sdep, config = load("prepackaged-sklearn")
    sdep["spec"]["protocol"] = "v2"
    sdep["spec"]["predictors"][0]["graph"]["implementation"] = implementation
    unit = container(next(o for o in render(sdep, config) if o["kind"] == "Deployment"), "classifier")
    assert unit["image"] == f"wharf/mlserver:{wharf.__version__}"
    assert env(unit)["MLSERVER_MODEL_IMPLEMENTATION"] == runtime and env(unit)["MLSERVER_MODEL_VERSION"] == "v1"
    assert unit["securityContext"]["runAsNonRoot"] is True and unit["securityContext"]["capabilities"] == {
        "drop": ["ALL"]
    }


def test_v2_a_users_own_mlserver_env_wins_and_triton_gets_none() -> None:
    sdep, config = load("prepackaged-sklearn")
    sdep["spec"]["protocol"] = "v2"
    sdep["spec"]["predictors"][0]["componentSpecs"] = [
        {
            "spec": {
                "containers": [
                    {
                        "name": "classifier",
                        "env": [{"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": "my_runtime.Model"}],
                    }
                ]
            }
        }
    ]
    unit = container(next(o for o in render(sdep, config) if o["kind"] == "Deployment"), "classifier")
    assert env(unit)["MLSERVER_MODEL_IMPLEMENTATION"] == "my_runtime.Model"

    sdep, config = load("prepackaged-sklearn")
    sdep["spec"]["protocol"] = "v2"
    sdep["spec"]["predictors"][0]["graph"]["implementation"] = "TRITON_SERVER"
    unit = container(next(o for o in render(sdep, config) if o["kind"] == "Deployment"), "classifier")
    assert "MLSERVER_MODEL_IMPLEMENTATION" not in env(unit)


def test_a_prepackaged_servers_log_tail_is_its_termination_message_and_a_users_container_keeps_file() -> None:
    """Upstream's File policy shows nothing for a server that cannot load its model (it writes no file);
    Wharf gives the containers it fills in FallbackToLogsOnError, and leaves users' containers alone."""
    prepackaged = objects("prepackaged-sklearn")
    dep = next(
        o for (kind, _), o in prepackaged.items() if kind == "Deployment" and "classifier" in o["metadata"]["name"]
    )
    assert container(dep, "classifier")["terminationMessagePolicy"] == "FallbackToLogsOnError"
    init = dep["spec"]["template"]["spec"]["initContainers"][0]
    assert init["terminationMessagePolicy"] == "FallbackToLogsOnError"
    users = objects("single-model")
    dep = next(o for (kind, _), o in users.items() if kind == "Deployment")
    model = next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] != "seldon-container-engine")
    assert model["terminationMessagePolicy"] == "File"
    sdep, config = load("prepackaged-sklearn")
    sdep["spec"]["predictors"][0]["componentSpecs"] = [
        {
            "spec": {
                "containers": [
                    {
                        "name": "classifier",
                        "terminationMessagePolicy": "File",
                        "resources": {"limits": {"memory": "1Gi"}},
                    }
                ]
            }
        }
    ]
    dep = next(o for o in render(sdep, config) if o["kind"] == "Deployment" and "classifier" in o["metadata"]["name"])
    assert container(dep, "classifier")["terminationMessagePolicy"] == "File"  # said by the user: kept
