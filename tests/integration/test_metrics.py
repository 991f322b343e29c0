"""Prometheus metrics of a running server: custom COUNTER/GAUGE/TIMER with their
tags and the identity labels, on the metrics port and path only, summed over two workers."""

from __future__ import annotations

import threading
import time

import grpc
import httpx
import numpy as np
import pytest
from google.protobuf import json_format
from prometheus_client.parser import text_string_to_metric_families
from support import Server

from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as rpc

IDENTITY_ENV = {
    "PREDICTIVE_UNIT_ID": "metrics-unit",
    "PREDICTIVE_UNIT_IMAGE": "repo/metrics-model:4.2",
    "SELDON_DEPLOYMENT_ID": "my-sdep",
    "PREDICTOR_ID": "main",
    "PREDICTOR_LABELS": '{"version": "v7"}',
    "PREDICTIVE_UNIT_METRICS_ENDPOINT": "/prometheus",
}
IDENTITY_LABELS = {
    "deployment_name": "my-sdep",
    "seldon_deployment_name": "my-sdep",
    "model_name": "metrics-unit",
    "model_image": "repo/metrics-model",
    "image_name": "repo/metrics-model",
    "model_version": "4.2",
    "image_version": "4.2",
    "predictor_name": "main",
    "predictor_version": "v7",
}
ND = {"data": {"ndarray": [[1, 2]]}}
FEEDBACK = {"request": ND, "response": {"data": {"ndarray": [[1]]}}, "truth": {"data": {"ndarray": [[1]]}}}


