"""TENSORFLOW_SERVER's Seldon-protocol proxy (wharf.servers.tfserving.TfServingProxy) in front of TF Serving.

TF Serving itself cannot run here (no image registry to pull ``tensorflow/serving`` from; PyPI has
only its client API), so the proxy talks to a stand-in (``tfserving_standin.py``) that serves TF
Serving's REST predict API and its gRPC PredictionService/Predict for a real model trained here (a
linear model fitted to the iris data with numpy). Everything else is real: the component server as
a process, Wharf's proxy image under ``docker run --read-only --user 1001:0`` with the environment
the operator renders, grpcio and httpx as the clients.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from google.protobuf import any_pb2
from support import failure_body, run_to_exit, service_image
from tfserving_standin import StandIn, save_linear_model

from wharf.local.process import free_port
from wharf.protocol.codecs.tftensor import from_numpy, to_numpy
from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as rpc
from wharf.protocol.pb import tfserving_predict_pb2 as tfs

PROXY = "wharf.servers.tfserving.TfServingProxy"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
HERE = Path(__file__).resolve().parent


def params(**values) -> dict[str, str]:
    """PREDICTIVE_UNIT_PARAMETERS as the operator writes them."""
    kinds = {int: "INT", float: "FLOAT", str: "STRING"}
    return {
        "PREDICTIVE_UNIT_PARAMETERS": json.dumps(
            [{"name": k, "value": str(v), "type": kinds[type(v)]} for k, v in values.items()]
        )
    }


@pytest.fixture(scope="module")
def linear_model(tmp_path_factory):
    """Least squares from the iris measurements to one-hot classes: weights (4, 3) and bias (3)."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    design = np.hstack([X, np.ones((len(X), 1))])
    coef, *_ = np.linalg.lstsq(design, np.eye(3)[y], rcond=None)
    weights, bias = coef[:4], coef[4]
    folder = save_linear_model(tmp_path_factory.mktemp("tfmodel"), weights, bias)

    def want(rows) -> np.ndarray:  # what TF Serving computes: float32
        return np.asarray(rows, dtype=np.float32) @ weights.astype(np.float32) + bias.astype(np.float32)

    return folder, want


@pytest.fixture(scope="module")
def standin(linear_model):
    folder, _ = linear_model
    rest, grpc_port = free_port(), free_port()
    stop = StandIn("iris", folder).start(rest, grpc_port)
    yield f"http://127.0.0.1:{rest}", f"127.0.0.1:{grpc_port}"
    stop()


def proxy_params(standin, model_name: str = "iris", **more) -> dict[str, str]:
    rest, grpc_target = standin
    return params(
        rest_endpoint=rest, grpc_endpoint=grpc_target, model_name=model_name, model_input="x", model_output="y", **more
    )


def grpc_predict(target: str, message: pb.SeldonMessage) -> pb.SeldonMessage:
    with grpc.insecure_channel(target) as channel:
        return rpc.ModelStub(channel).Predict(message, timeout=30)


def tftensor_request(rows) -> pb.SeldonMessage:
    return pb.SeldonMessage(data=pb.DefaultData(tftensor=from_numpy(np.asarray(rows, dtype=np.float32))))


def test_rest_ndarray_tensor_and_json_get_the_models_answers(serve, standin, linear_model):
    _, want = linear_model
    server = serve(PROXY, env=proxy_params(standin), workers=2)  # clients made after the fork
    for _ in range(2):  # both workers
        answer = server.predict({"data": {"ndarray": ROWS}}).json()
        assert answer["data"]["names"] == ["t:0", "t:1", "t:2"]
        np.testing.assert_allclose(answer["data"]["ndarray"], want(ROWS), rtol=1e-6)
    answer = server.predict({"data": {"tensor": {"shape": [3, 4], "values": sum(ROWS, [])}}}).json()
    assert answer["data"]["tensor"]["shape"] == [3, 3]
    np.testing.assert_allclose(np.reshape(answer["data"]["tensor"]["values"], (3, 3)), want(ROWS), rtol=1e-6)
    # jsonData is TF Serving's own request body, and its answer comes back as it is
    answer = server.predict({"jsonData": {"instances": ROWS}}).json()
    np.testing.assert_allclose(answer["jsonData"]["predictions"], want(ROWS), rtol=1e-6)
    # a row without its batch dimension: TF Serving's own 400, with its message
    one = server.predict({"data": {"ndarray": ROWS[0]}})
    assert one.status_code == 400 and "Matrix size-incompatible" in failure_body(one)["info"]


