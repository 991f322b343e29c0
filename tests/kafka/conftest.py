"""Fixtures for the Kafka server type: a real Apache Kafka broker (KRaft, jars from Maven Central via
``python -m wharf.testing.kafka_broker --fetch``), real component servers, and the real orchestrator
process in ``--server_type kafka``; plus small synchronous produce/consume helpers (aiokafka).

Every test uses its own topics and its own ``--sdep`` name (so its own consumer group).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka_support import Orchestrator, create_topics, orchestrator_command

from wharf.local.process import RunningServer, free_port, start_server, wait_http
from wharf.testing import infra
from wharf.testing import kafka_broker as kb

MODELS = Path(__file__).resolve().parents[1] / "integration" / "graph_models"


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kb.KafkaBroker]:
    """One broker for the whole session (it takes ~5 s to start)."""
    why = kb.missing()
    if why is not None:
        infra.unavailable(f"Kafka broker ({why})", kb.HOW_TO_GET)
    try:
        import aiokafka  # noqa: F401 - the kafka extra
    except ImportError:
        infra.unavailable("aiokafka", "pip install 'wharf-ml[kafka]'")
    broker = kb.KafkaBroker(tmp_path_factory.mktemp("kafka")).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningServer]]:
    """Component servers: ``ten`` (+10), ``hundred`` (+100) and ``broken`` (always fails with 422)."""
    logs = tmp_path_factory.mktemp("nodes")
    started: dict[str, RunningServer] = {}
    try:
        for name, cls, params in (
            ("ten", "Echo", [{"name": "offset", "value": "10", "type": "FLOAT"}]),
            ("hundred", "Echo", [{"name": "offset", "value": "100", "type": "FLOAT"}]),
            ("broken", "Broken", []),
        ):
            started[name] = start_server(
                MODELS,
                cls,
                env={"PREDICTIVE_UNIT_PARAMETERS": json.dumps(params), "PREDICTIVE_UNIT_ID": name},
                log_path=logs / f"{name}.log",
            )
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture
def orchestrate(kafka: kb.KafkaBroker, tmp_path: Path) -> Iterator[Any]:
    """Start the orchestrator in kafka mode on a predictor spec; topics are fresh for every call."""
    running: list[Orchestrator] = []

    def start(
        spec: dict[str, Any], *flags: str, env: dict[str, str] | None = None, proxies: tuple[str, ...] = ()
    ) -> Orchestrator:
        tag = uuid.uuid4().hex[:8]
        sdep, topic_in, topic_out = f"sdep-{tag}", f"in-{tag}", f"out-{tag}"
        create_topics(kafka.bootstrap, [topic_in, topic_out])
        path = tmp_path / f"predictor-{tag}.json"
        path.write_text(json.dumps(spec))
        http_port = free_port()
        log_path = tmp_path / f"orchestrator-{tag}.log"
        extra = []
        for node in proxies:  # --kafka_full_graph: one proxy beside each node, as upstream's executor/cmd/proxy
            with open(tmp_path / f"proxy-{node}-{tag}.log", "wb") as log:
                extra.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "wharf.orchestrator.kafka_graph",
                            "--node",
                            node,
                            "--file",
                            str(path),
                            "--sdep",
                            sdep,
                            "--namespace",
                            "test",
                            "--kafka_broker",
                            kafka.bootstrap,
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                orchestrator_command(path, http_port, free_port(), sdep, *flags),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={
                    **os.environ,
                    "PYTHONUNBUFFERED": "1",
                    "KAFKA_BROKER": kafka.bootstrap,
                    "KAFKA_INPUT_TOPIC": topic_in,
                    "KAFKA_OUTPUT_TOPIC": topic_out,
                    **(env or {}),
                },
            )
        orch = Orchestrator(proc, http_port, log_path, sdep, topic_in, topic_out, extra)
        running.append(orch)
        try:
            wait_http(f"{orch.url}/ready", 60, proc)
        except Exception as exc:
            raise AssertionError(f"orchestrator did not start: {exc}\n{orch.log()}") from None
        return orch

    yield start
    for orch in running:
        orch.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Attach the broker's log tail to a failing Kafka test."""
    outcome = yield
    report = outcome.get_result()
    broker = item.funcargs.get("kafka") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(broker, kb.KafkaBroker):
        report.sections.append(("kafka broker log", "\n".join(broker.log().splitlines()[-60:])))