def scrape(server: Server, path: str = "/prometheus") -> list:
    r = httpx.get(server.metrics_url + path, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return [s for family in text_string_to_metric_families(r.text) for s in family.samples]


def select(samples: list, name: str, **labels: str) -> list:
    return [s for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def total(samples: list, name: str, **labels: str) -> float:
    return sum(s.value for s in select(samples, name, **labels))


@pytest.fixture(scope="module")
def two_workers(serve_module) -> dict:
    """A 2-worker FullModel server, driven once: returns the server and what was sent to it."""
    server = serve_module("FullModel", env=IDENTITY_ENV, workers=2)
    sent = {"predict": 0, "runtime": 0, "transform": 0}

    # Two slow requests at once: the first worker is busy in user code, so the second worker
    # must accept the other connection. Both workers then hold metrics (retried under heavy load,
    # when one worker may accept both connections before it starts the first request).
    def slow(results: list) -> None:
        with httpx.Client(timeout=30) as client:
            r = client.post(server.url + "/predict", json={"meta": {"tags": {"op": "sleep", "seconds": 1.0}}, **ND})
            results.append(r.status_code)

    for _ in range(5):
        results: list[int] = []
        threads = [threading.Thread(target=slow, args=(results,)) for _ in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.3)
        for t in threads:
            t.join()
        assert results == [200, 200]
        sent["predict"] += 2
        if len({s.labels["worker_id"] for s in select(scrape(server), "full_counter_total")}) == 2:
            break
    for _ in range(5):
        assert server.predict(ND).status_code == 200
    sent["predict"] += 5
    for _ in range(3):
        r = server.predict({"meta": {"tags": {"op": "runtime"}}, **ND})
        assert r.status_code == 200
    sent["predict"] += 3
    sent["runtime"] += 3
    with grpc.insecure_channel(server.grpc_target) as ch:
        stub = rpc.ModelStub(ch)
        for _ in range(2):
            stub.Predict(json_format.ParseDict(ND, pb.SeldonMessage()), timeout=20)
    sent["predict"] += 2
    assert server.post("/transform-input", json=ND).status_code == 200
    sent["transform"] += 1
    for reward in (2.5, 1.5, 0):
        assert server.post("/send-feedback", json={**FEEDBACK, "reward": reward}).status_code == 200
    # a failing request records nothing
    assert server.predict({"meta": {"tags": {"op": "raise"}}, **ND}).status_code == 500
    return {"server": server, "sent": sent}


def test_metrics_path_and_port(two_workers):
    server = two_workers["server"]
    assert httpx.get(server.metrics_url + "/metrics", timeout=10).status_code == 404
    for path in ("/prometheus", "/metrics"):  # not on the REST port: upstream's "not served" answer there
        r = server.get(path)
        assert r.status_code == 500 and r.json()["status"]["info"].startswith("404 Not Found: "), r.text


def test_counter_summed_over_both_workers(two_workers):
    samples = scrape(two_workers["server"])
    sent = two_workers["sent"]
    series = select(samples, "full_counter_total", method="predict", kind="count")
    workers = {s.labels["worker_id"] for s in series}
    assert len(workers) == 2, series
    assert workers == {str(pid) for pid in two_workers["server"].workers()}
    assert sum(s.value for s in series) == sent["predict"]
    assert total(samples, "full_counter_total", method="inputtransform") == sent["transform"]
    assert total(samples, "runtime_counter_total", method="predict") == 2 * sent["runtime"]


def test_identity_labels_on_every_custom_series(two_workers):
    samples = scrape(two_workers["server"])
    custom = [s for s in samples if s.name.startswith(("full_", "runtime_", "seldon_api_model_feedback"))]
    assert custom
    for s in custom:
        for key, value in IDENTITY_LABELS.items():
            assert s.labels.get(key) == value, (s.name, s.labels)
        assert s.labels["worker_id"].isdigit()
        assert s.labels["method"] in ("predict", "inputtransform", "feedback")


def test_gauge_and_timer(two_workers):
    samples = scrape(two_workers["server"])
    sent = two_workers["sent"]
    gauges = select(samples, "full_gauge", method="predict", kind="gauge")
    assert gauges and all(s.value == 42 for s in gauges)
    count = total(samples, "full_timer_count", method="predict")
    assert count == sent["predict"]
    assert total(samples, "full_timer_sum", method="predict") == pytest.approx(0.020 * sent["predict"])
    buckets = select(samples, "full_timer_bucket", method="predict")
    les = sorted({float(s.labels["le"]) for s in buckets})
    # 50 log-spaced bounds from 1 ms to 30 s, then +Inf (a 0 bound in front is allowed)
    finite = [le for le in les if 0 < le < float("inf")]
    assert finite == pytest.approx(list(np.logspace(np.log10(0.001), np.log10(30), 50)), rel=1e-3)
    assert les[-1] == float("inf") and les[0] in (0.0, finite[0])
    # 20 ms falls in the buckets from about 0.02 s up
    below = sum(s.value for s in buckets if float(s.labels["le"]) < 0.019)
    assert below == 0


def test_feedback_reward_counters(two_workers):
    samples = scrape(two_workers["server"])
    assert total(samples, "seldon_api_model_feedback_total", method="feedback") == 2
    assert total(samples, "seldon_api_model_feedback_reward_total", method="feedback") == pytest.approx(4.0)


def test_scrape_is_stable_and_cumulative(two_workers):
    server = two_workers["server"]
    before = total(scrape(server), "full_counter_total", method="predict")
    assert server.predict(ND).status_code == 200
    two_workers["sent"]["predict"] += 1
    assert total(scrape(server), "full_counter_total", method="predict") == before + 1


def test_executor_disabled_and_metrics_not_echoed(serve_module):
    server = serve_module(
        "FullModel", env={"SELDON_EXECUTOR_ENABLED": "false", "INCLUDE_METRICS_IN_CLIENT_RESPONSE": "false"}
    )
    r = server.post("/send-feedback", json={**FEEDBACK, "reward": 3})
    assert r.status_code == 200
    body = server.predict(ND).json()
    assert "metrics" not in body["meta"]
    samples = scrape(server, "/metrics")
    assert total(samples, "seldon_api_model_feedback_total") == 0
    assert total(samples, "full_counter_total", method="predict") == 1  # recorded, just not echoed
    assert total(samples, "full_counter_total", method="feedback") == 1


def test_raw_method_metrics_are_recorded(serve_module):
    server = serve_module("RawModel")
    for _ in range(3):
        assert server.predict({"jsonData": {}}).status_code == 200
    assert total(scrape(server, "/metrics"), "raw_counter_total", method="predict") == 3


def test_request_histogram_counts_every_answer_by_method_and_code(serve_module):
    """Request timings are batched in the worker and reach the scrape within a fraction of a second."""
    server = serve_module("FullModel", env=IDENTITY_ENV)
    for _ in range(4):
        assert server.predict(ND).status_code == 200
    assert server.predict({"meta": {"tags": {"op": "raise"}}, **ND}).status_code == 500
    assert (
        server.post("/predict", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    )
    with grpc.insecure_channel(server.grpc_target) as ch:
        for _ in range(2):
            rpc.ModelStub(ch).Predict(json_format.ParseDict(ND, pb.SeldonMessage()), timeout=20)
    expected = {"200": 6, "500": 1, "400": 1}
    deadline = time.monotonic() + 5
    while True:
        samples = scrape(server)
        got = {
            code: total(samples, "wharf_component_request_seconds_count", method="predict", code=code)
            for code in expected
        }
        if got == expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert got == expected
    inf = select(samples, "wharf_component_request_seconds_bucket", method="predict", code="200", le="+Inf")
    assert sum(s.value for s in inf) == 6
    assert 0 < total(samples, "wharf_component_request_seconds_sum", method="predict", code="200") < 6 * 5
    for s in select(samples, "wharf_component_request_seconds_count"):
        assert all(s.labels.get(k) == v for k, v in IDENTITY_LABELS.items()), s.labels
