"""Helpers for the Kafka tests: the predictor specs, the orchestrator process, and synchronous
produce/consume calls (aiokafka under ``asyncio.run``)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wharf.local.process import RunningServer


def chain(nodes: dict[str, RunningServer], *names: str, transport: str = "REST") -> dict[str, Any]:
    """A PredictorSpec whose graph is the MODEL chain names[0] -> names[1] -> ..."""
    graph: dict[str, Any] | None = None
    for name in reversed(names):
        node = nodes[name]
        unit = {
            "name": name,
            "type": "MODEL",
            "endpoint": {
                "service_host": "127.0.0.1",
                "httpPort": node.http_port,
                "grpcPort": node.grpc_port,
                "type": transport,
            },
        }
        if graph is not None:
            unit["children"] = [graph]
        graph = unit
    return {"name": "main", "graph": graph, "componentSpecs": []}


@dataclass
class Orchestrator:
    proc: subprocess.Popen
    http_port: int
    log_path: Path
    sdep: str
    input_topic: str
    output_topic: str
    extra: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> int:
        for proc in [self.proc, *self.extra]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [self.proc, *self.extra]:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return self.proc.returncode


def orchestrator_command(spec: Path, http_port: int, grpc_port: int, sdep: str, *flags: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "wharf.cli",
        "orchestrator",
        "--file",
        str(spec),
        "--host",
        "127.0.0.1",
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
        "--sdep",
        sdep,
        "--namespace",
        "test",
        "--server_type",
        "kafka",
        *flags,
    ]


# --- synchronous Kafka helpers (aiokafka under asyncio.run) ---------------------------------------


def create_topics(bootstrap: str, topics: list[str], partitions: int = 1) -> None:
    async def go() -> None:
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
        finally:
            await admin.close()

    asyncio.run(go())


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]) -> None:
    """Send (key, value, headers) messages in order and wait until the broker has them."""

    async def go() -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for key, value, headers in messages:
                await producer.send_and_wait(topic, value, key=key, headers=headers)
        finally:
            await producer.stop()

    asyncio.run(go())


@dataclass
class Record:
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    offset: int

    def json(self) -> Any:
        return json.loads(self.value)


def consume(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[Record]:
    """Read ``count`` messages from the start of ``topic`` (no consumer group), or fail after ``timeout``."""

    async def go() -> list[Record]:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        got: list[Record] = []
        try:

            async def read() -> None:
                async for rec in consumer:
                    got.append(Record(rec.key, rec.value, {k.lower(): v.decode() for k, v in rec.headers}, rec.offset))
                    if len(got) >= count:
                        return

            await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            pass
        finally:
            await consumer.stop()
        return got

    records = asyncio.run(go())
    assert len(records) >= count, (
        f"expected {count} messages on {topic!r} within {timeout} s, got {len(records)}: {records}"
    )
    return records


def committed(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    async def go() -> dict[tuple[str, int], int]:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}

    return asyncio.run(go())
