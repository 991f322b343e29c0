"""``--server_type kafka``: the orchestrator also consumes SeldonMessages from a Kafka topic, walks
the graph for each one and produces the answer to another topic, with upstream executor's Kafka flags.

As upstream's executor, the REST and gRPC servers keep running beside the consumer (health probes,
metrics, and direct requests still work). What a message carries:

- value: a SeldonMessage, JSON when the nodes are called over REST and protobuf over gRPC (the
  executor's rule), unless the message says otherwise with a ``content-type`` header
  (``application/json`` or ``application/x-protobuf``) or a ``proto-name`` header
  (``seldon.protos.SeldonMessage``). The answer is encoded like the request.
- headers: ``Seldon-Puid`` is kept (a UUID is made when absent) and ``Seldon-Skip-Logging`` is
  honoured; the answer carries ``Seldon-Puid``, ``content-type``, ``seldon-status`` (200, or the
  status the failing node or check gave) and, for protobuf, ``proto-name``. The key is copied from the request, so answers can be joined to requests.
- a message that cannot be decoded, or whose walk fails, gets an error SeldonMessage
  (``status.status = FAILURE``, ``status.code``, ``status.info``) on the output topic, and the
  consumer goes on with the next one. (Upstream only logs such a message and drops it, leaving the
  producer of the request waiting for an answer that never comes.)

Consumer group ``<predictor>.<deployment>.<namespace>``, reading from the earliest offset when the
group has none. With ``--kafka_auto_commit=false`` an offset is committed only once its answer is
on the output topic, and never past a message still in flight (at-least-once).

The pure parts (settings, payload decoding and encoding, the offset ledger) are plain functions
and classes; :class:`KafkaServer` wires them to aiokafka and to the orchestrator's walker.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from wharf.orchestrator.walker import GraphCallError, failure
from wharf.protocol.pb import prediction_pb2 as pb

log = logging.getLogger(__name__)

ENV_BROKER, ENV_INPUT, ENV_OUTPUT = "KAFKA_BROKER", "KAFKA_INPUT_TOPIC", "KAFKA_OUTPUT_TOPIC"
ENV_FULL_GRAPH, ENV_WORKERS, ENV_AUTO_COMMIT = "KAFKA_FULL_GRAPH", "KAFKA_WORKERS", "KAFKA_AUTO_COMMIT"
PUID_HEADER = "Seldon-Puid"
PROTO_NAME_HEADER = "proto-name"
STATUS_HEADER = "seldon-status"  # the HTTP status the same request would have had (200, or the error's)
SELDON_MESSAGE = "seldon.protos.SeldonMessage"
JSON, PROTO = "application/json", "application/x-protobuf"
GRAPH_READY_POLL_S = 2.0


class KafkaConfigError(ValueError):
    """A Kafka setting is missing or malformed; the message names the flag and the variable."""


class KafkaUnreachable(ConnectionError):
    """The broker did not answer at start-up."""


# --- settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KafkaSettings:
    broker: str
    input_topic: str
    output_topic: str
    full_graph: bool = False
    workers: int = 4
    auto_commit: bool = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The executor's Kafka flags as upstream names them; unset flags fall back to the KAFKA_* variables."""
    parser.add_argument(
        "--server-type",
        "--server_type",
        choices=("rpc", "kafka"),
        default="rpc",
        help="kafka: also consume requests from a Kafka topic",
    )
    parser.add_argument("--kafka-broker", "--kafka_broker", help="host:port [env KAFKA_BROKER]")
    parser.add_argument("--kafka-input-topic", "--kafka_input_topic", help="[env KAFKA_INPUT_TOPIC]")
    parser.add_argument("--kafka-output-topic", "--kafka_output_topic", help="[env KAFKA_OUTPUT_TOPIC]")
    parser.add_argument(
        "--kafka-full-graph",
        "--kafka_full_graph",
        nargs="?",
        const="true",
        default=None,
        help="call every node through Kafka topics too (default false) [env KAFKA_FULL_GRAPH]",
    )
    parser.add_argument(
        "--kafka-workers",
        "--kafka_workers",
        default=None,
        help="messages walked at once (default 4) [env KAFKA_WORKERS]",
    )
    parser.add_argument(
        "--kafka-auto-commit",
        "--kafka_auto_commit",
        nargs="?",
        const="true",
        default=None,
        help="commit offsets as read (default true); false: after the answer is sent [env KAFKA_AUTO_COMMIT]",
    )


