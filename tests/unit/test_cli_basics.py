"""The `wharf` command's basics, run as a user runs it (the installed console script)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from wharf import __version__

WHARF = str(Path(sys.executable).parent / "wharf")


def wharf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([WHARF, *args], capture_output=True, text=True, timeout=60)


def test_version_flag_prints_the_version() -> None:
    for flag in ("--version", "-V", "version"):
        ran = wharf(flag)
        assert (ran.returncode, ran.stdout.strip()) == (0, __version__), (flag, ran.stderr)


def test_an_unknown_command_is_named_on_stderr_with_exit_2() -> None:
    ran = wharf("deploy")
    assert ran.returncode == 2 and ran.stdout == ""
    assert ran.stderr.splitlines()[0].startswith("wharf: unknown command 'deploy'; choose one of: serve, test,")


def option_blocks(help_text: str) -> dict[str, str]:
    """``--flag`` -> its help paragraph, from argparse's options section."""
    section = help_text.split("options:", 1)[1]
    blocks: dict[str, str] = {}
    current = None
    for line in section.splitlines():
        found = re.match(r"\s{2}(?:-\w[ ,]\s*)?(--[\w-]+)", line)
        if found:
            current = found.group(1)
            blocks[current] = line
        elif current:
            blocks[current] += " " + line.strip()
    return blocks


def test_run_help_gives_every_option_its_default() -> None:
    ran = wharf("run", "--help")
    assert ran.returncode == 0
    blocks = option_blocks(ran.stdout)
    assert {"--predictor", "--source", "--http-port", "--grpc-port", "--docker"} <= set(blocks)
    assert [flag for flag, text in blocks.items() if flag != "--help" and "default" not in text] == []


def test_test_help_offers_external_and_external_help_shows_the_gateway_options() -> None:
    assert "--external" in option_blocks(wharf("test", "--help").stdout)
    external = option_blocks(wharf("test", "--external", "--help").stdout)
    assert {"--gateway", "--namespace"} <= set(external)
