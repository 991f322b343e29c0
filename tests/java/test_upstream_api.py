"""Handlers written for upstream's Java wrapper (io.seldon.wrapper.api.SeldonPredictionService), served by
Wharf's Java server through the compatibility layer, as real processes over REST, gRPC and metrics.

- ``testing-s2i-java``: upstream's own s2i test project (tests/fixtures/upstream-java), its Spring Boot
  ``App`` and ``@Component`` handler compiled unchanged, started the way the image starts it.
- ``echo``: upstream's wrapper test handler (an echo), with no application class: found as the one
  ``@Component``.
- ``compat``: a handler of ours that throws, returns null, routes, aggregates and takes feedback.
"""

from __future__ import annotations

import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import java_support as js
import pytest
from test_vectors import CASES, call_grpc, call_rest, check_grpc, check_rest

from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as pb_grpc

UPSTREAM = js.UPSTREAM_FIXTURES / "testing-s2i-java"
CONSTANT = {"data": {"tensor": {"shape": [1], "values": [1.0]}}}  # what upstream's example handler answers

# The shared vectors whose answer does not depend on the model: request parsing, paths, methods,
# Feedback parsing. The others assume the echo VectorModel and Wharf's meta merging, which an
# upstream-API handler does not do (its answer is sent as it is, as upstream sent it).
MODEL_INDEPENDENT = {
    "errors:no-payload",
    "errors:not-an-object",
    "errors:not-json",
    "errors:no-body",
    "errors:tensor-shape-mismatch",
    "errors:ndarray-not-a-list",
    "errors:unknown-path-404-text",
    "errors:get-on-post-only-path-404-text",
    "errors:wrong-method-405-text",
    "errors:feedback-seldon-message-refused",
    "errors:feedback-unknown-nested-field-refused",
    "errors:aggregate-empty",
    "endpoints:health-ping",
    "grpc:no-payload",
}


@pytest.fixture(scope="module")
def classpath() -> str:
    return js.compat_build()


@pytest.fixture(scope="module")
def example(classpath: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Upstream's s2i test project compiled unchanged (classes and application.properties)."""
    return js.compile_project(
        sorted((UPSTREAM / "src" / "main" / "java").rglob("*.java")),
        [UPSTREAM / "src" / "main" / "resources" / "application.properties"],
        classpath,
        tmp_path_factory.mktemp("upstream-example"),
    )


@pytest.fixture(scope="module")
def servers(classpath: str, example: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, js.Server]]:
    build = tmp_path_factory.mktemp("upstream-java")
    echo = js.compile_model_files(
        sorted((js.UPSTREAM_FIXTURES / "echo-handler").rglob("*.java")), classpath, build / "echo"
    )
    compat = js.compile_model_files(sorted((js.MODELS / "upstream").rglob("*.java")), classpath, build / "compat")
    logs = tmp_path_factory.mktemp("compat-logs")
    running: dict[str, js.Server] = {}
    try:
        for name, classes in (("example", example), ("echo", echo), ("compat", compat)):
            running[name] = js.compat_server(name, classes, classpath, logs)
        yield running
    finally:
        for server in running.values():
            server.stop()


def grpc_call(server: js.Server, service: str, method: str, request: Any) -> Any:
    with grpc.insecure_channel(server.grpc_target) as channel:
        return getattr(getattr(pb_grpc, f"{service}Stub")(channel), method)(request, timeout=10)