def parse_bool(raw: str, what: str) -> bool:
    """Go's strconv.ParseBool spellings, as the executor reads these variables."""
    value = raw.strip()
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise KafkaConfigError(f"{what}: expected true or false, got {raw!r}")


def settings_from(flags: Mapping[str, Any], env: Mapping[str, str]) -> KafkaSettings:
    """Flags win over the environment; every error names both the flag and the variable."""

    def pick(flag: str, var: str) -> str | None:
        value = flags.get(flag)
        if value in (None, ""):
            value = env.get(var)
        return value if value not in (None, "") else None

    required = {}
    missing = []
    for flag, var in (
        ("kafka_broker", ENV_BROKER),
        ("kafka_input_topic", ENV_INPUT),
        ("kafka_output_topic", ENV_OUTPUT),
    ):
        value = pick(flag, var)
        if value is None:
            missing.append(f"--{flag} / {var}")
        required[flag] = value
    if missing:
        raise KafkaConfigError(f"server type kafka needs {', '.join(missing)} (flag or environment variable)")
    full = pick("kafka_full_graph", ENV_FULL_GRAPH)
    auto = pick("kafka_auto_commit", ENV_AUTO_COMMIT)
    workers_raw = pick("kafka_workers", ENV_WORKERS)
    try:
        workers = int(workers_raw) if workers_raw is not None else 4
    except ValueError:
        raise KafkaConfigError(
            f"--kafka_workers / {ENV_WORKERS}: expected a whole number, got {workers_raw!r}"
        ) from None
    if workers < 1:
        raise KafkaConfigError(f"--kafka_workers / {ENV_WORKERS}: must be at least 1, got {workers}")
    if required["kafka_input_topic"] == required["kafka_output_topic"]:
        raise KafkaConfigError(
            f"--kafka_input_topic / {ENV_INPUT} and --kafka_output_topic / {ENV_OUTPUT} are both "
            f"{required['kafka_input_topic']!r}: answers would be read back as requests"
        )
    return KafkaSettings(
        broker=required["kafka_broker"],
        input_topic=required["kafka_input_topic"],
        output_topic=required["kafka_output_topic"],
        full_graph=parse_bool(full, f"--kafka_full_graph / {ENV_FULL_GRAPH}") if full is not None else False,
        workers=workers,
        auto_commit=parse_bool(auto, f"--kafka_auto_commit / {ENV_AUTO_COMMIT}") if auto is not None else True,
    )


def group_id(predictor: str, deployment: str, namespace: str) -> str:
    return f"{predictor}.{deployment}.{namespace}"


# --- payloads ------------------------------------------------------------------------------------


def header_map(headers: Iterable[tuple[str, bytes]] | None) -> dict[str, str]:
    """Kafka headers by lower-cased name (the last value wins), decoded as UTF-8."""
    return {k.lower(): (v or b"").decode("utf-8", "replace") for k, v in headers or ()}


def request_encoding(headers: Mapping[str, str], default: str) -> str:
    """JSON or PROTO: what the message says it is, else the transport's encoding (``default``)."""
    proto_name = headers.get(PROTO_NAME_HEADER)
    if proto_name:
        if proto_name != SELDON_MESSAGE:
            raise ValueError(f"header {PROTO_NAME_HEADER}: only {SELDON_MESSAGE} is served, got {proto_name!r}")
        return PROTO
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not content_type:
        return default
    if content_type == JSON or content_type.endswith("+json"):
        return JSON
    if content_type in (PROTO, "application/protobuf", "application/octet-stream"):
        return PROTO
    raise ValueError(f"header content-type: expected {JSON} or {PROTO}, got {content_type!r}")


def decode(value: bytes | None, encoding: str, wire: Any) -> bytes:
    """The message value as the walker's wire carries it (JSON for REST nodes, protobuf for gRPC)."""
    if not value:
        raise ValueError("the message has no value (expected a SeldonMessage)")
    if encoding == JSON:
        try:
            message = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"the message value is not JSON: {exc}") from None
        if not isinstance(message, dict):
            raise ValueError(
                f"the message value is JSON {type(message).__name__}, expected an object (a SeldonMessage)"
            )
        return wire.from_json(value) if wire.name == "grpc" else value
    message = pb.SeldonMessage()
    try:
        message.ParseFromString(value)
    except DecodeError as exc:
        raise ValueError(f"the message value is not a protobuf {SELDON_MESSAGE}: {exc}") from None
    return value if wire.name == "grpc" else json_format.MessageToJson(message, indent=None).encode()


