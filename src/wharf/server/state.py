"""What one worker process knows about itself: loaded yet, draining yet."""

from __future__ import annotations

import asyncio


class WorkerState:
    def __init__(self) -> None:
        self.loaded = asyncio.Event()
        self.load_error: BaseException | None = None
        self.draining = False

    @property
    def ready(self) -> bool:
        return self.loaded.is_set() and self.load_error is None and not self.draining
