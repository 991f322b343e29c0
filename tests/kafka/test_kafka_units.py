"""The pure parts of the Kafka server type (no broker): settings from flags and environment, payload
encodings, error answers, the offset ledger behind manual commits; and the CLI's start-up errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wharf.local.process import free_port
from wharf.orchestrator.kafka import (
    JSON,
    PROTO,
    KafkaConfigError,
    KafkaSettings,
    OffsetLedger,
    decode,
    encode,
    error_value,
    group_id,
    request_encoding,
    settings_from,
)
from wharf.orchestrator.wires import JSON_WIRE, PROTO_WIRE
from wharf.protocol.pb import prediction_pb2 as pb
from wharf.testing import infra
from wharf.testing import kafka_broker as kb

ENV = {"KAFKA_BROKER": "b:9092", "KAFKA_INPUT_TOPIC": "in", "KAFKA_OUTPUT_TOPIC": "out"}


def test_settings_from_env_with_upstream_defaults() -> None:
    assert settings_from({}, ENV) == KafkaSettings("b:9092", "in", "out", full_graph=False, workers=4, auto_commit=True)


def test_flags_win_over_env_and_bools_parse_like_go() -> None:
    flags = {"kafka_broker": "f:1", "kafka_workers": "2", "kafka_full_graph": "T", "kafka_auto_commit": "0"}
    assert settings_from(flags, ENV) == KafkaSettings("f:1", "in", "out", True, 2, False)
    assert settings_from({}, {**ENV, "KAFKA_FULL_GRAPH": "true", "KAFKA_WORKERS": "8"}).workers == 8


@pytest.mark.parametrize(
    "env, words",
    [
        (
            {},
            "--kafka_broker / KAFKA_BROKER, --kafka_input_topic / KAFKA_INPUT_TOPIC, --kafka_output_topic / KAFKA_OUTPUT_TOPIC",
        ),
        ({"KAFKA_BROKER": "b", "KAFKA_INPUT_TOPIC": "in"}, "needs --kafka_output_topic / KAFKA_OUTPUT_TOPIC"),
        ({**ENV, "KAFKA_WORKERS": "many"}, "KAFKA_WORKERS: expected a whole number, got 'many'"),
        ({**ENV, "KAFKA_WORKERS": "0"}, "must be at least 1"),
        ({**ENV, "KAFKA_FULL_GRAPH": "yes"}, "KAFKA_FULL_GRAPH: expected true or false, got 'yes'"),
        ({**ENV, "KAFKA_OUTPUT_TOPIC": "in"}, "are both 'in'"),
    ],
)
def test_bad_settings_name_flag_and_variable(env: dict[str, str], words: str) -> None:
    with pytest.raises(KafkaConfigError, match=None) as err:
        settings_from({}, env)
    assert words in str(err.value)


def test_group_is_predictor_deployment_namespace() -> None:
    assert group_id("main", "iris", "models") == "main.iris.models"


def test_encoding_comes_from_headers_else_the_transport() -> None:
    assert request_encoding({}, JSON) == JSON and request_encoding({}, PROTO) == PROTO
    assert request_encoding({"content-type": "application/json; charset=utf-8"}, PROTO) == JSON
    assert request_encoding({"proto-name": "seldon.protos.SeldonMessage"}, JSON) == PROTO
    with pytest.raises(ValueError, match="content-type: expected"):
        request_encoding({"content-type": "text/csv"}, JSON)
    with pytest.raises(ValueError, match="proto-name: only seldon.protos.SeldonMessage"):
        request_encoding({"proto-name": "seldon.protos.Feedback"}, JSON)


def test_payloads_cross_between_json_and_protobuf() -> None:
    message = pb.SeldonMessage()
    message.data.tensor.shape.extend([1])
    message.data.tensor.values.extend([4.0])
    raw = message.SerializeToString()
    as_json = decode(raw, PROTO, JSON_WIRE)  # protobuf message, REST nodes
    assert json.loads(as_json)["data"]["tensor"]["values"] == [4.0]
    assert pb.SeldonMessage.FromString(encode(as_json, PROTO, JSON_WIRE)) == message  # back as the request came
    as_proto = decode(b'{"data": {"tensor": {"shape": [1], "values": [4.0]}}}', JSON, PROTO_WIRE)
    assert pb.SeldonMessage.FromString(as_proto) == message
    assert json.loads(encode(as_proto, JSON, PROTO_WIRE))["data"]["tensor"]["values"] == [4.0]
    with pytest.raises(ValueError, match="no value"):
        decode(None, JSON, JSON_WIRE)


def test_error_answers_are_failure_seldon_messages() -> None:
    node_error = json.dumps({"status": {"code": -1, "info": "no", "reason": "X", "status": 1}}).encode()
    assert json.loads(error_value(422, node_error, JSON)) == json.loads(node_error)  # kept as the node said it
    wrapped = json.loads(error_value(502, b"<html>bad gateway</html>", JSON))
    assert wrapped["status"] == {"code": 502, "info": "<html>bad gateway</html>", "status": "FAILURE"}
    proto = pb.SeldonMessage.FromString(
        error_value(400, b'{"status": {"code": 400, "info": "bad", "status": "FAILURE"}}', PROTO)
    )
    assert proto.status.code == 400 and proto.status.status == pb.Status.FAILURE and proto.status.info == "bad"


def test_ledger_commits_past_finished_messages_only() -> None:
    ledger = OffsetLedger()
    for offset in (0, 1, 2, 3):
        ledger.started("p", offset)
    assert ledger.finished("p", 1) is None  # 0 still in flight: nothing may be committed
    assert ledger.finished("p", 0) == 2  # 0 and 1 done: read on from 2
    assert ledger.finished("p", 3) is None  # 2 still in flight
    assert ledger.finished("p", 2) == 4
    ledger.started("q", 7)
    assert ledger.finished("q", 7) == 8  # partitions are independent


def _orchestrator(tmp_path: Path, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess:
    spec = tmp_path / "predictor.json"
    spec.write_text(
        json.dumps(
            {
                "name": "main",
                "graph": {
                    "name": "m",
                    "type": "MODEL",
                    "endpoint": {"service_host": "127.0.0.1", "httpPort": free_port(), "grpcPort": free_port()},
                },
            }
        )
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "wharf.cli",
            "orchestrator",
            "--file",
            str(spec),
            "--host",
            "127.0.0.1",
            "--http-port",
            str(free_port()),
            "--grpc-port",
            str(free_port()),
            "--server_type",
            "kafka",
            *flags,
        ],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_kafka_variable_is_a_startup_error_naming_it(tmp_path: Path) -> None:
    done = _orchestrator(tmp_path, {"KAFKA_BROKER": "127.0.0.1:9", "KAFKA_OUTPUT_TOPIC": "out"})
    assert done.returncode == 2
    assert "--kafka_input_topic / KAFKA_INPUT_TOPIC" in done.stderr and "KAFKA_BROKER" not in done.stderr, done.stderr


def test_unreachable_broker_is_a_clear_error(tmp_path: Path) -> None:
    try:
        import aiokafka  # noqa: F401 - the kafka extra, part of the test extra
    except ImportError:
        infra.unavailable("aiokafka", "pip install 'wharf-ml[kafka]'")
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    done = _orchestrator(tmp_path, {"KAFKA_BROKER": dead, "KAFKA_INPUT_TOPIC": "in", "KAFKA_OUTPUT_TOPIC": "out"})
    assert done.returncode == 1, done.stderr
    assert f"cannot reach the Kafka broker '{dead}' (--kafka_broker / KAFKA_BROKER)" in done.stderr, done.stderr
    assert time.monotonic() - started < 45


def test_broker_properties_bind_loopback_only(tmp_path: Path) -> None:
    text = kb.server_properties(tmp_path, 1234, 1235)
    assert "listeners=PLAINTEXT://127.0.0.1:1234,CONTROLLER://127.0.0.1:1235" in text
    assert "advertised.listeners=PLAINTEXT://127.0.0.1:1234" in text and "0.0.0.0" not in text
    assert len(kb.cluster_id()) == 22
    assert f"<artifactId>kafka_2.13</artifactId><version>{kb.KAFKA_VERSION}</version>" in kb.pom_xml()