def encode(answer: bytes, encoding: str, wire: Any) -> bytes:
    """The walker's answer in the request's encoding."""
    if encoding == JSON:
        return wire.to_json(answer)
    if wire.name == "grpc":
        return answer
    return json_format.Parse(answer, pb.SeldonMessage(), ignore_unknown_fields=True).SerializeToString()


def error_value(status: int, body: bytes, encoding: str) -> bytes:
    """An error as a SeldonMessage whose status says FAILURE; a body that is not the upstream error
    shape (say, an HTML page from a proxy) is wrapped in one."""
    try:
        message = orjson.loads(body)
        if not isinstance(message, dict) or not isinstance(message.get("status"), dict):
            raise ValueError
    except (orjson.JSONDecodeError, ValueError):
        message = orjson.loads(failure(status, body.decode("utf-8", "replace")[:2000]))
    if encoding == JSON:
        return orjson.dumps(message)
    return json_format.ParseDict(message, pb.SeldonMessage(), ignore_unknown_fields=True).SerializeToString()


def answer_headers(puid: str, encoding: str, status: int = 200) -> list[tuple[str, bytes]]:
    headers = [(PUID_HEADER, puid.encode()), ("content-type", encoding.encode()), (STATUS_HEADER, str(status).encode())]
    if encoding == PROTO:
        headers.append((PROTO_NAME_HEADER, SELDON_MESSAGE.encode()))
    return headers


# --- offsets when auto commit is off ----------------------------------------------------------------


class OffsetLedger:
    """Which offsets of each partition are safe to commit while several workers finish out of order.

    ``finished`` returns the offset to commit (the next one to read) when it moved: past every
    finished message with no message still in flight before it.
    """

    def __init__(self) -> None:
        self._in_flight: dict[Any, set[int]] = {}
        self._done: dict[Any, set[int]] = {}
        self._committed: dict[Any, int] = {}

    def started(self, partition: Any, offset: int) -> None:
        self._in_flight.setdefault(partition, set()).add(offset)

    def finished(self, partition: Any, offset: int) -> int | None:
        self._in_flight.get(partition, set()).discard(offset)
        done = self._done.setdefault(partition, set())
        done.add(offset)
        pending = self._in_flight.get(partition) or set()
        limit = min(pending) if pending else None
        ready = [o for o in done if limit is None or o < limit]
        if not ready:
            return None
        commit = max(ready) + 1
        done.difference_update(ready)
        if commit <= self._committed.get(partition, -1):
            return None
        self._committed[partition] = commit
        return commit


# --- the consumer loop -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one message became: the value and headers produced, and the status (200 = answered)."""

    value: bytes
    headers: list[tuple[str, bytes]]
    status: int


async def handle(orch: Any, value: bytes | None, raw_headers: Sequence[tuple[str, bytes]] | None) -> Outcome:
    """Walk the graph for one Kafka message; never raises for a bad message or a failing node."""
    headers = header_map(raw_headers)
    walk = orch.new_walk(headers.get(PUID_HEADER.lower()), headers.get("seldon-skip-logging"))
    wire = orch.wire
    native = PROTO if wire.name == "grpc" else JSON
    encoding = native
    try:
        encoding = request_encoding(headers, native)
        body = decode(value, encoding, wire)
        answer = encode(await orch.walker.predict(body, walk), encoding, wire)
        return Outcome(answer, answer_headers(walk.puid, encoding), 200)
    except GraphCallError as exc:
        status, body = exc.status, exc.body
    except ValueError as exc:  # the message is not a SeldonMessage we can carry
        status, body = 400, failure(400, f"bad Kafka message: {exc}")
    except Exception as exc:  # noqa: BLE001 - one bad message must not stop the consumer
        log.exception("Kafka message failed")
        status, body = 500, failure(500, str(exc))
    return Outcome(error_value(status, body, encoding), answer_headers(walk.puid, encoding, status), status)


