"""What one worker process knows about itself: loaded yet, draining yet; and the user-code lock."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import ContextManager


class WorkerState:
    def __init__(self, serialize_user_code: bool = True) -> None:
        self.loaded = asyncio.Event()  # for the event loop (REST)
        self.loaded_thread = threading.Event()  # for gRPC's server threads
        self.load_error: BaseException | None = None
        self.draining = False
        self.retiring = False  # about to drain: answers say Connection: close so clients move on
        self.served = 0  # requests answered (REST and gRPC); approximate under threads, which is enough
        # With one user thread (the default, as upstream) REST and gRPC take turns in user code.
        self.user_code: ContextManager = threading.Lock() if serialize_user_code else contextlib.nullcontext()

    def mark_loaded(self, error: BaseException | None = None) -> None:
        self.load_error = error
        self.loaded.set()
        self.loaded_thread.set()

    @property
    def ready(self) -> bool:
        return self.loaded.is_set() and self.load_error is None and not self.draining
