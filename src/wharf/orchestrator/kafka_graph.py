"""``--kafka_full_graph``: every call from the orchestrator to a graph node goes through Kafka too.

The orchestrator produces a node call to the node's request topic ``<node>.<predictor>.<deployment>.<namespace>``
with headers ``Seldon-Puid``, ``topic-response`` (where to answer) and ``seldon-method`` (the path the
walk would have called: ``/predict``, ``/transform-input``, ``/route``, ``/aggregate``, ...), and waits
for the answer on its own reply topic ``<hostname>.<node>.<predictor>.<deployment>.<namespace>``. Beside
each node runs a proxy (``python -m wharf.orchestrator.kafka_graph --node NAME ...``, upstream's
``executor/cmd/proxy``) that consumes the request topic, calls its node over REST or gRPC, and produces
the answer with ``Seldon-Puid`` and ``seldon-status`` (the node's status; upstream's proxy sends
nothing on an error, so the walk waited forever: here the walk gets the node's error).

Topic names and headers are upstream's, so the graph semantics stay the walker's own: only the
transport under it changes (:class:`KafkaNodeTransport` has the walker's ``post``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import signal
import sys
from collections.abc import Iterable
from typing import Any

from wharf.deployment.graph import Predictor, Unit
from wharf.orchestrator.kafka import PUID_HEADER, STATUS_HEADER, KafkaSettings, KafkaUnreachable, header_map, hostname
from wharf.orchestrator.walker import failure

log = logging.getLogger(__name__)

TOPIC_RESPONSE = "topic-response"
METHOD = "seldon-method"
STATUS = STATUS_HEADER
DEFAULT_CALL_TIMEOUT_S = 60.0  # a node call with no answer fails instead of holding a worker forever


def request_topic(node: str, predictor: Predictor) -> str:
    return f"{node}.{predictor.name}.{predictor.deployment}.{predictor.namespace}"


def reply_topic(host: str, node: str, predictor: Predictor) -> str:
    return f"{host}.{request_topic(node, predictor)}"


async def ensure_topics(broker: str, topics: Iterable[str]) -> None:
    """Create the graph's internal topics when missing (one partition each); a broker that refuses
    (no rights, topics made by an operator) is only logged: the topics may exist already."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=broker, client_id="wharf-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(t, num_partitions=1, replication_factor=1) for t in dict.fromkeys(topics) if t not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except Exception as exc:  # noqa: BLE001 - e.g. TopicAlreadyExists from a racing proxy
                log.warning("Kafka: could not create topics %s: %s", [t.name for t in wanted], exc)
    finally:
        await admin.close()


