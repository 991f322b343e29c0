"""Payload logging, as upstream's executor does it: requests, responses and feedback of nodes with a ``logger`` are sent
as CloudEvents (binary HTTP mode) to the node's ``logger.url`` or the default endpoint.

Logging never slows or fails a prediction: events go to a bounded queue that worker tasks drain;
when the queue is full an event is dropped and counted, and a sink that is down only costs the
workers' time.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import aiohttp

from wharf.deployment.graph import Predictor, Unit

log = logging.getLogger(__name__)

EVENT_TYPES = {
    "request": "io.seldon.serving.inference.request",
    "response": "io.seldon.serving.inference.response",
    "feedback": "io.seldon.serving.feedback",
}
# Which events each logger.mode sends; feedback counts as a response, as upstream.
MODES = {"all": {"request", "response", "feedback"}, "request": {"request"}, "response": {"response", "feedback"}}


class PayloadLogger:
    def __init__(
        self,
        predictor: Predictor,
        default_url: str,
        source: str,
        *,
        content_type: str = "application/json",
        protocol: str = "seldon",
        queue_size: int = 10000,
        workers: int = 10,
        timeout_s: float = 2.0,
    ) -> None:
        self.predictor = predictor
        self.default_url = default_url
        self.source = source
        self.content_type = content_type
        self.protocol = protocol  # the ``protocol`` extension: the orchestrator's --protocol, as upstream
        self.dropped = 0
        self._queue: asyncio.Queue[tuple[str, dict[str, str], bytes]] = asyncio.Queue(queue_size)
        self._workers_n = workers
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._tasks: list[asyncio.Task] = []
        self._session: aiohttp.ClientSession | None = None

    @staticmethod
    def wants(unit: Unit, kind: str) -> bool:
        return unit.logger is not None and kind in MODES[unit.logger.mode]

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self._workers_n)]

    async def close(self, drain_s: float = 2.0) -> None:
        try:
            await asyncio.wait_for(self._queue.join(), drain_s)
        except TimeoutError:
            log.warning("payload logger: %d events not sent at shutdown", self._queue.qsize())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def log(self, unit: Unit, kind: str, body: bytes, puid: str, content_type: str | None = None) -> None:
        """``content_type``: the body's, when not the logger's default (a gRPC walk's protobuf)."""
        assert unit.logger is not None
        headers = {
            "Content-Type": content_type or self.content_type,
            "Ce-Specversion": "1.0",
            "Ce-Id": str(uuid.uuid4()),
            "Ce-Type": EVENT_TYPES[kind],
            "Ce-Source": self.source,
            "Ce-Modelid": unit.name,
            "Ce-Requestid": puid,
            "Ce-Inferenceservicename": self.predictor.deployment,
            "Ce-Namespace": self.predictor.namespace,
            "Ce-Endpoint": self.predictor.name,
            "Ce-Protocol": self.protocol,
        }
        try:
            self._queue.put_nowait((unit.logger.url or self.default_url, headers, body))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped in (1, 100, 10000):
                log.warning("payload logger queue full: %d events dropped so far", self.dropped)

    async def _worker(self) -> None:
        assert self._session is not None
        while True:
            url, headers, body = await self._queue.get()
            try:
                async with self._session.post(url, data=body, headers=headers) as resp:
                    if resp.status >= 300:
                        log.debug("payload logger: %s answered %d", url, resp.status)
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.debug("payload logger: %s unreachable: %s", url, exc)
            finally:
                self._queue.task_done()
