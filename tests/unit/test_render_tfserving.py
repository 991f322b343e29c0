"""The operator's render of ``implementation: TENSORFLOW_SERVER``, as upstream's operator builds the pod:
protocol ``seldon`` puts Wharf's proxy in the node's container and TF Serving beside it; protocol
``tensorflow`` makes the node's container TF Serving itself."""

from __future__ import annotations

import copy
import json

import pytest

import wharf
from wharf.deployment.graph import from_engine_env
from wharf.deployment.validate import SdepError
from wharf.operator.config import OperatorConfig
from wharf.operator.render import ENGINE_CONTAINER, RESTRICTED_CONTAINER, render

# upstream's TF Serving example (servers/tensorflow docs), Seldon protocol
MNIST = {
    "apiVersion": "machinelearning.seldon.io/v1alpha2",
    "kind": "SeldonDeployment",
    "metadata": {"name": "tfserving"},
    "spec": {
        "name": "mnist",
        "predictors": [
            {
                "name": "default",
                "replicas": 1,
                "graph": {
                    "children": [],
                    "implementation": "TENSORFLOW_SERVER",
                    "modelUri": "gs://seldon-models/tfserving/mnist-model",
                    "name": "mnist-model",
                    "parameters": [
                        {"name": "signature_name", "type": "STRING", "value": "predict_images"},
                        {"name": "model_name", "type": "STRING", "value": "mnist-model"},
                        {"name": "model_input", "type": "STRING", "value": "images"},
                        {"name": "model_output", "type": "STRING", "value": "scores"},
                    ],
                },
            }
        ],
    },
}
CONFIG = OperatorConfig.from_env({"EXECUTOR_CONTAINER_IMAGE_AND_VERSION": "wharf/orchestrator:test"})


def pod_of(sdep: dict, config: OperatorConfig = CONFIG) -> dict:
    deployments = [o for o in render(sdep, config) if o["kind"] == "Deployment"]
    assert len(deployments) == 1
    return deployments[0]["spec"]["template"]["spec"]


def container(pod: dict, name: str) -> dict:
    return next(c for c in pod["containers"] if c["name"] == name)


def parameters(c: dict) -> dict[str, str]:
    env = {e["name"]: e.get("value") for e in c.get("env") or []}
    return {p["name"]: p["value"] for p in json.loads(env["PREDICTIVE_UNIT_PARAMETERS"])}


def with_protocol(protocol: str) -> dict:
    sdep = copy.deepcopy(MNIST)
    sdep["spec"]["protocol"] = protocol
    return sdep


def test_seldon_protocol_proxy_container_gets_wharfs_image_and_tf_servings_endpoints():
    pod = pod_of(MNIST)
    assert [c["name"] for c in pod["containers"]] == ["mnist-model", "tfserving", ENGINE_CONTAINER]
    proxy = container(pod, "mnist-model")
    assert proxy["image"] == f"wharf/tfserving-proxy:{wharf.__version__}"
    assert parameters(proxy) == {
        "signature_name": "predict_images",
        "model_input": "images",
        "model_output": "scores",
        "rest_endpoint": "http://0.0.0.0:2001",
        "grpc_endpoint": "0.0.0.0:2000",
        "model_name": "mnist-model",
    }  # no model_uri: the proxy reads no model
    assert all(proxy["securityContext"][k] == v for k, v in RESTRICTED_CONTAINER.items())  # Wharf's own image
    assert {p["name"]: p["containerPort"] for p in proxy["ports"]} == {"http": 9000, "grpc": 9500, "metrics": 6000}
    assert "/mnt/models" not in [m["mountPath"] for m in proxy["volumeMounts"]]
    # the orchestrator's graph carries the same parameters
    graph = from_engine_env(
        next(e["value"] for e in container(pod, ENGINE_CONTAINER)["env"] if e["name"] == "ENGINE_PREDICTOR")
    ).graph
    assert {"name": "grpc_endpoint", "value": "0.0.0.0:2000", "type": "STRING"} in graph.parameters


def test_seldon_protocol_tf_serving_runs_beside_the_proxy_and_reads_the_initializers_copy():
    pod = pod_of(MNIST)
    tf = container(pod, "tfserving")
    assert tf["image"] == "tensorflow/serving:2.1.0"  # Google's image, not Seldon's
    assert tf["args"] == [
        "--port=2000",
        "--rest_api_port=2001",
        "--model_name=mnist-model",
        "--model_base_path=/mnt/models",
    ]
    assert tf["ports"] == [{"containerPort": 2000, "protocol": "TCP"}, {"containerPort": 2001, "protocol": "TCP"}]
    assert tf["volumeMounts"] == [
        {"name": "tfserving-provision-location", "mountPath": "/mnt/models", "readOnly": True}
    ]
    assert "securityContext" not in tf  # left as Google ships it
    [init] = pod["initContainers"]
    assert init["name"] == "tfserving-model-initializer"
    assert init["image"] == f"wharf/storage-initializer:{wharf.__version__}"
    assert init["args"] == ["gs://seldon-models/tfserving/mnist-model", "/mnt/models"]
    assert {"name": "tfserving-provision-location", "emptyDir": {}} in pod["volumes"]


