"""invoke build's progress lines: what is shown by default and with --verbose (a recorded console,
a clock the test moves)."""

from __future__ import annotations

import io

from rich.console import Console

from wharf.build.progress import BuildProgress, Note

ENGINE = [
    "Step 1/3 : FROM wharf/python-builder:0.1.0-py3.12",
    " ---> 1a2b3c4d5e6f",
    "Step 2/3 : RUN pip install --no-cache-dir -r requirements.txt " + "x" * 200,
    "Collecting numpy",
    "Successfully installed numpy-2.1.0",
    "Step 3/3 : USER 1001",
    "Successfully built 0f0e0d0c0b0a",
]


def shown(verbose: bool) -> list[str]:
    out = io.StringIO()
    now = [100.0]
    progress = BuildProgress(verbose=verbose, console=Console(file=out, width=200), clock=lambda: now[0])
    progress(Note("building x:1 from /src"))
    for line in ENGINE:
        now[0] += 1.5
        progress(line)
    progress(Note("smoke test: starting the image as 1001:0 (MODEL)"))
    assert progress.raw_lines == ENGINE  # kept for the failure report either way
    return out.getvalue().splitlines()


def test_default_shows_stages_and_steps_with_elapsed_time_only() -> None:
    lines = shown(verbose=False)
    assert lines[0] == "[   0.0s] building x:1 from /src"
    assert lines[1] == "[   1.5s] step 1/3: FROM wharf/python-builder:0.1.0-py3.12"
    assert lines[2].startswith("[   4.5s] step 2/3: RUN pip install --no-cache-dir -r requirements.txt xxx")
    assert lines[2].endswith("…") and len(lines[2].split("] ", 1)[1]) == len("step 2/3: ") + 100
    assert lines[3:] == ["[   9.0s] step 3/3: USER 1001", "[  10.5s] smoke test: starting the image as 1001:0 (MODEL)"]


def test_verbose_adds_every_engine_line_in_order() -> None:
    lines = shown(verbose=True)
    assert "Collecting numpy" in lines and "Successfully built 0f0e0d0c0b0a" in lines
    assert (
        lines.index(" ---> 1a2b3c4d5e6f")
        == lines.index("[   1.5s] step 1/3: FROM wharf/python-builder:0.1.0-py3.12") + 1
    )


def test_a_note_is_still_a_string_for_plain_print() -> None:
    assert Note("a") == "a" and isinstance(Note("a"), str)