def test_grpc_tftensor_tensor_and_custom_data_get_the_models_answers(serve, standin, linear_model):
    _, want = linear_model
    server = serve(PROXY, env=proxy_params(standin))
    reply = grpc_predict(server.grpc_target, tftensor_request(ROWS))
    assert reply.data.tftensor.dtype == 1  # DT_FLOAT: TF Serving's tensor, passed through
    np.testing.assert_allclose(to_numpy(reply.data.tftensor), want(ROWS), rtol=1e-6)
    # a Seldon tensor becomes a float32 TensorProto, as TensorFlow's make_tensor_proto makes it
    reply = grpc_predict(
        server.grpc_target, pb.SeldonMessage(data=pb.DefaultData(tensor=pb.Tensor(shape=[3, 4], values=sum(ROWS, []))))
    )
    np.testing.assert_allclose(to_numpy(reply.data.tftensor), want(ROWS), rtol=1e-6)
    # customData: a PredictRequest as TF Serving's own clients pack it, answered with the PredictResponse
    request = tfs.PredictRequest()
    request.inputs["x"].CopyFrom(from_numpy(np.asarray(ROWS, dtype=np.float32)))
    packed = any_pb2.Any(
        type_url="type.googleapis.com/tensorflow.serving.PredictRequest", value=request.SerializeToString()
    )
    reply = grpc_predict(server.grpc_target, pb.SeldonMessage(customData=packed))
    assert reply.customData.type_url == "type.googleapis.com/tensorflow.serving.PredictResponse"
    response = tfs.PredictResponse.FromString(reply.customData.value)
    assert response.model_spec.name == "iris"  # the proxy names the model and the signature
    np.testing.assert_allclose(to_numpy(response.outputs["y"]), want(ROWS), rtol=1e-6)


def test_a_signature_with_several_outputs_answers_with_model_output(serve, standin, linear_model):
    _, want = linear_model
    server = serve(PROXY, env=proxy_params(standin, signature_name="two_outputs"))
    np.testing.assert_allclose(
        server.predict({"data": {"ndarray": ROWS}}).json()["data"]["ndarray"], want(ROWS), rtol=1e-6
    )
    reply = grpc_predict(server.grpc_target, tftensor_request(ROWS))
    np.testing.assert_allclose(to_numpy(reply.data.tftensor), want(ROWS), rtol=1e-6)