class KafkaServer:
    """Consumes the input topic with ``workers`` messages in flight and produces every answer."""

    def __init__(self, orch: Any, settings: KafkaSettings, client_id: str = "wharf-orchestrator") -> None:
        self.orch = orch
        self.settings = settings
        self.client_id = client_id
        predictor = orch.predictor
        self.group = group_id(predictor.name, predictor.deployment, predictor.namespace)
        self._consumer: Any = None
        self._producer: Any = None
        self._ledger = OffsetLedger()
        self._queue: asyncio.Queue | None = None
        self._workers: list[asyncio.Task] = []
        self.handled = 0

    async def start(self, timeout_s: float = 30.0) -> None:
        """Connect the producer and the consumer; a broker that does not answer is an error naming it."""
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
        from aiokafka.errors import KafkaError

        s = self.settings
        self._producer = AIOKafkaProducer(
            bootstrap_servers=s.broker,
            client_id=self.client_id,
            request_timeout_ms=int(timeout_s * 1000),
            acks=1,
            linger_ms=0,
        )
        self._consumer = AIOKafkaConsumer(
            s.input_topic,
            bootstrap_servers=s.broker,
            client_id=self.client_id,
            group_id=self.group,
            enable_auto_commit=s.auto_commit,
            auto_offset_reset="earliest",
            session_timeout_ms=6000,
            heartbeat_interval_ms=2000,
            request_timeout_ms=int(timeout_s * 1000),
            max_poll_records=max(s.workers * 4, 16),
        )
        try:
            await asyncio.wait_for(self._producer.start(), timeout_s)
            await asyncio.wait_for(self._consumer.start(), timeout_s)
        except (TimeoutError, KafkaError, OSError) as exc:
            await self.close()
            raise KafkaUnreachable(
                f"cannot reach the Kafka broker {s.broker!r} (--kafka_broker / {ENV_BROKER}): "
                f"{exc or type(exc).__name__}"
            ) from None
        log.info(
            "Kafka: consuming %r as group %r, answering to %r on %s (%d workers, auto commit %s)",
            s.input_topic,
            self.group,
            s.output_topic,
            s.broker,
            s.workers,
            s.auto_commit,
        )

    async def run(self) -> None:
        """Wait for the graph, then consume until cancelled."""
        while True:
            ok, why = await self.orch.ready()
            if ok:
                break
            log.info("Kafka: waiting for the graph to be ready (%s)", why)
            await asyncio.sleep(GRAPH_READY_POLL_S)
        self._queue = asyncio.Queue(maxsize=self.settings.workers)
        self._workers = [
            asyncio.create_task(self._work(), name=f"kafka-worker-{i}") for i in range(self.settings.workers)
        ]
        async for record in self._consumer:
            if not self.settings.auto_commit:
                self._ledger.started(_partition(record), record.offset)
            await self._queue.put(record)  # blocks while every worker is busy: back-pressure

    async def drain(self, timeout_s: float) -> None:
        """After reading stopped: let the messages already read finish (graceful shutdown)."""
        if self._queue is not None and self._workers:
            try:
                await asyncio.wait_for(self._queue.join(), timeout_s)
            except TimeoutError:
                log.warning("Kafka: messages still in flight after %.0f s are dropped", timeout_s)

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            record = await self._queue.get()
            try:
                await self._answer(record)
            except Exception:  # noqa: BLE001 - e.g. the producer failed: log, and keep the worker
                log.exception("Kafka: could not answer the message at %s offset %d", _partition(record), record.offset)
            finally:
                self._queue.task_done()

    async def _answer(self, record: Any) -> None:
        started = time.perf_counter()
        outcome = await handle(self.orch, record.value, record.headers)
        delivery = await self._producer.send(
            self.settings.output_topic, outcome.value, key=record.key, headers=outcome.headers
        )
        if self.settings.auto_commit:
            # The offset may be committed before the answer is acknowledged anyway, so the worker
            # does not wait: aiokafka batches the answers of the messages in flight.
            delivery.add_done_callback(_report_failed_delivery)
        else:
            await delivery  # commit only what is answered
        self.handled += 1
        if outcome.status != 200:
            log.warning(
                "Kafka: message at %s offset %d answered with error %d",
                _partition(record),
                record.offset,
                outcome.status,
            )
        log.debug("Kafka: offset %d walked in %.1f ms", record.offset, (time.perf_counter() - started) * 1000)
        if not self.settings.auto_commit:
            from aiokafka import TopicPartition

            commit = self._ledger.finished(_partition(record), record.offset)
            if commit is not None:
                await self._consumer.commit({TopicPartition(record.topic, record.partition): commit})

    async def close(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        for client in (self._consumer, self._producer):
            if client is not None:
                try:
                    await client.stop()
                except Exception:  # noqa: BLE001 - closing is best effort
                    log.debug("Kafka: error while closing", exc_info=True)
        self._consumer = self._producer = None


def _report_failed_delivery(delivery: asyncio.Future) -> None:
    if not delivery.cancelled() and delivery.exception() is not None:
        log.error("Kafka: an answer could not be delivered: %s", delivery.exception())


def _partition(record: Any) -> tuple[str, int]:
    return (record.topic, record.partition)


def hostname() -> str:
    """The executor's --hostname default: POD_NAME, else localhost (names the full-graph reply topics)."""
    return os.environ.get("POD_NAME") or "localhost"
