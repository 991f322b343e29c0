"""What a build prints while it runs: a line per Dockerfile step and per Wharf stage, each with the
time since the build began; the engine's raw output only when asked (``--verbose``).

A cold Java build streams over a thousand engine lines; what a user needs to see is which stage it
is in and how long it has taken. Builders pass every line to one ``progress`` callable; Wharf's own
messages are :class:`Note` so that the reporter always shows them.
"""

from __future__ import annotations

import re
import time
from typing import Any

# A Dockerfile step as the engine announces it (the engine module keeps the last one for its errors)
STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


class Note(str):
    """A message of Wharf's own (a stage, a warning about the model folder), as opposed to a line of
    the engine's build output. It is a ``str``, so ``print`` remains a valid progress callable."""


class BuildProgress:
    """The ``progress`` callable for builders: condensed by default, everything with ``verbose``."""

    def __init__(self, verbose: bool = False, console: Any = None, clock: Any = time.monotonic):
        self.verbose = verbose
        if console is None:
            from rich.console import Console  # the build extra's; Note alone must import without it

            console = Console(highlight=False, soft_wrap=True)
        self.console = console
        self._clock = clock
        self.started = clock()
        self.raw_lines: list[str] = []

    def elapsed(self) -> float:
        return self._clock() - self.started

    def __call__(self, line: str) -> None:
        if isinstance(line, Note):
            self._say(str(line))
            return
        self.raw_lines.append(line)
        step = STEP.match(line)
        if step:
            number, total, instruction = step.groups()
            self._say(f"step {number}/{total}: {_shorten(instruction)}")
        elif self.verbose:
            self.console.print(line, markup=False, highlight=False)

    def _say(self, text: str) -> None:
        self.console.print(f"[{self.elapsed():6.1f}s] {text}", markup=False, highlight=False)


def _shorten(instruction: str, width: int = 100) -> str:
    """One line per step: a long RUN is cut, and says so."""
    flat = " ".join(instruction.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