def test_tf_servings_errors_come_back_with_its_message_and_status(serve, standin):
    server = serve(PROXY, env=proxy_params(standin, model_name="mnist"))  # TF Serving has no such model
    r = server.predict({"data": {"ndarray": ROWS}})
    assert r.status_code == 404
    assert "answered 404: Servable not found for request: Latest(mnist)" in failure_body(r)["info"]
    with pytest.raises(grpc.RpcError) as err:
        grpc_predict(server.grpc_target, tftensor_request(ROWS))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "Servable not found for request: Latest(mnist)" in err.value.details()

    server = serve(PROXY, env=proxy_params(standin))
    r = server.predict({"data": {"ndarray": [[1.0, 2.0]]}})  # two features where the model takes four
    status = failure_body(r)
    assert r.status_code == 400 and status["reason"] == "MICROSERVICE_BAD_DATA"
    assert "Matrix size-incompatible: In[0]: [1,2], In[1]: [4,3]" in status["info"]
    with pytest.raises(grpc.RpcError) as err:  # a float64 tensor where the signature takes float32
        grpc_predict(
            server.grpc_target,
            pb.SeldonMessage(data=pb.DefaultData(tftensor=from_numpy(np.asarray(ROWS, dtype=np.float64)))),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Expects arg[0] to be float but DT_DOUBLE is provided" in err.value.details()
    r = server.predict({"strData": "hello"})
    assert r.status_code == 400 and "not strData or binData" in failure_body(r)["info"]
    assert "Traceback" not in server.log()


def test_an_unreachable_tf_serving_is_503_and_unavailable(serve):
    rest_port, grpc_port = free_port(), free_port()  # nothing listens there
    server = serve(
        PROXY,
        env=params(
            rest_endpoint=f"http://127.0.0.1:{rest_port}",
            grpc_endpoint=f"127.0.0.1:{grpc_port}",
            model_name="iris",
            model_input="x",
        ),
    )
    r = server.predict({"data": {"ndarray": ROWS}})
    assert r.status_code == 503
    assert f"TF Serving (http://127.0.0.1:{rest_port}/v1/models/iris:predict) is unreachable" in failure_body(r)["info"]
    with pytest.raises(grpc.RpcError) as err:
        grpc_predict(server.grpc_target, tftensor_request(ROWS))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert f"TF Serving (127.0.0.1:{grpc_port}) is unavailable" in err.value.details()


def test_a_tf_serving_that_hangs_or_answers_without_end_costs_one_bounded_call(serve, standin):
    """The stand-in's ``slow`` model answers after 3 s, its ``endless`` one never stops sending."""
    server = serve(PROXY, env=proxy_params(standin, model_name="slow", timeout=1.0))
    r = server.predict({"data": {"ndarray": ROWS}})
    assert r.status_code == 504 and "did not answer within 1 s" in failure_body(r)["info"]
    with pytest.raises(grpc.RpcError) as err:
        grpc_predict(server.grpc_target, tftensor_request(ROWS))
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    server = serve(PROXY, env=proxy_params(standin, model_name="endless", max_answer_bytes=2**20))
    r = server.predict({"data": {"ndarray": ROWS}})
    assert r.status_code == 502
    assert "answered more than 1048576 bytes (parameter max_answer_bytes)" in failure_body(r)["info"]
    with pytest.raises(grpc.RpcError) as err:  # a 4 MiB gRPC answer
        grpc_predict(server.grpc_target, tftensor_request(ROWS))
    assert "answered more than 1048576 bytes" in err.value.details()
    # the worker is free again: the next call is answered (with the same bounded failure)
    assert server.predict({"data": {"ndarray": ROWS}}).status_code == 502


def test_bad_parameters_stop_the_server_at_start_with_one_line():
    out = run_to_exit(
        [PROXY, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"],
        env=params(rest_endpoint="http://127.0.0.1:1"),
        timeout=60,
    )
    assert out.returncode != 0 and "Traceback" not in out.stdout, out.stdout
    assert "parameter model_name is not set" in out.stdout
    out = run_to_exit(
        [PROXY, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"],
        env=params(rest_endpoint="127.0.0.1:2001", model_name="iris"),
        timeout=60,
    )
    assert out.returncode != 0 and "Traceback" not in out.stdout, out.stdout
    assert "parameter rest_endpoint: '127.0.0.1:2001' is not an http:// or https:// URL" in out.stdout
    out = run_to_exit(
        [PROXY, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"],
        env=params(rest_endpoint="http://127.0.0.1:2001", model_name="iris", timeout="soon"),
        timeout=60,
    )
    assert out.returncode != 0 and "Traceback" not in out.stdout, out.stdout
    assert "parameter timeout: 'soon' is not a positive float" in out.stdout


# --- the image, as the operator renders the pod ------------------------------------------------


@pytest.fixture(scope="module")
def proxy_image():
    from wharf.build.service_images import TFSERVING_PROXY

    return service_image(TFSERVING_PROXY)


def rendered_pod() -> dict:
    """The pod the operator renders for upstream's TF Serving example (protocol seldon)."""
    from wharf.operator.config import OperatorConfig
    from wharf.operator.render import render

    sdep = {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "tfserving"},
        "spec": {
            "predictors": [
                {
                    "name": "default",
                    "graph": {
                        "name": "iris",
                        "implementation": "TENSORFLOW_SERVER",
                        "modelUri": "gs://models/iris-linear",
                        "parameters": [
                            {"name": "model_input", "value": "x", "type": "STRING"},
                            {"name": "model_output", "value": "y", "type": "STRING"},
                        ],
                    },
                }
            ]
        },
    }
    deployment = next(o for o in render(sdep, OperatorConfig()) if o["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]


def wait_ready(url: str, container, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        container.reload()
        if container.status == "exited":
            break
        time.sleep(0.2)
    raise AssertionError(f"the proxy did not become ready:\n{container.logs().decode(errors='replace')[-3000:]}")


@pytest.mark.docker
def test_the_image_in_a_pod_as_rendered_serves_rest_and_grpc(proxy_image, linear_model):
    """Two containers sharing one network namespace, as in the pod: the stand-in with the rendered
    ``tfserving`` container's args (and the model at /mnt/models), the proxy image with the rendered
    env, both read-only as UID 1001."""
    import docker

    folder, want = linear_model
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    pod = rendered_pod()
    proxy_spec = next(c for c in pod["containers"] if c["name"] == "iris")
    tf_spec = next(c for c in pod["containers"] if c["name"] == "tfserving")
    assert proxy_spec["image"] == proxy_image
    env = {e["name"]: e["value"] for e in proxy_spec["env"] if "value" in e}
    client = docker.from_env()
    started = []
    try:
        standin = client.containers.run(
            proxy_image,
            entrypoint=["python", "/standin/tfserving_standin.py"],
            command=tf_spec["args"],
            detach=True,
            read_only=True,
            user="1001:0",
            volumes={str(folder): {"bind": "/mnt/models", "mode": "ro"}, str(HERE): {"bind": "/standin", "mode": "ro"}},
            ports={"9000/tcp": ("127.0.0.1", None), "9500/tcp": ("127.0.0.1", None)},
        )
        started.append(standin)
        # /tmp as a tmpfs, as a pod's writable layer or an emptyDir gives it: the component server keeps
        # its Prometheus multiprocess files there; the rest of the root stays read-only.
        proxy = client.containers.run(
            proxy_image,
            detach=True,
            read_only=True,
            tmpfs={"/tmp": "size=16m"},
            user="1001:0",
            environment=env,
            network_mode=f"container:{standin.id}",
        )
        started.append(proxy)
        standin.reload()
        ports = standin.attrs["NetworkSettings"]["Ports"]
        url = f"http://127.0.0.1:{ports['9000/tcp'][0]['HostPort']}"
        target = f"127.0.0.1:{ports['9500/tcp'][0]['HostPort']}"
        wait_ready(url, proxy)

        answer = httpx.post(url + "/api/v1.0/predictions", json={"data": {"ndarray": ROWS}}, timeout=30).json()
        np.testing.assert_allclose(answer["data"]["ndarray"], want(ROWS), rtol=1e-6)
        reply = grpc_predict(target, tftensor_request(ROWS))
        np.testing.assert_allclose(to_numpy(reply.data.tftensor), want(ROWS), rtol=1e-6)
        bad = httpx.post(url + "/api/v1.0/predictions", json={"data": {"ndarray": [[1.0]]}}, timeout=30)
        assert bad.status_code == 400 and "Matrix size-incompatible" in failure_body(bad)["info"]
        assert "Traceback" not in proxy.logs().decode(errors="replace")
    finally:
        for container in reversed(started):
            container.remove(force=True)
