"""A slow model call delays only itself: user code runs on the worker's model thread, so the
probes, other keep-alive connections and new gRPC channels are answered while it runs; and with
the default of one thread, a model still sees its calls one at a time, REST and gRPC alike."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
from google.protobuf import json_format
from support import wait_until

from wharf.protocol.pb import prediction_pb2 as pb
from wharf.protocol.pb import prediction_pb2_grpc as rpc

QUICK_S = 0.5  # "well under" the 2 s call in flight


def _slow_call_in_flight(server, tmp_path, seconds: float = 2.0) -> tuple[threading.Thread, dict]:
    marker = tmp_path / "in-predict"
    result: dict = {}

    def call() -> None:
        r = httpx.post(
            server.url + "/predict", json={"jsonData": {"sleep": seconds, "marker": str(marker)}}, timeout=30
        )
        result["status"], result["done"] = r.status_code, time.monotonic()

    thread = threading.Thread(target=call)
    thread.start()
    wait_until(marker.exists, 20, "the slow request to reach predict()")
    return thread, result


def _timed(fn) -> tuple[float, object]:
    started = time.monotonic()
    out = fn()
    return time.monotonic() - started, out


def test_probes_metrics_and_new_channels_answer_while_predict_runs(serve, tmp_path):
    server = serve("SlowPredictModel")
    with httpx.Client(base_url=server.url, timeout=10) as keep_alive:
        assert keep_alive.get("/health/ping").status_code == 200  # the connection is open before the slow call
        thread, result = _slow_call_in_flight(server, tmp_path)
        timings = {}
        timings["ping"], r = _timed(lambda: httpx.get(server.url + "/health/ping", timeout=10))
        assert r.status_code == 200
        timings["keep-alive ping"], r = _timed(lambda: keep_alive.get("/health/ping"))
        assert r.status_code == 200
        timings["ready"], r = _timed(lambda: httpx.get(server.url + "/ready", timeout=10))
        assert r.status_code == 200
        timings["health status"], r = _timed(lambda: httpx.get(server.url + "/health/status", timeout=10))
        assert r.status_code == 200
        timings["metrics"], r = _timed(lambda: httpx.get(server.metrics_url + "/metrics", timeout=10))
        assert r.status_code == 200

        def new_channel_call() -> pb.SeldonModelMetadata:
            with grpc.insecure_channel(server.grpc_target) as channel:
                grpc.channel_ready_future(channel).result(timeout=10)
                return rpc.SeldonStub(channel).ModelMetadata(pb.SeldonModelMetadataRequest(), timeout=10)

        timings["new gRPC channel + metadata"], meta = _timed(new_channel_call)
        assert isinstance(meta, pb.SeldonModelMetadata)
        still_running = "done" not in result
        thread.join(30)
    assert result["status"] == 200
    assert still_running, "the slow call ended before the checks: they prove nothing"
    slow = {what: round(t, 3) for what, t in timings.items() if t >= QUICK_S}
    assert not slow, f"waited for the slow predict: {slow} (all: {timings})"


def test_a_slow_call_does_not_hold_other_connections_calls_to_other_methods(serve, tmp_path):
    """A keep-alive REST client and a gRPC client that only read metadata are not held either."""
    server = serve("SlowPredictModel")
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = rpc.SeldonStub(channel)
        stub.ModelMetadata(pb.SeldonModelMetadataRequest(), timeout=10)  # the channel is up before
        thread, result = _slow_call_in_flight(server, tmp_path)
        took, _ = _timed(lambda: [stub.ModelMetadata(pb.SeldonModelMetadataRequest(), timeout=10) for _ in range(5)])
        took_rest, r = _timed(lambda: httpx.get(server.url + "/api/v1.0/metadata", timeout=10))
        still_running = "done" not in result
        thread.join(30)
    assert still_running
    assert took < QUICK_S and took_rest < QUICK_S and r.status_code == 200, (took, took_rest)


def _most_overlap(server, calls: int = 12) -> int:
    """``calls`` REST and ``calls`` gRPC calls at once; the most the model ever saw together."""
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = rpc.ModelStub(channel)
        request = json_format.ParseDict({"jsonData": {"hold": 0.05}}, pb.SeldonMessage())

        def via_grpc(_: int) -> None:
            stub.Predict(request, timeout=30)

        def via_rest(_: int) -> None:
            with httpx.Client(timeout=30) as client:  # one connection each, as separate clients
                assert client.post(server.url + "/predict", json={"jsonData": {"hold": 0.05}}).status_code == 200

        with ThreadPoolExecutor(2 * calls) as pool:
            list(pool.map(lambda i: (via_grpc if i % 2 else via_rest)(i), range(2 * calls)))
    return server.predict({"jsonData": {"report": True}}).json()["jsonData"]["most"]


def test_default_model_sees_one_call_at_a_time(serve):
    server = serve("OverlapModel")
    assert _most_overlap(server) == 1


def test_threads_flag_lets_calls_overlap(serve):
    """The same probe sees overlap when the user asks for it: the test above can fail."""
    server = serve("OverlapModel", "--threads", "4")
    assert _most_overlap(server) > 1
