"""The entry point behind ``invoke build``: pick the language, call its builder, report."""

from __future__ import annotations

import contextlib
import importlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LANGUAGES = ("python", "java")


def detect_language(names: set[str]) -> str:
    """``pom.xml`` means a Java (Maven) model; anything else is built as Python."""
    return "java" if "pom.xml" in names else "python"


class SourceError(ValueError):
    """The source could not be fetched or the folder in it does not exist."""

    def __init__(self, problem: str):
        self.problems = [problem]
        super().__init__(problem)


def is_git_url(source: str) -> bool:
    return "://" in source or source.startswith("git@") or source.endswith(".git")


@contextlib.contextmanager
def checkout(url: str, ref: str | None) -> Iterator[Path]:
    """A throwaway clone of ``url`` at ``ref`` (as ``s2i build <url> --ref``); removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="wharf-src-") as tmp:
        clone = subprocess.run(["git", "clone", "--quiet", url, tmp], capture_output=True, text=True, timeout=600)
        if clone.returncode != 0:
            raise SourceError(f"--source {url}: git clone failed: {clone.stderr.strip()}")
        if ref:
            switch = subprocess.run(
                ["git", "-C", tmp, "-c", "advice.detachedHead=false", "checkout", "--quiet", ref],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if switch.returncode != 0:
                raise SourceError(f"--ref {ref}: not in {url}: {switch.stderr.strip()}")
        yield Path(tmp)


def build(
    source: str | Path, image: str, lang: str | None = None, context_dir: str = "", ref: str = "", **options: Any
) -> Any:
    """Build ``image`` from a model folder, or from a git repository (``context_dir`` inside it, at
    ``ref``) the way ``s2i build <url> --context-dir --ref`` does; with ``dockerfile``, from that
    Dockerfile in the folder (OpenShift's Docker strategy)."""
    if is_git_url(str(source)):
        with checkout(str(source), ref or None) as tree:
            return _build_folder(tree / context_dir, image, lang, f"--context-dir {context_dir}", **options)
    if ref:
        raise SourceError(f"--ref {ref}: only for a git --source (got the folder {source})")
    return _build_folder(Path(source) / context_dir, image, lang, "--source", **options)


def _build_folder(folder: Path, image: str, lang: str | None, named: str, dockerfile: str = "", **options: Any) -> Any:
    if not folder.is_dir():
        raise SourceError(f"{named} {folder}: not a directory")
    if dockerfile:  # the Docker strategy: the folder's own Dockerfile, whatever the language
        from wharf.build.dockerstrategy import build_from_dockerfile

        return build_from_dockerfile(folder, image, dockerfile, **options)
    lang = lang or detect_language({p.name for p in folder.iterdir()})
    if lang not in LANGUAGES:
        raise ValueError(f"--lang {lang!r}: expected one of {', '.join(LANGUAGES)}")
    # Imported lazily: each language's builder has its own (heavier) imports.
    module = importlib.import_module(f"wharf.build.{'model' if lang == 'python' else 'java'}")
    return module.build_model(folder, image, **options)