class KafkaNodeTransport:
    """The walker's transport over Kafka; health and metadata still go to the nodes directly."""

    def __init__(
        self, broker: str, predictor: Predictor, direct: Any, host: str | None = None, timeout_s: float | None = None
    ) -> None:
        self.broker = broker
        self.predictor = predictor
        self.direct = direct  # the REST or gRPC transport the orchestrator would have used
        self.host = host or hostname()
        self.timeout_s = timeout_s or DEFAULT_CALL_TIMEOUT_S
        self.units = [u for u in predictor.graph.walk() if u.has_server]
        self._waiting: dict[tuple[str, str], collections.deque[asyncio.Future]] = collections.defaultdict(
            collections.deque
        )
        self._producer: Any = None
        self._consumer: Any = None
        self._reader: asyncio.Task | None = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

        replies = [reply_topic(self.host, u.name, self.predictor) for u in self.units]
        await ensure_topics(self.broker, [*replies, *(request_topic(u.name, self.predictor) for u in self.units)])
        self._producer = AIOKafkaProducer(bootstrap_servers=self.broker, client_id="wharf-graph", linger_ms=0)
        await self._producer.start()
        # No consumer group: this orchestrator owns its reply topics; it reads only what comes
        # after it started (an answer to a call of an earlier process has nobody waiting for it).
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.broker,
            client_id="wharf-graph",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        await self._consumer.start()
        parts = []
        for topic in replies:
            for _ in range(50):
                partitions = self._consumer.partitions_for_topic(topic)
                if partitions:
                    break
                await self._consumer._client.force_metadata_update()  # the topic was just created
                await asyncio.sleep(0.1)
            parts += [TopicPartition(topic, p) for p in partitions or {0}]
        self._consumer.assign(parts)
        await self._consumer.seek_to_end(*parts)
        for tp in parts:
            await self._consumer.position(tp)  # resolve "end" now, before the first call is sent
        self._reader = asyncio.create_task(self._read(), name="kafka-graph-replies")

    async def _read(self) -> None:
        async for record in self._consumer:
            puid = header_map(record.headers).get(PUID_HEADER.lower(), "")
            queue = self._waiting.get((record.topic, puid))
            if not queue:
                log.warning("Kafka: answer on %s for puid %r that nobody waits for", record.topic, puid)
                continue
            future = queue.popleft()
            if not queue:
                del self._waiting[(record.topic, puid)]
            if not future.done():
                status = header_map(record.headers).get(STATUS, "200")
                future.set_result((int(status) if status.isdigit() else 500, record.value or b""))

    async def post(self, unit: Unit, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        puid = headers.get(PUID_HEADER, "")
        reply = reply_topic(self.host, unit.name, self.predictor)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting[(reply, puid)].append(future)
        try:
            await self._producer.send_and_wait(
                request_topic(unit.name, self.predictor),
                body,
                headers=[(PUID_HEADER, puid.encode()), (TOPIC_RESPONSE, reply.encode()), (METHOD, path.encode())],
            )
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except TimeoutError:
            return 504, failure(
                504, f"node {unit.name!r}: no answer on Kafka topic {reply!r} within {self.timeout_s} s"
            )
        except Exception as exc:  # noqa: BLE001 - the broker refused the request
            return 503, failure(503, f"node {unit.name!r}: could not send to Kafka: {exc}")
        finally:
            queue = self._waiting.get((reply, puid))
            if queue is not None and future in queue:
                queue.remove(future)
                if not queue:
                    del self._waiting[(reply, puid)]

    async def get(self, unit: Unit, path: str) -> tuple[int, bytes]:
        return await self.direct.get(unit, path)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()
        await self.direct.close()


async def use_kafka_for_nodes(orch: Any, settings: KafkaSettings) -> None:
    """Put a :class:`KafkaNodeTransport` under the orchestrator's walker."""
    from aiokafka.errors import KafkaError

    transport = KafkaNodeTransport(settings.broker, orch.predictor, orch.transport, timeout_s=orch.transport.timeout_s)
    try:
        await transport.start()
    except (KafkaError, OSError) as exc:
        raise KafkaUnreachable(
            f"cannot reach the Kafka broker {settings.broker!r} for the graph's topics: {exc}"
        ) from None
    orch.replace_transport(transport)


class NodeProxy:
    """Serves one node's request topic: each message is a call to the node, answered on its reply topic."""

    def __init__(
        self, broker: str, predictor: Predictor, node: str, direct: Any, host: str = "localhost", workers: int = 4
    ) -> None:
        units = {u.name: u for u in predictor.graph.walk()}
        if node not in units:
            raise ValueError(f"--node: no node {node!r} in predictor {predictor.name!r} (nodes: {', '.join(units)})")
        self.unit = units[node]
        self.broker, self.predictor, self.direct, self.host = broker, predictor, direct, host
        self.topic = request_topic(node, predictor)
        self._slots = asyncio.Semaphore(workers)
        self._consumer: Any = None
        self._producer: Any = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        await ensure_topics(self.broker, [self.topic])
        await self.direct.start()
        self._producer = AIOKafkaProducer(bootstrap_servers=self.broker, client_id="wharf-node-proxy", linger_ms=0)
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.broker,
            client_id="wharf-node-proxy",
            group_id=f"{self.predictor.name}.{self.predictor.deployment}.{self.predictor.namespace}",
            auto_offset_reset="earliest",
            session_timeout_ms=6000,
            heartbeat_interval_ms=2000,
        )
        await self._consumer.start()
        log.info("Kafka node proxy for %r: consuming %r on %s", self.unit.name, self.topic, self.broker)

    async def run(self) -> None:
        tasks: set[asyncio.Task] = set()
        async for record in self._consumer:
            await self._slots.acquire()
            task = asyncio.create_task(self._call(record))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _call(self, record: Any) -> None:
        try:
            headers = header_map(record.headers)
            puid = headers.get(PUID_HEADER.lower()) or "0"
            method = headers.get(METHOD) or "/predict"
            reply = headers.get(TOPIC_RESPONSE) or reply_topic(self.host, self.unit.name, self.predictor)
            from wharf.orchestrator.transport import GRPC_METHODS

            if method not in GRPC_METHODS:
                status, body = (
                    400,
                    failure(
                        400, f"header {METHOD}: unknown method {method!r} (expected one of {', '.join(GRPC_METHODS)})"
                    ),
                )
            else:
                status, body = await self.direct.post(self.unit, method, record.value or b"", {PUID_HEADER: puid})
            await self._producer.send_and_wait(
                reply, body, headers=[(PUID_HEADER, puid.encode()), (STATUS, str(status).encode())]
            )
        except Exception:  # noqa: BLE001 - one call must not stop the proxy
            log.exception("Kafka node proxy: call at offset %d failed", record.offset)
        finally:
            self._slots.release()

    async def close(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()
        await self.direct.close()


def main(argv: list[str] | None = None) -> int:
    from wharf.deployment.graph import GraphError, load_predictor
    from wharf.orchestrator.app import calls_nodes_over_grpc
    from wharf.orchestrator.transport import GrpcTransport, RestTransport

    p = argparse.ArgumentParser(
        prog="python -m wharf.orchestrator.kafka_graph",
        description="Serve one graph node's Kafka request topic (--kafka_full_graph).",
    )
    p.add_argument("--node", "--model_name", required=True, help="the graph node this proxy calls")
    p.add_argument("--file", help="SeldonDeployment or PredictorSpec file (default: env ENGINE_PREDICTOR)")
    p.add_argument("--predictor", help="predictor name in --file")
    p.add_argument("--sdep", default=None)
    p.add_argument("--namespace", default=None)
    p.add_argument("--kafka-broker", "--kafka_broker", "--broker", default=os.environ.get("KAFKA_BROKER"))
    p.add_argument("--transport", choices=("rest", "grpc"), default=None)
    p.add_argument("--hostname", default=hostname())
    p.add_argument("--log-level", "--log_level", default=os.environ.get("SELDON_LOG_LEVEL", "INFO"))
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.kafka_broker:
        p.error("--kafka_broker / KAFKA_BROKER is required")
    try:
        predictor = load_predictor(args.file, args.predictor, os.environ)
    except GraphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import dataclasses

    predictor = dataclasses.replace(
        predictor, deployment=args.sdep or predictor.deployment, namespace=args.namespace or predictor.namespace
    )
    direct = GrpcTransport(None, 1) if calls_nodes_over_grpc(predictor, args.transport) else RestTransport(None, 1)
    try:
        proxy = NodeProxy(args.kafka_broker, predictor, args.node, direct, host=args.hostname)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]
        try:
            await proxy.start()
            await proxy.run()
        except asyncio.CancelledError:
            pass
        finally:
            await proxy.close()

    try:
        asyncio.run(serve())
    except (OSError, Exception) as exc:  # noqa: BLE001 - e.g. the broker is unreachable
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
