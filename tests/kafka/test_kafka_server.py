"""``--server_type kafka`` end to end: a real Kafka broker, real component servers and the real
orchestrator process; requests are produced to the input topic, answers read from the output topic."""

from __future__ import annotations

import json
import urllib.request

import pytest
from kafka_support import chain, committed, consume, produce

from wharf.protocol.pb import prediction_pb2 as pb

pytestmark = pytest.mark.kafka

JSON_HEADERS = [("content-type", b"application/json")]


def request(*values: float) -> bytes:
    return json.dumps({"data": {"ndarray": [list(values)]}}).encode()


def test_chain_answer_keeps_key_and_puid_and_http_stays_up(kafka, nodes, orchestrate) -> None:
    orch = orchestrate(chain(nodes, "ten", "hundred"))
    produce(kafka.bootstrap, orch.input_topic, [(b"order-1", request(1.0, 2.0), [("Seldon-Puid", b"puid-1")])])
    [answer] = consume(kafka.bootstrap, orch.output_topic, 1)
    body = answer.json()
    assert body["data"]["ndarray"] == [[111.0, 112.0]], orch.log()  # +10 then +100: a 2-node chain
    assert body["meta"]["puid"] == "puid-1" and answer.headers["seldon-puid"] == "puid-1"
    assert set(body["meta"]["requestPath"]) == {"ten", "hundred"}
    assert body["meta"]["tags"] == {"seen_by_10": True, "seen_by_100": True}
    assert answer.key == b"order-1"
    assert answer.headers["content-type"] == "application/json" and answer.headers["seldon-status"] == "200"
    # the executor keeps its HTTP server in kafka mode: probes and direct requests still work
    with urllib.request.urlopen(f"{orch.url}/live", timeout=5) as resp:
        assert resp.status == 200
    direct = urllib.request.Request(
        f"{orch.url}/api/v1.0/predictions", data=request(5.0), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(direct, timeout=10) as resp:
        assert json.loads(resp.read())["data"]["ndarray"] == [[115.0]]
    assert orch.stop() == 0, orch.log()  # SIGTERM: consumer, producer and servers close cleanly


def test_without_a_puid_one_is_made_and_sent_back(kafka, nodes, orchestrate) -> None:
    orch = orchestrate(chain(nodes, "ten"))
    produce(kafka.bootstrap, orch.input_topic, [(None, request(0.0), [])])
    [answer] = consume(kafka.bootstrap, orch.output_topic, 1)
    puid = answer.json()["meta"]["puid"]
    assert len(puid) == 36 and puid == answer.headers["seldon-puid"]  # a UUID, in body and header


def test_bad_messages_get_error_answers_and_the_consumer_goes_on(kafka, nodes, orchestrate) -> None:
    orch = orchestrate(chain(nodes, "ten"), "--kafka_workers", "1")  # one worker: answers in request order
    produce(
        kafka.bootstrap,
        orch.input_topic,
        [
            (b"bad-json", b"{not json", JSON_HEADERS),
            (b"bad-type", b"[1, 2]", JSON_HEADERS),
            (b"bad-proto", b"\xff\xff\xff", [("proto-name", b"seldon.protos.SeldonMessage")]),
            (b"wrong-proto", b"", [("proto-name", b"tensorflow.serving.PredictRequest")]),
            (b"good", request(1.0), JSON_HEADERS),
        ],
    )
    answers = {a.key: a for a in consume(kafka.bootstrap, orch.output_topic, 5)}
    assert orch.proc.poll() is None, orch.log()  # still consuming
    for key, words in (
        (b"bad-json", "not JSON"),
        (b"bad-type", "expected an object"),
        (b"wrong-proto", "only seldon.protos.SeldonMessage"),
    ):
        status = answers[key].json()["status"]
        assert status["status"] == "FAILURE" and status["code"] == 400 and words in status["info"], status
        assert answers[key].headers["seldon-status"] == "400"
    bad_proto = pb.SeldonMessage.FromString(answers[b"bad-proto"].value)  # answered in the request's encoding
    assert bad_proto.status.status == pb.Status.FAILURE and "not a protobuf" in bad_proto.status.info
    assert answers[b"good"].json()["data"]["ndarray"] == [[11.0]]


def test_a_failing_node_gives_its_error_on_the_output_topic(kafka, nodes, orchestrate) -> None:
    orch = orchestrate(chain(nodes, "ten", "broken"))
    produce(kafka.bootstrap, orch.input_topic, [(b"k", request(1.0), []), (b"k2", request(2.0), [])])
    answers = consume(kafka.bootstrap, orch.output_topic, 2)
    for answer in answers:
        status = answer.json()["status"]  # the node's own error body, as a REST client would get it
        assert (
            status["reason"] == "MODEL_SAYS_NO"
            and status["info"] == "the model refuses this input: from graph node 'broken'"
        ), status
        assert answer.headers["seldon-status"] == "422"  # and the node's HTTP status


def test_protobuf_messages_over_a_grpc_graph(kafka, nodes, orchestrate) -> None:
    orch = orchestrate(chain(nodes, "ten", "hundred", transport="GRPC"))
    message = pb.SeldonMessage()
    message.data.tensor.shape.extend([1, 2])
    message.data.tensor.values.extend([1.0, 2.0])
    # gRPC transport: protobuf is the default encoding, no header needed
    produce(
        kafka.bootstrap,
        orch.input_topic,
        [(b"p", message.SerializeToString(), [("Seldon-Puid", b"pp")]), (b"j", request(3.0), JSON_HEADERS)],
    )
    answers = {a.key: a for a in consume(kafka.bootstrap, orch.output_topic, 2)}
    reply = pb.SeldonMessage.FromString(answers[b"p"].value)
    assert list(reply.data.tensor.values) == [111.0, 112.0] and reply.meta.puid == "pp"
    assert answers[b"p"].headers["proto-name"] == "seldon.protos.SeldonMessage"
    assert answers[b"j"].json()["data"]["ndarray"] == [[113.0]]  # JSON in, JSON out, on a gRPC graph


def test_manual_commit_commits_only_answered_offsets(kafka, nodes, orchestrate) -> None:
    orch = orchestrate(chain(nodes, "ten"), "--kafka_auto_commit", "false", "--kafka_workers", "3")
    produce(kafka.bootstrap, orch.input_topic, [(str(i).encode(), request(float(i)), []) for i in range(6)])
    answers = consume(kafka.bootstrap, orch.output_topic, 6)
    assert sorted(a.json()["data"]["ndarray"][0][0] for a in answers) == [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        offsets = committed(kafka.bootstrap, f"main.{orch.sdep}.test")  # <predictor>.<sdep>.<namespace>
        if offsets.get((orch.input_topic, 0)) == 6:
            break
        time.sleep(0.2)
    assert offsets == {(orch.input_topic, 0): 6}, orch.log()


def test_full_graph_calls_every_node_through_kafka(kafka, nodes, orchestrate) -> None:
    orch = orchestrate(chain(nodes, "ten", "hundred"), "--kafka_full_graph", proxies=("ten", "hundred"))
    produce(kafka.bootstrap, orch.input_topic, [(b"f", request(1.0), [("Seldon-Puid", b"full-1")])])
    [answer] = consume(kafka.bootstrap, orch.output_topic, 1, timeout=60)
    assert answer.json()["data"]["ndarray"] == [[111.0]], orch.log()
    # each node was called through its own request topic, with upstream's headers
    for node in ("ten", "hundred"):
        [call] = consume(kafka.bootstrap, f"{node}.main.{orch.sdep}.test", 1)
        assert call.headers["seldon-method"] == "/predict" and call.headers["seldon-puid"] == "full-1"
        assert call.headers["topic-response"] == f"localhost.{node}.main.{orch.sdep}.test"
    [reply] = consume(kafka.bootstrap, f"localhost.hundred.main.{orch.sdep}.test", 1)
    assert reply.headers["seldon-status"] == "200" and json.loads(reply.value)["data"]["ndarray"] == [[111.0]]
