"""The entry point behind ``invoke build``: pick the language, call its builder, report."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

LANGUAGES = ("python", "java")


def detect_language(names: set[str]) -> str:
    """``pom.xml`` means a Java (Maven) model; anything else is built as Python."""
    return "java" if "pom.xml" in names else "python"


def build(source: str | Path, image: str, lang: str | None = None, **options: Any) -> Any:
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"--source {source}: not a directory")
    lang = lang or detect_language({p.name for p in source.iterdir()})
    if lang not in LANGUAGES:
        raise ValueError(f"--lang {lang!r}: expected one of {', '.join(LANGUAGES)}")
    # Imported lazily: each language's builder has its own (heavier) imports.
    module = importlib.import_module(f"wharf.build.{'model' if lang == 'python' else 'java'}")
    return module.build_model(source, image, **options)
