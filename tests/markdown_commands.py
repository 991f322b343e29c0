"""The shell commands of a Markdown page's fenced ``sh`` blocks, in order, each with the heading above it.

Used by the README walk (tests/node/test_a_readme_walk.py) and by the unit test that checks the Getting
Started page repeats the README's commands. A command is one logical line: lines ending in ``\\``
are joined, a trailing ``# comment`` is kept apart (it often tells the reader what to do with the
output), and whole-line comments are not commands (the README writes alternatives that way).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass(frozen=True)
class Command:
    section: str  # the nearest "## " heading above the block ("" before the first one)
    line: int  # 1-based line of the command's first line in the page
    text: str  # the command as a shell reads it: continuation lines joined, comment removed
    comment: str = ""  # the trailing comment, without "#"


def split_comment(line: str) -> tuple[str, str]:
    """``cmd args  # note`` -> (``cmd args``, ``note``); a ``#`` inside quotes or a word is not a comment."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1 :].strip()
    return line.rstrip(), ""


def sh_commands(path: Path) -> list[Command]:
    """Every command of the ```` ```sh ```` blocks of ``path``, in page order."""
    commands: list[Command] = []
    section, language, pending, start = "", None, "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        fence = FENCE.match(raw)
        if language is None:
            if fence:
                language = fence.group(1)
            elif raw.startswith("## "):
                section = raw[3:].strip()
            continue
        if fence and not fence.group(1):
            if pending:
                raise ValueError(f"{path.name}:{start}: a command ends its block with a line continuation")
            language = None
            continue
        if language != "sh":
            continue
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1].rstrip() + " "
            continue
        text, comment = split_comment(pending + raw.strip())
        pending = ""
        if text:
            commands.append(Command(section, start, text, comment))
    if language is not None:
        raise ValueError(f"{path.name}: a fenced block is never closed")
    return commands