def test_seldon_protocol_only_the_node_gets_a_service():
    services = [o for o in render(MNIST, CONFIG) if o["kind"] == "Service"]
    assert sorted(s["metadata"]["name"] for s in services) == ["tfserving-default", "tfserving-default-mnist-model"]


def test_the_users_endpoints_are_kept_and_the_node_name_is_the_model_name():
    sdep = copy.deepcopy(MNIST)
    graph = sdep["spec"]["predictors"][0]["graph"]
    graph["parameters"] = [
        {"name": "rest_endpoint", "value": "http://0.0.0.0:8501", "type": "STRING"},
        {"name": "model_name", "value": "other", "type": "STRING"},
    ]
    got = parameters(container(pod_of(sdep), "mnist-model"))
    # upstream adds its endpoints only when the user named neither, and model_name always (last)
    assert got == {"rest_endpoint": "http://0.0.0.0:8501", "model_name": "mnist-model"}


def test_a_users_tfserving_container_is_completed_not_replaced():
    sdep = copy.deepcopy(MNIST)
    sdep["spec"]["predictors"][0]["componentSpecs"] = [
        {
            "spec": {
                "containers": [
                    {
                        "name": "tfserving",
                        "image": "registry.example/tf-serving:2.14.1",
                        "resources": {"limits": {"memory": "2Gi"}},
                    }
                ]
            }
        }
    ]
    pod = pod_of(sdep)
    tf = container(pod, "tfserving")
    assert tf["image"] == "registry.example/tf-serving:2.14.1" and tf["resources"] == {"limits": {"memory": "2Gi"}}
    assert tf["args"][2] == "--model_name=mnist-model" and len(tf["ports"]) == 2
    assert [c["name"] for c in pod["containers"]].count("tfserving") == 1


def test_tf_servings_image_is_overridable_as_upstreams():
    config = OperatorConfig.from_env(
        {
            "RELATED_IMAGE_TENSORFLOW": "registry.example/tf-serving:2.14.1",
            "RELATED_IMAGE_TFPROXY": "registry.example/proxy:1",
        }
    )
    pod = pod_of(MNIST, config)
    assert container(pod, "tfserving")["image"] == "registry.example/tf-serving:2.14.1"
    assert container(pod, "mnist-model")["image"] == "registry.example/proxy:1"


def test_a_predictor_servers_table_without_tf_serving_is_named():
    config = OperatorConfig(predictor_servers={"TENSORFLOW_SERVER": {"seldon": "wharf/tfserving-proxy:x"}})
    with pytest.raises(SdepError, match="predictor_servers has no TENSORFLOW_SERVER.protocols.tensorflow"):
        render(MNIST, config)


def test_tensorflow_protocol_the_nodes_container_is_tf_serving_on_the_nodes_ports():
    pod = pod_of(with_protocol("tensorflow"))
    assert [c["name"] for c in pod["containers"]] == ["mnist-model", ENGINE_CONTAINER]
    tf = container(pod, "mnist-model")
    assert tf["image"] == "tensorflow/serving:2.1.0"
    assert tf["args"] == [
        "--port=9500",
        "--rest_api_port=9000",
        "--model_name=mnist-model",
        "--model_base_path=/mnt/models",
    ]
    assert {p["name"]: p["containerPort"] for p in tf["ports"]} == {"http": 9000, "grpc": 9500, "metrics": 6000}
    assert "securityContext" not in tf
    assert {"name": "mnist-model-provision-location", "mountPath": "/mnt/models", "readOnly": True} in tf[
        "volumeMounts"
    ]
    [init] = pod["initContainers"]
    assert init["name"] == "mnist-model-model-initializer" and init["args"][1] == "/mnt/models"
    args = container(pod, ENGINE_CONTAINER)["args"]
    assert args[args.index("--protocol") + 1] == "tensorflow"


def test_tensorflow_protocol_keeps_the_users_args():
    sdep = with_protocol("tensorflow")
    sdep["spec"]["predictors"][0]["componentSpecs"] = [
        {
            "spec": {
                "containers": [
                    {
                        "name": "mnist-model",
                        "args": ["--port=9500", "--rest_api_port=9000", "--model_config_file=/cfg/models"],
                    }
                ]
            }
        }
    ]
    tf = container(pod_of(sdep), "mnist-model")
    assert tf["args"][-1] == "--model_config_file=/cfg/models" and tf["image"] == "tensorflow/serving:2.1.0"