# --- upstream's example project, unchanged ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/predict", "/api/v1.0/predictions"])
def test_upstream_example_answers_over_rest(servers: dict[str, js.Server], path: str) -> None:
    resp = httpx.post(servers["example"].url + path, json={"data": {"ndarray": [[1.0, 2.0]]}}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json() == CONSTANT


@pytest.mark.parametrize("service", ["Model", "Seldon"])
def test_upstream_example_answers_over_grpc(servers: dict[str, js.Server], service: str) -> None:
    request = pb.SeldonMessage(data=pb.DefaultData(ndarray=None))
    reply = grpc_call(servers["example"], service, "Predict", request)
    assert list(reply.data.tensor.shape) == [1] and list(reply.data.tensor.values) == [1.0]


def test_upstream_example_serves_metrics(servers: dict[str, js.Server]) -> None:
    server = servers["example"]
    httpx.post(server.url + "/predict", json={"data": {"ndarray": [[1]]}}, timeout=10)
    resp = httpx.get(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10)
    assert resp.status_code == 200
    assert "# TYPE" in resp.text


def test_upstream_example_started_its_own_spring_app(servers: dict[str, js.Server]) -> None:
    """The project's @SpringBootApplication class ran (not a context Wharf made up around the handler)."""
    assert "Starting App" in servers["example"].log(), servers["example"].log()[-2000:]


@pytest.mark.parametrize(
    "case", [c for i, c in CASES if i in MODEL_INDEPENDENT], ids=[i for i, _ in CASES if i in MODEL_INDEPENDENT]
)
def test_shared_vectors_hold_for_an_upstream_handler(servers: dict[str, js.Server], case: dict[str, Any]) -> None:
    server = servers["example"]
    if case.get("transport", "rest") == "grpc":
        check_grpc(call_grpc(server, case), case["expect"])
    else:
        check_rest(call_rest(server, case), case["expect"])


def test_model_independent_vectors_are_all_present() -> None:
    assert MODEL_INDEPENDENT <= {i for i, _ in CASES}


# --- upstream's echo handler: the message goes back as the handler returns it -----------------------


def test_upstream_echo_handler_is_found_without_an_app_class(servers: dict[str, js.Server]) -> None:
    body = {
        "data": {"names": ["a", "b"], "tensor": {"shape": [1, 2], "values": [1.5, 2.0]}},
        "meta": {"puid": "p1", "tags": {"t": "v"}},
    }
    resp = httpx.post(servers["echo"].url + "/predict", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json() == body
    reply = grpc_call(servers["echo"], "Model", "Predict", pb.SeldonMessage(strData="hi"))
    assert reply.strData == "hi"


# --- a handler that misbehaves, and the other methods --------------------------------------------


def test_a_throwing_handler_answers_500_with_its_message(servers: dict[str, js.Server]) -> None:
    resp = httpx.post(servers["compat"].url + "/predict", json={"strData": "boom"}, timeout=10)
    assert resp.status_code == 500
    assert resp.json()["status"]["info"] == "model failed on purpose"
    assert resp.json()["status"]["reason"] == "MICROSERVICE_INTERNAL_ERROR"
    with pytest.raises(grpc.RpcError) as err:
        grpc_call(servers["compat"], "Model", "Predict", pb.SeldonMessage(strData="boom"))
    assert "model failed on purpose" in err.value.details()


def test_a_handler_returning_null_is_named_in_a_500(servers: dict[str, js.Server]) -> None:
    resp = httpx.post(servers["compat"].url + "/predict", json={"strData": "null"}, timeout=10)
    assert resp.status_code == 500
    assert resp.json()["status"]["info"].startswith("io.wharf.testing.CompatHandler.predict returned null")
    assert "NullPointerException" not in resp.text
    with pytest.raises(grpc.RpcError) as err:
        grpc_call(servers["compat"], "Model", "Predict", pb.SeldonMessage(strData="null"))
    assert "CompatHandler.predict returned null" in err.value.details()


def test_spring_injects_the_handler(servers: dict[str, js.Server]) -> None:
    resp = httpx.post(servers["compat"].url + "/predict", json={"strData": "greet"}, timeout=10)
    assert resp.json() == {"strData": "hello"}


def test_route_reads_the_branch_from_the_handler_message(servers: dict[str, js.Server]) -> None:
    resp = httpx.post(
        servers["compat"].url + "/route", json={"data": {"tensor": {"shape": [1], "values": [2]}}}, timeout=10
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["tensor"] == {"shape": [1, 1], "values": [2]}  # Wharf's route answer, mirrored
    reply = grpc_call(
        servers["compat"],
        "Router",
        "Route",
        pb.SeldonMessage(data=pb.DefaultData(tensor=pb.Tensor(shape=[1], values=[0]))),
    )
    assert list(reply.data.tensor.values) == [0]


def test_route_not_overridden_is_refused_as_wharf_does(servers: dict[str, js.Server]) -> None:
    resp = httpx.post(servers["echo"].url + "/route", json={"data": {"ndarray": [[1]]}}, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["status"]["info"] == "Route not defined"


def test_aggregate_gets_the_message_list(servers: dict[str, js.Server]) -> None:
    body = {"seldonMessages": [{"strData": "first"}, {"strData": "second"}]}
    resp = httpx.post(servers["compat"].url + "/aggregate", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"strData": "first"}


def test_feedback_gets_the_whole_feedback_message(servers: dict[str, js.Server]) -> None:
    body = {"request": {"data": {"ndarray": [[1]]}}, "response": {"meta": {"routing": {"r": 1}}}, "reward": 0.5}
    resp = httpx.post(servers["compat"].url + "/send-feedback", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"strData": "reward 0.5 routing {r=1}"}


def test_a_method_not_overridden_answers_upstreams_empty_message(servers: dict[str, js.Server]) -> None:
    resp = httpx.post(servers["compat"].url + "/transform-input", json={"strData": "x"}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {}


# --- the builder's check, on a fat jar (upstream's project packs the layer into its jar) ------------


def test_the_check_finds_the_app_in_a_fat_jar_holding_the_layer(classpath: str, example: Path, tmp_path: Path) -> None:
    fat = tmp_path / "app.jar"
    layer = next(p for p in classpath.split(":") if "wharf-seldon-compat" in p)
    with zipfile.ZipFile(fat, "w") as out, zipfile.ZipFile(layer) as layer_jar:
        for name in layer_jar.namelist():
            out.writestr(name, layer_jar.read(name))
        for path in sorted(example.rglob("*")):
            if path.is_file():
                out.write(path, str(path.relative_to(example)))

    def check(service_type: str) -> subprocess.CompletedProcess:
        # as the image runs it: the project's jar first on the class path
        return subprocess.run(
            [
                "java",
                "-cp",
                f"{fat}:{classpath}",
                "io.seldon.wrapper.Launcher",
                "--scan",
                str(fat),
                "--check",
                service_type,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    ok = check("MODEL")
    assert ok.returncode == 0, ok.stderr
    assert (
        "Spring Boot application io.seldon.example.App, handler io.seldon.example.model.ExampleModelHandler"
        in ok.stdout
    )
    wrong = check("ROUTER")
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (
        "wharf-build error: SERVICE_TYPE=ROUTER needs the method route(...) of "
        "SeldonPredictionService, and io.seldon.example.model.ExampleModelHandler does not override it"
    )
